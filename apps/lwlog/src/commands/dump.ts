import { createHash } from "node:crypto";
import type { Command } from "commander";
import { LogFile, LogRangeError, MarkNames, entryToJson, formatFlags, type LogCursor, type LogEntry } from "@lwlog/codec/core";
import type { CommandContext } from "../context.js";
import { KIND_NAMES, isKind, knownBits, printableName, type KindName } from "../entry-kinds.js";
import { CommandFailure, UsageError } from "../errors.js";
import { renderTable } from "../format.js";
import { Output } from "../io.js";
import { parseChoice, parseCount, parseList, parseSectorRange, type SectorRange } from "../options.js";
import { resolvePath } from "../paths.js";

/** How `--data` shows each entry's data. */
export type DataMode = "none" | "hex" | "sha256";

/** Options of `lwlog dump`. */
export interface DumpOptions {
  json?: boolean;
  ndjson?: boolean;
  csv?: boolean;
  from?: number;
  to?: number;
  fromMark?: string;
  toMark?: string;
  kind?: KindName[];
  sectors?: SectorRange;
  data?: DataMode;
  tail?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("dump")
    .description("list the entries of a log, one row each: index, log offset, sector, byte offset, length, flags, mark")
    .argument("<log>", "the log file (or device)")
    .option("--json", "print a JSON array of entries")
    .option("--ndjson", "print one JSON object per line")
    .option("--csv", "print CSV (RFC 4180) with a header row")
    .option("--from <n>", "start at entry n (0-based)", parseCount("--from"))
    .option("--to <n>", "stop after entry n (inclusive)", parseCount("--to"))
    .option("--from-mark <name>", "start at the first mark with this name (the mark is listed)")
    .option("--to-mark <name>", "stop at the first mark with this name at or after the start (the mark is listed)")
    .option("--kind <kinds>", `only entries of these kinds, comma-separated: ${KIND_NAMES.join(", ")}`, parseList("--kind", KIND_NAMES))
    .option("--sectors <A-B>", "only writes and discards that touch sectors A to B (inclusive, units of the log's sector size)", parseSectorRange("--sectors"))
    .option("--data <how>", "show each entry's data: none, hex or sha256", parseChoice("--data", ["none", "hex", "sha256"] as const), "none")
    .option("--tail", "include the valid entries past the declared count")
    .action(ctx.action((log: string, opts: DumpOptions) => runDump(ctx, resolvePath(ctx.io, log), opts)));
}

/** Rows held back to size the columns of plain text, and the most a terminal table holds. */
const WIDTH_SAMPLE = 256;
const TTY_TABLE_ROWS = 1000;
const DATA_CHUNK = 1 << 20;

