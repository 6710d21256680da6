import { CsvError, parse as parseCsv } from "csv-parse";
import type { Readable } from "node:stream";
import { LogFormatError } from "@lwlog/codec";

/** Code of a bad record in an import's input. */
export const BAD_RECORD = "LWLOG_BAD_RECORD";

/**
 * A record of an import's input that cannot be used: names the line (1-based) and, where
 * it applies, the entry and the field.
 */
export class RecordError extends LogFormatError {
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(message: string, where: { file: string; line?: number; entry?: number; field?: string }) {
    const parts: string[] = [];
    if (where.line !== undefined) parts.push(`line ${where.line}`);
    if (where.entry !== undefined) parts.push(`entry ${where.entry}`);
    if (where.field !== undefined) parts.push(`field ${where.field}`);
    super(BAD_RECORD, parts.length > 0 ? `${parts.join(", ")}: ${message}` : message, { file: where.file });
    this.line = where.line;
    this.field = where.field;
  }
}

/** One record of an import's input, before validation. */
export interface InputPart {
  kind: "super" | "entry" | "end";
  /** Line where the record starts (1-based). */
  line: number;
  value: unknown;
}

/**
 * The longest record an import takes, in characters: 256 Mi, well under V8's longest string
 * (2^29 − 24), and what one JSON.parse can hold without a large heap. An entry with more than
 * about 190 MiB of data cannot be imported with `--data base64` (one write that large is rare:
 * kernel and QEMU requests are a few MiB at most).
 */
export const MAX_RECORD_CHARS = 256 * 1024 * 1024;

/** Lines of a text stream, without their `\n` / `\r\n`, with 1-based numbers. */
export async function* textLines(chunks: AsyncIterable<string>, file: string): AsyncGenerator<{ line: number; text: string }> {
  let pieces: string[] = [];
  let pending = 0;
  let line = 1;
  for await (const chunk of chunks) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf("\n", start);
      if (nl < 0) {
        if (start < chunk.length) {
          pieces.push(chunk.slice(start));
          pending += chunk.length - start;
          if (pending > MAX_RECORD_CHARS) throw tooLong(file, line);
        }
        break;
      }
      let text = chunk.slice(start, nl);
      if (pieces.length > 0) {
        if (pending + text.length > MAX_RECORD_CHARS) throw tooLong(file, line);
        pieces.push(text);
        text = pieces.join("");
        pieces = [];
        pending = 0;
      }
      yield { line, text: text.endsWith("\r") ? text.slice(0, -1) : text };
      line += 1;
      start = nl + 1;
    }
  }
  if (pieces.length > 0) yield { line, text: pieces.join("") };
}

function tooLong(file: string, line: number): RecordError {
  return new RecordError(`the record is longer than ${MAX_RECORD_CHARS} characters, more than one record can hold`, { file, line });
}

function parseJson(text: string, file: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RecordError(`not valid JSON (${(err as Error).message})`, { file, line });
  }
}

/**
 * The records of an NDJSON export: one JSON object a line; `"type"` says which record it
 * is (`super`, `entry`, `end`); an object without `type` is an entry, or the superblock
 * when it has `sectorSize` and no `kind`. Blank lines are skipped.
 */
export async function* ndjsonParts(chunks: AsyncIterable<string>, file: string): AsyncGenerator<InputPart> {
  for await (const { line, text } of textLines(chunks, file)) {
    if (text.trim() === "") continue;
    const value = parseJson(text, file, line);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new RecordError("a record must be a JSON object", { file, line });
    }
    const v = value as Record<string, unknown>;
    let kind: InputPart["kind"];
    if (v.type === "super" || (v.type === undefined && "sectorSize" in v && !("kind" in v))) kind = "super";
    else if (v.type === "end") kind = "end";
    else if (v.type === "entry" || v.type === undefined) kind = "entry";
    else throw new RecordError(`unknown record type ${JSON.stringify(v.type)} (super, entry or end)`, { file, line, field: "type" });
    yield { kind, line, value };
  }
}

