import { createHash } from "node:crypto";
import { closeSync, createReadStream, fstatSync, openSync } from "node:fs";
import { Readable } from "node:stream";
import {
  ENTRY_HEADER_SIZE,
  LOG_MAGIC,
  LogWriter,
  entryDataBytes,
  entryKind,
  flagNames,
  isValidSectorSize,
  ioError,
  type EntryHeader,
} from "@lwlog/codec";
import type { z } from "zod";
import { AtomicOutput } from "./atomic.js";
import { InterruptedError } from "./export.js";
import { RecordError, csvParts, jsonDocumentParts, ndjsonParts, type InputPart } from "./input.js";
import { EndRecordSchema, EntryRecordSchema, SuperRecordSchema, type EndRecord, type EntryRecord } from "./records.js";
import { Yielder } from "./yield.js";

/** Input formats of `importLog`. */
export type ImportFormat = "json" | "ndjson" | "csv";

/** The formats `import --format` accepts. */
export const IMPORT_FORMATS: readonly ImportFormat[] = ["json", "ndjson", "csv"];

/** Options of `importLog`. */
export interface ImportOptions {
  /** The input's format (default: from the file name's extension, else from its first bytes). */
  format?: ImportFormat;
  /** Sector size of the log to build: required for CSV (which has no superblock row), checked against JSON. */
  sectorSize?: number;
  /** Replace the output when it exists (default: refuse). */
  overwrite?: boolean;
  /** Declare every entry in the superblock, tail entries included (default: `nrEntries` as recorded). */
  fixSuperblock?: boolean;
  /** Name of the input in messages (default: its path; `<stdin>` for a stream). */
  name?: string;
  /** Polled between records; when it returns true the import stops and leaves no output. */
  shouldStop?: () => boolean;
}

/** What an import built. */
export interface ImportSummary {
  format: ImportFormat;
  output: string;
  sectorSize: number;
  /** Entries written. */
  entries: number;
  /** `nr_entries` written to the superblock. */
  declared: number;
  /** Entries past the declared count. */
  tail: number;
  /** Bytes of the log written. */
  bytes: number;
  /** Things the user should know (no end record, …). */
  warnings: string[];
}

/**
 * Rebuilds a binary log from an export (NDJSON, JSON or CSV with `--data base64`), one
 * record at a time: constant memory whatever the size. Every record is validated (zod
 * schemas from the codec, then the rules of the format) and a bad one is reported with its
 * line and field. The log is written to a temporary file renamed over `output` only at the
 * end, so a failed import leaves nothing behind.
 *
 * An export of a log imports to a file identical to that log up to the end of its last
 * exported entry (superblock padding included): see docs/json.md.
 */
export async function importLog(input: string | NodeJS.ReadableStream, output: string, options: ImportOptions = {}): Promise<ImportSummary> {
  const name = options.name ?? (typeof input === "string" ? input : "<stdin>");
  let stream: NodeJS.ReadableStream;
  if (typeof input === "string") {
    let fd: number;
    try {
      fd = openSync(input, "r");
      if (fstatSync(fd).isDirectory()) {
        closeSync(fd);
        throw Object.assign(new Error("EISDIR"), { code: "EISDIR" });
      }
    } catch (err) {
      throw ioError(err, name, "open the input");
    }
    stream = createReadStream("", { fd, highWaterMark: 1 << 20 });
  } else {
    stream = input;
  }
  const text = new TextInput(stream, name);
  try {
    let format = options.format ?? (typeof input === "string" ? formatFromName(input) : undefined);
    format ??= await text.sniff();
    if (format === "csv" && options.sectorSize === undefined) {
      throw new RecordError("a CSV export has no superblock: give the sector size of the log to build (--sector-size)", { file: name });
    }
    const parts =
      format === "ndjson" ? ndjsonParts(text.chunks(), name) : format === "json" ? jsonDocumentParts(text.chunks(), name) : csvParts(Readable.from(text.chunks()), name);
    const inputs = typeof input === "string" ? [input] : input === process.stdin ? [0] : [];
    const out = AtomicOutput.prepare(output, { overwrite: options.overwrite ?? false, inputs });
    const builder = new LogBuilder(name, out.temp, format, options);
    try {
      if (format === "csv") await builder.start({ line: 0, kind: "super", value: { version: 1, nrEntries: 0, sectorSize: options.sectorSize } });
      const yielder = new Yielder();
      for await (const part of parts) {
        await builder.take(part);
        if (yielder.tick()) {
          await yielder.pause();
          if (options.shouldStop?.()) throw new InterruptedError();
        }
      }
      await yielder.pause();
      if (options.shouldStop?.()) throw new InterruptedError();
      const summary = await builder.finish();
      await out.commit();
      return { ...summary, output };
    } catch (err) {
      await builder.abandon();
      out.abort();
      throw out.named(err);
    }
  } finally {
    text.close();
  }
}