/** `lwlog dump`: streams the selected entries in the chosen format. */
export async function runDump(ctx: CommandContext, path: string, opts: DumpOptions): Promise<number> {
  const formats = [opts.json, opts.ndjson, opts.csv].filter(Boolean).length;
  if (formats > 1) throw new UsageError("choose one of --json, --ndjson and --csv");
  if (opts.from !== undefined && opts.fromMark !== undefined) throw new UsageError("--from and --from-mark cannot be used together");
  if (opts.to !== undefined && opts.toMark !== undefined) throw new UsageError("--to and --to-mark cannot be used together");
  if (opts.from !== undefined && opts.to !== undefined && opts.to < opts.from) throw new UsageError(`--to ${opts.to} is before --from ${opts.from}`);

  const log = await LogFile.open(path);
  try {
    const tail = opts.tail ?? false;
    const { first, last, start } =
      opts.fromMark !== undefined || opts.toMark !== undefined ? resolveMarks(log, opts, tail) : { first: opts.from ?? 0, last: opts.to ?? Infinity, start: undefined };
    const data = opts.data ?? "none";
    const out = new Output(ctx.io.stdout);
    // A resolved --from-mark is a known offset: start there. Entries before a numeric
    // --from are skimmed (no entry objects): they are walked only to find where it is.
    const cursor = log.cursor(start !== undefined ? { tail: true, start } : { tail: true });
    let hiddenTail = 0;
    while (cursor.nextIndex < first) {
      const s = cursor.skim();
      if (s === undefined) break;
      if (s.tail && !tail) hiddenTail += 1;
    }
    // The first entry shown, read before anything is printed: a start past the last entry
    // is an error with nothing on stdout (tail entries come last: a hidden one means none follows).
    let e = cursor.next();
    if (first > 0 && (e === undefined || (e.tail && !tail))) {
      for (; e !== undefined; e = cursor.next()) hiddenTail += 1;
      const total = cursor.end!.index - (tail ? 0 : hiddenTail);
      const more = !tail && hiddenTail > 0 ? ` (and ${hiddenTail} in the tail: --tail)` : "";
      throw new LogRangeError("LWLOG_NO_SUCH_ENTRY", `there is no entry ${first}: the log has ${total} entries${more}`, { file: log.path });
    }
    const reader = new DataReader(log, cursor);
    const sink: EntrySink = opts.json
      ? await jsonSink(log, reader, out, data, "json")
      : opts.ndjson
        ? await jsonSink(log, reader, out, data, "ndjson")
        : opts.csv
          ? await csvSink(log, reader, out, data)
          : await textSink(ctx, log, reader, out, data, tail);
    const kinds = opts.kind;
    const sectors = opts.sectors;
    for (; e !== undefined; e = cursor.next()) {
      // The reader went away (`| head`): it has what it wanted.
      if (e.index > last || out.closed) break;
      if (e.tail && !tail) {
        hiddenTail += 1;
        continue;
      }
      if (kinds !== undefined) {
        const known = knownBits(e.flags);
        const unknown = e.flags > 0x1fn;
        const sized = e.nrSectors !== 0n;
        if (!kinds.some((k) => isKind(k, known, unknown, sized))) continue;
      }
      if (sectors !== undefined && !touches(e, sectors)) continue;
      await sink.entry(e);
    }
    await sink.end();
    await out.flush();
    if (cursor.end !== undefined) {
      if (hiddenTail > 0) {
        ctx.io.stderr.write(`lwlog: ${log.path}: ${hiddenTail} valid ${hiddenTail === 1 ? "entry" : "entries"} past the declared count not shown (--tail shows them)\n`);
      }
    }
    return 0;
  } finally {
    log.close();
  }
}

/** True when a write or discard overlaps the inclusive sector range. Flushes and marks touch nothing. */
function touches(e: LogEntry, r: SectorRange): boolean {
  if (e.nrSectors === 0n || e.kind === "mark") return false;
  return e.sector <= r.to && e.sector + e.nrSectors - 1n >= r.from;
}

/**
 * Turns `--from-mark`/`--to-mark` into entry indexes with one pass over the headers, before
 * anything is printed: a mark that is not there is an error, not an empty or a whole dump.
 */
function resolveMarks(log: LogFile, opts: DumpOptions, tail: boolean): { first: number; last: number; start: { index: number; offset: number } | undefined } {
  let first = opts.from ?? (opts.fromMark === undefined ? 0 : -1);
  let last = opts.to ?? (opts.toMark === undefined ? Infinity : -1);
  let start: { index: number; offset: number } | undefined;
  const names = new MarkNames();
  const cursor = log.cursor({ tail });
  for (let s = cursor.skim(); s !== undefined && (first < 0 || last < 0); s = cursor.skim()) {
    if (s.kind !== "mark") continue;
    const e = s.entry!;
    names.add(e.mark!);
    if (first < 0 && e.mark === opts.fromMark) {
      first = e.index;
      start = { index: e.index, offset: e.offset };
    }
    if (first >= 0 && last < 0 && e.index >= first && e.mark === opts.toMark) last = e.index;
  }
  const where = tail ? "" : " among the declared entries";
  const further = tail ? "" : "; --tail looks further";
  const missing = (text: string) => new LogRangeError("LWLOG_NO_SUCH_MARK", text, { file: log.path });
  if (first < 0) throw missing(`no mark named ${JSON.stringify(opts.fromMark)}${where}${names.hint(opts.fromMark!)}${further}`);
  if (last < 0) {
    const after = opts.fromMark !== undefined ? ` after mark ${JSON.stringify(opts.fromMark)} (entry ${first})` : first > 0 ? ` at or after entry ${first}` : "";
    const hint = names.has(opts.toMark!) ? "" : names.hint(opts.toMark!);
    throw missing(`no mark named ${JSON.stringify(opts.toMark)}${after}${where}${hint}${further}`);
  }
  if (last < first) throw new UsageError(`--to ${last} is before mark ${JSON.stringify(opts.fromMark)} (entry ${first})`);
  return { first, last, start };
}