/**
 * The records of a JSON export, `{"super": {…}, "entries": [ … ], "end": {…}}`, read as a
 * stream: each element of `entries` is cut out of the text and parsed on its own, so a
 * document of any size is imported in constant memory (one record at a time), whatever its
 * layout or indentation. `super` must come before `entries` (as export writes it); other
 * members are ignored.
 *
 * Invariants: `buf[pos…]` is the text not yet consumed and `line` is the line number at
 * `pos`; `buf` only grows while a value is being scanned, and is cut at `pos` between values.
 */
export async function* jsonDocumentParts(chunks: AsyncIterable<string>, file: string): AsyncGenerator<InputPart> {
  const it = chunks[Symbol.asyncIterator]();
  let buf = "";
  let pos = 0;
  let line = 1;
  let eof = false;

  const fail = (message: string, at = line): never => {
    throw new RecordError(message, { file, line: at });
  };
  const refill = async (): Promise<boolean> => {
    if (eof) return false;
    const r = await it.next();
    if (r.done) {
      eof = true;
      return false;
    }
    buf += r.value;
    return true;
  };
  const advance = (to: number): void => {
    for (let k = buf.indexOf("\n", pos); k >= 0 && k < to; k = buf.indexOf("\n", k + 1)) line += 1;
    pos = to;
  };
  const skipWs = async (): Promise<void> => {
    for (;;) {
      while (pos < buf.length) {
        const c = buf.charCodeAt(pos);
        if (c === 0x20 || c === 0x09 || c === 0x0d) pos += 1;
        else if (c === 0x0a) {
          pos += 1;
          line += 1;
        } else return;
      }
      if (!(await refill())) return;
    }
  };
  const peek = async (): Promise<string | undefined> => {
    await skipWs();
    return pos < buf.length ? buf[pos] : undefined;
  };
  const expect = async (ch: string, what: string): Promise<void> => {
    const c = await peek();
    if (c !== ch) fail(`expected ${what} but found ${c === undefined ? "the end of the input" : JSON.stringify(c)}`);
    pos += 1;
  };
  /** Cuts out the JSON value starting at `pos` (after whitespace); returns its text and first line. */
  const readValue = async (): Promise<{ text: string; line: number }> => {
    await skipWs();
    if (pos >= buf.length) fail("expected a value but found the end of the input");
    if (pos > 1 << 20) {
      // Between values: drop the consumed text (indexes into buf are only kept within a value).
      buf = buf.slice(pos);
      pos = 0;
    }
    const start = pos;
    const startLine = line;
    const first = buf[pos]!;
    let j = pos;
    if (first !== "{" && first !== "[" && first !== '"') {
      for (;;) {
        while (j < buf.length && !/[\s,\]}]/.test(buf[j]!)) j += 1;
        if (j < buf.length || !(await refill())) break;
      }
    } else {
      let depth = 0;
      let inString = false;
      const specials = /["\\]/g;
      for (;;) {
        if (j >= buf.length) {
          if (j - start > MAX_RECORD_CHARS) throw tooLong(file, startLine);
          if (!(await refill())) fail("the input ends inside a value", startLine);
          continue;
        }
        if (inString) {
          specials.lastIndex = j;
          const m = specials.exec(buf);
          if (m === null) {
            j = buf.length;
            continue;
          }
          j = m.index;
          if (buf[j] === "\\") {
            j += 2;
            continue;
          }
          inString = false;
          j += 1;
          if (depth === 0) break;
          continue;
        }
        const c = buf[j]!;
        j += 1;
        if (c === '"') inString = true;
        else if (c === "{" || c === "[") depth += 1;
        else if (c === "}" || c === "]") {
          depth -= 1;
          if (depth === 0) break;
        }
      }
    }
    const text = buf.slice(start, j);
    advance(j);
    return { text, line: startLine };
  };

  await expect("{", "a JSON object (a JSON export starts with {)");
  let sawSuper = false;
  let sawEntries = false;
  if ((await peek()) === "}") {
    pos += 1;
  } else {
    for (;;) {
      const keyText = await readValue();
      const key = parseJson(keyText.text, file, keyText.line);
      if (typeof key !== "string") fail("expected a member name", keyText.line);
      await expect(":", "a colon after a member name");
      if (key === "entries") {
        if (!sawSuper) fail('"super" must come before "entries" (as lwlog export writes it)');
        sawEntries = true;
        await expect("[", 'an array for "entries"');
        if ((await peek()) === "]") pos += 1;
        else {
          for (;;) {
            const v = await readValue();
            yield { kind: "entry", line: v.line, value: parseJson(v.text, file, v.line) };
            const c = await peek();
            pos += 1;
            if (c === "]") break;
            if (c !== ",") fail(`expected , or ] after an entry but found ${c === undefined ? "the end of the input" : JSON.stringify(c)}`);
          }
        }
      } else {
        const v = await readValue();
        if (key === "super") {
          sawSuper = true;
          yield { kind: "super", line: v.line, value: parseJson(v.text, file, v.line) };
        } else if (key === "end") {
          yield { kind: "end", line: v.line, value: parseJson(v.text, file, v.line) };
        }
      }
      const c = await peek();
      pos += 1;
      if (c === "}") break;
      if (c !== ",") fail(`expected , or } but found ${c === undefined ? "the end of the input" : JSON.stringify(c)}`);
    }
  }
  if ((await peek()) !== undefined) fail("text after the end of the JSON document");
  if (!sawEntries) fail('the document has no "entries" array');
}