/**
 * The input as UTF-8 text chunks, from one iterator over the stream, so that the first
 * chunk can be looked at (`sniff`) and still be parsed.
 */
class TextInput {
  private readonly it: AsyncIterator<string | Uint8Array>;
  private readonly decoder = new TextDecoder("utf-8");
  private head = "";
  private done = false;

  constructor(
    private readonly stream: NodeJS.ReadableStream,
    private readonly file: string,
  ) {
    this.it = (stream as AsyncIterable<string | Uint8Array>)[Symbol.asyncIterator]();
  }

  private async pull(): Promise<string | undefined> {
    if (this.done) return undefined;
    let r: IteratorResult<string | Uint8Array>;
    try {
      r = await this.it.next();
    } catch (err) {
      throw ioError(err, this.file, "read the input");
    }
    if (r.done) {
      this.done = true;
      const last = this.decoder.decode();
      return last.length > 0 ? last : undefined;
    }
    return typeof r.value === "string" ? r.value : this.decoder.decode(r.value, { stream: true });
  }

  /**
   * Guesses the format from the first line: an NDJSON export's first line is a whole JSON
   * object; a JSON export starts with \`{\` but its first line is not a whole object;
   * anything else is CSV.
   */
  async sniff(): Promise<ImportFormat> {
    while (!this.head.includes("\n") && this.head.length < 1 << 20) {
      const c = await this.pull();
      if (c === undefined) break;
      this.head += c;
    }
    const text = this.head.trimStart();
    if (text.length === 0) throw new RecordError("the input is empty", { file: this.file });
    if (!text.startsWith("{")) return "csv";
    try {
      JSON.parse(text.split("\n", 1)[0]!);
      return "ndjson";
    } catch {
      return "json";
    }
  }

  async *chunks(): AsyncGenerator<string> {
    if (this.head.length > 0) {
      const h = this.head;
      this.head = "";
      yield h;
    }
    for (let c = await this.pull(); c !== undefined; c = await this.pull()) yield c;
  }

  close(): void {
    (this.stream as Partial<Readable>).destroy?.();
  }
}

/**
 * Turns records into a log.
 *
 * Invariants: `writer` exists once the superblock record was taken; `entries` counts the
 * entries appended, `declared` those not marked `tail`, and no declared entry follows a
 * tail one; after an `end` record nothing else is accepted.
 */
class LogBuilder {
  private writer: LogWriter | undefined;
  private sectorSize = 0;
  private nrEntries = 0n;
  private entries = 0;
  private declared = 0;
  private sawTail = false;
  private end: (EndRecord & { line: number }) | undefined;
  private readonly warnings: string[] = [];

  constructor(
    private readonly file: string,
    private readonly temp: string,
    private readonly format: ImportFormat,
    private readonly options: ImportOptions,
  ) {}

  async take(part: InputPart): Promise<void> {
    if (this.end !== undefined) throw this.error(part.line, "a record after the end record");
    if (part.kind === "super") return this.start(part);
    if (part.kind === "end") {
      this.end = { ...this.parse(EndRecordSchema, part), line: part.line };
      return;
    }
    if (this.writer === undefined) throw this.error(part.line, "an entry before the superblock record (the first record must be the superblock)");
    return this.entry(part);
  }

  async start(part: InputPart): Promise<void> {
    if (this.writer !== undefined) throw this.error(part.line, "a second superblock record");
    const sup = this.parse(SuperRecordSchema, part);
    const magic = `0x${LOG_MAGIC.toString(16).padStart(16, "0")}`;
    if (sup.magic !== undefined && sup.magic.toLowerCase() !== magic) {
      throw this.error(part.line, `magic is ${sup.magic}; a dm-log-writes log has ${magic}`, "magic");
    }
    if (sup.version !== 1n) throw this.error(part.line, `version ${sup.version}: only version 1 exists`, "version");
    if (!isValidSectorSize(sup.sectorSize)) {
      throw this.error(part.line, `${sup.sectorSize} is not a sector size (a power of two from 32 to 8388608)`, "sectorSize");
    }
    if (this.options.sectorSize !== undefined && this.format !== "csv" && this.options.sectorSize !== sup.sectorSize) {
      throw this.error(part.line, `the export has ${sup.sectorSize}-byte sectors, not ${this.options.sectorSize} (use lwlog convert to change it)`, "sectorSize");
    }
    if (sup.dataEncoding !== undefined && sup.dataEncoding !== "base64") {
      this.warnings.push(`the export was made with --data ${sup.dataEncoding}: entries that carry data cannot be rebuilt`);
    }
    this.sectorSize = sup.sectorSize;
    this.nrEntries = sup.nrEntries;
    this.writer = await LogWriter.create(this.temp, { sectorSize: sup.sectorSize, superPadding: sup.padding ?? 0, bufferSize: 4 << 20 });
  }