/** Where entries go, one format each. */
interface EntrySink {
  entry(e: LogEntry): Promise<void>;
  end(): Promise<void>;
}

/** Writes `text`, waiting when the stream is full. */
async function put(out: Output, text: string): Promise<void> {
  const p = out.write(text);
  if (p !== undefined) await p;
}

/**
 * Reads entries' data for `--data`: straight from the cursor's read window when the entry
 * is the one just read and its data came in with its header (small entries), else in
 * chunks into one buffer reused for every entry, so memory stays flat and nothing is
 * allocated per entry.
 */
class DataReader {
  private readonly buffer = new Uint8Array(DATA_CHUNK);
  constructor(
    private readonly log: LogFile,
    private readonly cursor: LogCursor,
  ) {}

  /** The data of `e` in chunks, each valid until the next; `current`: `e` is the entry just read. */
  *chunks(e: LogEntry, current: boolean): Generator<Uint8Array> {
    const window = current ? this.cursor.peekData(e) : undefined;
    if (window !== undefined) yield window;
    else yield* this.log.dataChunks(e, DATA_CHUNK, this.buffer);
  }

  /** The sha256 of `e`'s data in hex; "" when it carries none. */
  sha256(e: LogEntry, current: boolean): string {
    if (e.dataSize === 0) return "";
    const h = createHash("sha256");
    for (const chunk of this.chunks(e, current)) h.update(chunk);
    return h.digest("hex");
  }

  /** Writes the hex of `e`'s data to `out`, chunk by chunk (never held whole). */
  async putHex(out: Output, e: LogEntry, current: boolean): Promise<void> {
    for (const chunk of this.chunks(e, current)) await put(out, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString("hex"));
  }
}

async function jsonSink(log: LogFile, reader: DataReader, out: Output, data: DataMode, style: "json" | "ndjson"): Promise<EntrySink> {
  const S = log.sectorSize;
  let n = 0;
  if (style === "json") await put(out, "[");
  return {
    async entry(e) {
      const open = style === "ndjson" ? "{" : n === 0 ? "\n{" : ",\n{";
      const close = style === "ndjson" ? "}\n" : "}";
      n += 1;
      const body = JSON.stringify(entryToJson(e, S)).slice(1, -1);
      if (data === "sha256" && e.dataSize > 0) await put(out, `${open}${body},"sha256":"${reader.sha256(e, true)}"${close}`);
      else if (data === "hex" && e.dataSize > 0) {
        await put(out, `${open}${body},"hex":"`);
        await reader.putHex(out, e, true);
        await put(out, `"${close}`);
      } else await put(out, open + body + close);
    },
    async end() {
      if (style === "json") await put(out, n === 0 ? "]\n" : "\n]\n");
    },
  };
}

/** CSV columns: the same as `lwlog export --format csv`, then the data column when asked. */
const CSV_COLUMNS = ["index", "offset", "kind", "flags", "flagNames", "sector", "nrSectors", "byteOffset", "byteLength", "dataLen", "tail", "mark", "markBase64"] as const;