/**
 * The entries of a CSV export (RFC 4180, header row naming the columns, as `export
 * --format csv` writes them), parsed with csv-parse and shaped like JSON entry records.
 * CSV has no superblock row: the caller supplies the sector size.
 */
export async function* csvParts(input: NodeJS.ReadableStream, file: string): AsyncGenerator<InputPart> {
  const parser = parseCsv({ columns: true, bom: true, info: true, skip_empty_lines: true, relax_quotes: false });
  // pipe() does not pass the input's errors on: they go to the parser, whose iteration below
  // throws them (a read error would otherwise be unhandled, and the parser wait forever).
  // The listener stays: an error after the loop was left (the input is destroyed then) goes
  // to the destroyed parser, where it is dropped.
  input.on("error", (err: unknown) => parser.destroy(err instanceof Error ? err : new Error(String(err))));
  input.pipe(parser);
  try {
    for await (const item of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      yield { kind: "entry", line: item.info.lines, value: csvRecord(item.record) };
    }
  } catch (err) {
    if (err instanceof RecordError) throw err;
    // Every error csv-parse raises about its input (codes mostly CSV_…, but INVALID_OPENING_QUOTE has no prefix).
    if (err instanceof CsvError) {
      const lines = (err as CsvError & { lines?: number }).lines;
      throw new RecordError(`not valid CSV (${err.message})`, { file, ...(lines !== undefined ? { line: lines } : {}) });
    }
    throw err;
  } finally {
    (input as Partial<Readable>).destroy?.();
  }
}

/** A CSV row as a JSON entry record: numbers where the schema wants numbers, lists split on `|`. */
function csvRecord(row: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === "" && k !== "flagNames") continue;
    switch (k) {
      case "index":
      case "offset":
        out[k] = /^[0-9]+$/.test(v) ? Number(v) : v;
        break;
      case "tail":
        out[k] = v === "true" ? true : v === "false" ? false : v;
        break;
      case "flagNames":
        out[k] = v === "" ? [] : v.split("|");
        break;
      default:
        out[k] = v;
    }
  }
  return out;
}