  private async entry(part: InputPart): Promise<void> {
    const S = this.sectorSize;
    const rec = this.parse(EntryRecordSchema, part);
    const at = { line: part.line, entry: this.entries };
    const header: EntryHeader = { sector: rec.sector, nrSectors: rec.nrSectors, flags: rec.flags, dataLen: rec.dataLen };
    const kind = entryKind(header);
    if (rec.kind !== kind) {
      throw this.error(at, `is "${rec.kind}" but flags ${rec.flags} with nrSectors ${rec.nrSectors} make a "${kind}" entry`, "kind");
    }
    if (rec.flagNames !== undefined && rec.flagNames.join("|") !== flagNames(rec.flags).join("|")) {
      throw this.error(at, `${JSON.stringify(rec.flagNames)} disagrees with flags ${rec.flags} (${JSON.stringify(flagNames(rec.flags))})`, "flagNames");
    }
    if (rec.byteOffset !== undefined && rec.byteOffset !== rec.sector * BigInt(S)) {
      throw this.error(at, `${rec.byteOffset} is not sector ${rec.sector} × ${S}`, "byteOffset");
    }
    if (rec.byteLength !== undefined && rec.byteLength !== rec.nrSectors * BigInt(S)) {
      throw this.error(at, `${rec.byteLength} is not nrSectors ${rec.nrSectors} × ${S}`, "byteLength");
    }
    const tail = rec.tail ?? false;
    if (tail) this.sawTail = true;
    else if (this.sawTail) throw this.error(at, "a declared entry after a tail entry (tail entries come last)", "tail");

    let inline: Uint8Array | undefined;
    if (kind === "mark") {
      inline = this.markBytes(rec, at);
    } else if (rec.mark !== undefined || rec.markBase64 !== undefined) {
      throw this.error(at, "only mark entries have a name", rec.mark !== undefined ? "mark" : "markBase64");
    }
    const data = this.dataBytes(rec, header, at);
    try {
      await this.writer!.append({ header, ...(data ? { data } : {}), ...(inline ? { inline } : {}) });
    } catch (err) {
      if (err instanceof RecordError || !(err instanceof Error) || !("code" in err) || (err as { code: string }).code === "LWLOG_IO") throw err;
      throw this.error(at, err.message);
    }
    this.entries += 1;
    if (!tail) this.declared += 1;
  }

  private markBytes(rec: EntryRecord, at: { line: number; entry: number }): Uint8Array {
    const room = this.sectorSize - ENTRY_HEADER_SIZE;
    let bytes: Uint8Array;
    if (rec.markBase64 !== undefined) {
      bytes = this.base64(rec.markBase64, at, "markBase64");
    } else {
      bytes = new TextEncoder().encode(rec.mark ?? "");
    }
    const field = rec.markBase64 !== undefined ? "markBase64" : "mark";
    if (bytes.length > room) {
      throw this.error(at, `the name is ${bytes.length} bytes; a ${this.sectorSize}-byte header block holds at most ${room}`, field);
    }
    if (BigInt(bytes.length) !== rec.dataLen) {
      throw this.error(at, `${rec.dataLen}, but the mark's name is ${bytes.length} bytes`, "dataLen");
    }
    return bytes;
  }

  private dataBytes(rec: EntryRecord, header: EntryHeader, at: { line: number; entry: number }): Uint8Array | undefined {
    const want = entryDataBytes(header, this.sectorSize);
    const field = rec.base64 !== undefined ? "base64" : "hex";
    const text = rec.base64 ?? rec.hex;
    if (want === 0n) {
      if (text !== undefined && text.length > 0) throw this.error(at, `a ${rec.kind} entry carries no data`, field);
      return undefined;
    }
    if (text === undefined) {
      throw this.error(
        at,
        `missing: the entry carries ${want} bytes of data (nrSectors ${rec.nrSectors} × ${this.sectorSize}); export with --data base64 to import`,
        "base64",
      );
    }
    const bytes = rec.base64 !== undefined ? this.base64(text, at, "base64") : this.hex(text, at);
    if (BigInt(bytes.length) !== want) {
      throw this.error(at, `holds ${bytes.length} bytes but the entry carries nrSectors ${rec.nrSectors} × ${this.sectorSize} = ${want}`, field);
    }
    if (rec.sha256 !== undefined && createHash("sha256").update(bytes).digest("hex") !== rec.sha256) {
      throw this.error(at, "does not match the data", "sha256");
    }
    return bytes;
  }