async function csvSink(log: LogFile, reader: DataReader, out: Output, data: DataMode): Promise<EntrySink> {
  const { stringify } = await import("csv-stringify/sync");
  // RFC 4180: CRLF between records (as `lwlog export` writes CSV).
  const csv = (rows: string[][]) => stringify(rows, { record_delimiter: "windows" });
  const S = log.sectorSize;
  await put(out, csv([[...CSV_COLUMNS, ...(data === "none" ? [] : [data])]]));
  return {
    async entry(e) {
      const j = entryToJson(e, S);
      const row = CSV_COLUMNS.map((c) => {
        const v = j[c];
        return v === undefined ? "" : Array.isArray(v) ? v.join("|") : String(v);
      });
      if (data === "sha256") row.push(reader.sha256(e, true));
      if (data !== "hex" || e.dataSize === 0) {
        if (data === "hex") row.push("");
        await put(out, csv([row]));
        return;
      }
      // Hex digits never need quoting, so the last field is streamed after the others.
      await put(out, csv([row]).slice(0, -2) + ",");
      await reader.putHex(out, e, true);
      await put(out, "\r\n");
    },
    async end() {},
  };
}

/**
 * Text: a cli-table3 table on a terminal (for up to `TTY_TABLE_ROWS` rows without hex),
 * else plain columns separated by two spaces, sized from the first rows and then
 * streamed. Empty cells are `-` so that every row has the same number of fields, and the
 * mark name, which may hold spaces, comes last.
 */
async function textSink(ctx: CommandContext, log: LogFile, reader: DataReader, out: Output, data: DataMode, tail: boolean): Promise<EntrySink> {
  const S = BigInt(log.sectorSize);
  const head = ["ENTRY", "OFFSET", "SECTOR", "BYTE-OFFSET", "LENGTH", "FLAGS", ...(tail ? ["TAIL"] : []), ...(data === "none" ? [] : [data.toUpperCase()]), "MARK"];
  const right = [true, true, true, true, true, false, ...(tail ? [false] : []), ...(data === "none" ? [] : [false]), false];
  const tty = ctx.io.stdout.isTTY === true && data !== "hex";
  const held: { cells: string[]; entry: LogEntry }[] = [];
  let widths: number[] | undefined;
  const cellsOf = (e: LogEntry): string[] => {
    const cells = [String(e.index), String(e.offset), String(e.sector), String(e.sector * S), String(e.nrSectors * S), formatFlags(e.flags)];
    if (tail) cells.push(e.tail ? "tail" : "-");
    if (data === "sha256") cells.push(e.dataSize > 0 ? reader.sha256(e, true) : "-");
    if (data === "hex") cells.push(e.dataSize > 0 ? "" : "-"); // streamed by `line`
    cells.push(e.kind === "mark" ? printableName(e.mark ?? "") : "");
    return cells;
  };
  // `current`: `e` is the entry just read (rows held back to size the columns are not).
  const line = async (cells: string[], e: LogEntry | undefined, current = false): Promise<void> => {
    const w = widths!;
    const last = cells.length - 1;
    const hexAt = data === "hex" ? last - 1 : -1;
    let text = "";
    for (let i = 0; i < last; i++) {
      if (i === hexAt) break;
      text += (right[i] ? cells[i]!.padStart(w[i]!) : cells[i]!.padEnd(w[i]!)) + "  ";
    }
    if (hexAt >= 0 && e !== undefined && e.dataSize > 0) {
      await put(out, text);
      await reader.putHex(out, e, current);
      text = "";
    } else if (hexAt >= 0) text += cells[hexAt] + "  ";
    await put(out, (text + cells[last]).trimEnd() + "\n");
  };
  const sizeColumns = () => {
    widths = head.map((h, i) => Math.max(h.length, ...held.map((r) => r.cells[i]!.length)));
  };
  const release = async () => {
    sizeColumns();
    await line(head, undefined);
    for (const r of held) await line(r.cells, r.entry);
    held.length = 0;
  };
  return {
    async entry(e) {
      if (widths !== undefined) return line(cellsOf(e), e, true);
      held.push({ cells: cellsOf(e), entry: e });
      if (held.length > (tty ? TTY_TABLE_ROWS : WIDTH_SAMPLE)) await release();
    },
    async end() {
      if (widths !== undefined) return;
      if (tty) {
        const rows = held.map((r) => r.cells);
        await put(out, renderTable(ctx.io, head, rows, right.map((r) => (r ? "right" : "left"))));
      } else await release();
    },
  };
}