  private base64(text: string, at: { line: number; entry: number }, field: string): Uint8Array {
    // Buffer.from skips characters that are not base64 (and stops at a '=') silently; a
    // corrupt record must not become a wrong log. Every such character makes the decoded
    // length fall short of what the text's length promises, which is cheap to check (a
    // regular expression over megabytes of base64 cost more than the whole decode).
    const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
    const bytes = Buffer.from(text, "base64");
    if (text.length % 4 !== 0 || bytes.length !== (text.length / 4) * 3 - padding) throw this.error(at, "not valid base64", field);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  private hex(text: string, at: { line: number; entry: number }): Uint8Array {
    if (text.length % 2 !== 0) throw this.error(at, "an odd number of hex digits", "hex");
    return new Uint8Array(Buffer.from(text, "hex"));
  }

  async finish(): Promise<Omit<ImportSummary, "output">> {
    if (this.writer === undefined) throw this.error(undefined, "no superblock record: the input is empty or not an lwlog export");
    if (this.end !== undefined && this.end.entries !== this.entries) {
      throw this.error(this.end.line, `the end record counts ${this.end.entries} entries but the input holds ${this.entries}: it was cut off or edited`, "entries");
    }
    if (this.end === undefined && this.format !== "csv") this.warnings.push("the input has no end record: it may have been cut off");
    let nr: bigint;
    if (this.options.fixSuperblock) nr = BigInt(this.entries);
    else if (this.format === "csv") nr = BigInt(this.declared);
    else {
      nr = this.nrEntries;
      if (nr !== BigInt(this.declared)) {
        throw this.error(
          undefined,
          `the superblock declares ${nr} entries but ${this.declared} entries are not marked tail (edit nrEntries, or pass --fix-superblock to declare all ${this.entries})`,
          "nrEntries",
        );
      }
    }
    const w = this.writer;
    await w.writeSuper(Number(nr));
    const bytes = w.offset;
    await w.close({ super: false, sync: false });
    this.writer = undefined;
    return {
      format: this.format,
      sectorSize: this.sectorSize,
      entries: this.entries,
      declared: Number(nr),
      tail: this.entries - Number(nr),
      bytes,
      warnings: this.warnings,
    };
  }

  async abandon(): Promise<void> {
    const w = this.writer;
    this.writer = undefined;
    if (w) await w.close({ super: false, sync: false }).catch(() => undefined);
  }

  private parse<T extends z.ZodType>(schema: T, part: InputPart): z.output<T> {
    const r = schema.safeParse(part.value);
    if (r.success) return r.data;
    const issue = r.error.issues[0]!;
    const field = issue.path.map(String).join(".") || undefined;
    let got: unknown = part.value;
    for (const key of issue.path) got = typeof got === "object" && got !== null ? (got as Record<PropertyKey, unknown>)[key] : undefined;
    const shown = JSON.stringify(got);
    const msg =
      got === undefined
        ? "missing"
        : issue.code !== "custom" && NUMBER_FIELDS.has(String(issue.path.at(-1)))
          ? `${shown.length > 40 ? `${shown.slice(0, 40)}…` : shown} is not a whole number ≥ 0 (a JSON number up to 2^53, or a decimal string)`
          : issue.message;
    throw new RecordError(msg, {
      file: this.file,
      line: part.line,
      ...(part.kind === "entry" ? { entry: this.entries } : {}),
      ...(field !== undefined ? { field } : {}),
    });
  }

  private error(at: number | { line: number; entry: number } | undefined, message: string, field?: string): RecordError {
    const where = typeof at === "number" ? { line: at } : (at ?? {});
    return new RecordError(message, { file: this.file, ...where, ...(field !== undefined ? { field } : {}) });
  }
}

/** Fields that hold a u64 (a safe integer or a decimal string). */
const NUMBER_FIELDS = new Set(["flags", "sector", "nrSectors", "dataLen", "byteOffset", "byteLength", "version", "nrEntries"]);

/** The format a file name suggests (`.ndjson`/`.jsonl`, `.json`, `.csv`), if any. */
export function formatFromName(path: string): ImportFormat | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith(".ndjson") || lower.endsWith(".jsonl")) return "ndjson";
  if (lower.endsWith(".json")) return "json";
  if (lower.endsWith(".csv")) return "csv";
  return undefined;
}
