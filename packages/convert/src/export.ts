import { createHash } from "node:crypto";
import {
  ErrorCodes,
  LogRangeError,
  LwlogError,
  entryToJson,
  flagNames,
  superToJson,
  type DataPlace,
  type EntryKind,
  type EntrySummary,
  type LogEntry,
  type LogFile,
  type ReadEnd,
} from "@lwlog/codec/core";
import type { DataEncoding, EndRecord } from "./records.js";
import { withRepairHint } from "./repair-hint.js";
import { entryOf } from "./summary.js";
import { Yielder } from "./yield.js";

/** Output formats of `exportLog`. */
export type ExportFormat = "json" | "ndjson" | "csv" | "fio-iolog";

/** The formats `export --format` accepts. */
export const EXPORT_FORMATS: readonly ExportFormat[] = ["json", "ndjson", "csv", "fio-iolog"];

/** Where exported text goes; a returned promise is waited for (backpressure). */
export type TextSink = (text: string) => Promise<void> | void | undefined;

/**
 * Where exported bytes go (UTF-8), for a caller that writes them to a file: no text is
 * made of them. `bytes` is valid only during the call, or until the promise it returns
 * settles: write or copy it.
 */
export interface ByteSink {
  writeBytes(bytes: Uint8Array): Promise<void> | void | undefined;
}

/** A `TextSink` (a function given text) or a `ByteSink`. */
export type ExportSink = TextSink | ByteSink;

/** Options of `exportLog`. */
export interface ExportOptions {
  format: ExportFormat;
  /** How to write each entry's data (default `sha256`). Ignored by `fio-iolog`. */
  data?: DataEncoding;
  /** Export the valid entries past the declared count too, marked `tail` (default true). */
  tail?: boolean;
  /** Name of the source log, recorded in the superblock record. */
  source?: string;
  /** `fio-iolog`: the file name fio is to replay the I/O on (an absolute path, no spaces). */
  fioTarget?: string;
  /** Polled between entries; when it returns true the export stops with `InterruptedError`. */
  shouldStop?: () => boolean;
  /** Called now and then with the log offset reached. */
  onProgress?: (offset: number) => void;
}

/** What an export did. */
export interface ExportSummary {
  format: ExportFormat;
  /** Entries exported (declared + tail). */
  entries: number;
  declared: number;
  tail: number;
  /** How reading the log ended. */
  end: ReadEnd;
  /** Bytes of the log file after the last exported entry (not exported). */
  trailingBytes: number;
  /** `fio-iolog`: what the iolog asks fio to do. */
  fio?: FioCounts;
}

/** Operations in a fio iolog. */
export interface FioCounts {
  writes: number;
  writeBytes: bigint;
  trims: number;
  trimBytes: bigint;
  syncs: number;
  /** Entries with no fio equivalent (marks, no-ops), left out. */
  skipped: number;
}

/** Thrown by `exportLog`, `importLog` and `convertLog` when `shouldStop` said so (nothing is left behind). */
export class InterruptedError extends LwlogError {
  constructor() {
    super("LWLOG_INTERRUPTED", "interrupted");
  }
}

/** CSV columns, in order; the data column (`sha256` or `base64`) is added after them. */
export const CSV_COLUMNS = [
  "index",
  "offset",
  "kind",
  "flags",
  "flagNames",
  "sector",
  "nrSectors",
  "byteOffset",
  "byteLength",
  "dataLen",
  "tail",
  "mark",
  "markBase64",
] as const;

const BASE64_CHUNK = 3 << 20; // a multiple of 3, so chunks encode without padding in between

/**
 * Streams a log out as JSON, NDJSON, CSV or a fio iolog, entry by entry: memory stays
 * constant whatever the log's size, and the first records go out before the log is read.
 * See docs/json.md for the records. Output is gathered in a buffer and handed to `sink` in
 * chunks of up to 256 KiB (4 MiB for a piece of base64 data), as it fills and every few
 * milliseconds; a chunk may end inside a record.
 */
export async function exportLog(log: LogFile, sink: ExportSink, options: ExportOptions): Promise<ExportSummary> {
  const data = options.format === "fio-iolog" ? "none" : (options.data ?? "sha256");
  const S = log.sectorSize;
  const cursor = log.cursor({ tail: options.tail ?? true });
  const superRecord: Record<string, unknown> = { ...superToJson(log.super), dataEncoding: data };
  if (options.source !== undefined) superRecord.source = options.source;
  const fio: FioCounts = { writes: 0, writeBytes: 0n, trims: 0, trimBytes: 0n, syncs: 0, skipped: 0 };
  const target = options.fioTarget ?? "/dev/null";
  const yielder = new Yielder();
  const out = new RecordBuffer(sink);
  // Loaded only for CSV: the other formats (and `convertLog`, in the same module) do without.
  const stringify = options.format === "csv" ? (await import("csv-stringify/sync")).stringify : undefined;

  switch (options.format) {
    case "ndjson":
      await out.write(JSON.stringify({ type: "super", ...superRecord }) + "\n");
      break;
    case "json":
      await out.write(`{"super":${JSON.stringify(superRecord)},\n"entries":[`);
      break;
    case "csv":
      await out.write(stringify!([[...CSV_COLUMNS, ...(data === "none" ? [] : [data])]], CSV_OPTIONS));
      break;
    case "fio-iolog":
      if (/\s/.test(target) || target.length === 0 || target.length > 255) {
        throw new LogRangeError(ErrorCodes.RANGE, `a fio iolog file name must be 1 to 255 characters without spaces, not ${JSON.stringify(target)}`);
      }
      await out.write(`fio version 2 iolog\n${target} add\n${target} open\n`);
      break;
  }
  // The first record goes out before the log is read.
  await out.flush();

  const json = options.format === "ndjson" || options.format === "json";
  // Where the data of the entry being exported lies: one object, reused.
  const place = { dataOffset: 0, dataSize: 0, nextOffset: 0 };
  let count = 0;
  let declared = 0;
  try {
    for (let s = cursor.skim(); s !== undefined; s = cursor.skim()) {
      if (!s.tail) declared += 1;
      if (out.full) await out.flush();
      place.dataOffset = s.offset + S;
      place.dataSize = s.dataSize;
      place.nextOffset = s.nextOffset;
      if (json) {
        const open = options.format === "ndjson" ? NDJSON_OPEN : count === 0 ? JSON_FIRST : JSON_NEXT;
        const close = options.format === "ndjson" ? "}\n" : "}";
        if (s.entry !== undefined || !out.plainEntry(open, s, S)) {
          // Marks and odd entries: their text, of any length.
          out.ascii(open);
          const p = out.write(entryJsonBody(s.entry ?? entryOf(s, S), S));
          if (p !== undefined) await p;
        }
        if (data === "none" || s.dataSize === 0) {
          out.small(close);
        } else if (data === "sha256") {
          const p = out.write(`,"sha256":"${sha256Of(log, place, cursor.peekData(place))}"${close}`);
          if (p !== undefined) await p;
        } else if (s.dataSize <= BASE64_CHUNK) {
          const p = out.write(`,"base64":"${base64Of(cursor.peekData(place) ?? readPlace(log, place))}"${close}`);
          if (p !== undefined) await p;
        } else {
          out.small(`,"base64":"`);
          for (const chunk of log.dataChunks(place, BASE64_CHUNK)) await out.write(base64Of(chunk));
          await out.write(`"${close}`);
        }
      } else {
        const e = s.entry ?? entryOf(s, S);
        const text = stringify !== undefined ? stringify([csvRow(log, e, data, cursor.peekData(e))], CSV_OPTIONS) : fioLine(e, S, target, fio);
        if (text !== undefined) {
          const p = out.write(text);
          if (p !== undefined) await p;
        }
      }
      count += 1;
      if (yielder.tick()) {
        // Now and then the output goes out even when the buffer is not full, so it streams.
        await out.flush();
        await yielder.pause();
        if (options.shouldStop?.()) throw new InterruptedError();
        options.onProgress?.(s.nextOffset);
      }
    }
  } catch (err) {
    // A crashed writer's log: convert can repair it (export reads it as it is).
    throw withRepairHint(err, "lwlog convert --fix-superblock writes a copy that declares the entries that are there");
  }
  // One last turn of the event loop: an interrupt that came during the walk is honoured
  // before the caller makes the output final.
  await yielder.pause();
  if (options.shouldStop?.()) throw new InterruptedError();
  const end = cursor.end!;
  const endRecord: EndRecord = {
    entries: count,
    declared,
    tail: count - declared,
    reason: end.reason,
    offset: end.offset,
    fileSize: log.size,
  };
  switch (options.format) {
    case "ndjson":
      await out.write(JSON.stringify({ type: "end", ...endRecord }) + "\n");
      break;
    case "json":
      await out.write(`${count === 0 ? "" : "\n"}],\n"end":${JSON.stringify(endRecord)}}\n`);
      break;
    case "fio-iolog":
      await out.write(`${target} close\n`);
      break;
    case "csv":
      break;
  }
  await out.flush();
  const summary: ExportSummary = {
    format: options.format,
    entries: count,
    declared,
    tail: count - declared,
    end,
    trailingBytes: log.size - end.offset,
  };
  if (options.format === "fio-iolog") summary.fio = fio;
  return summary;
}

/** ASCII text as bytes (the constant parts of records). */
const ascii = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"));
const NDJSON_OPEN = ascii(`{"type":"entry",`);
const JSON_FIRST = ascii("\n{");
const JSON_NEXT = ascii(",\n{");
const K_INDEX = ascii(`"index":`);
const K_OFFSET = ascii(`,"offset":`);
const KINDS: readonly EntryKind[] = ["write", "discard", "flush", "mark", "noop"];
/**
 * `,"kind":"…","flags":F,"flagNames":[…],"sector":` for each kind and combination of the
 * known flag bits (a plain entry's flags are small): one copy for four members.
 */
const K_KIND_FLAGS = Object.fromEntries(
  KINDS.map((k) => [k, Array.from({ length: 32 }, (_, f) => ascii(`,"kind":"${k}","flags":${f},"flagNames":${JSON.stringify(flagNames(BigInt(f)))},"sector":`))]),
) as Record<EntryKind, Uint8Array[]>;
const K_NR_SECTORS = ascii(`,"nrSectors":`);
const K_BYTE_OFFSET = ascii(`,"byteOffset":`);
const K_BYTE_LENGTH = ascii(`,"byteLength":`);
const K_TAIL_TRUE = ascii(`,"dataLen":0,"tail":true`);
const K_TAIL_FALSE = ascii(`,"dataLen":0,"tail":false`);
const TWO_32 = 0x1_0000_0000;
/** Room kept free for one record made by `plainEntry` (well under 1 KiB) and its data member. */
const RECORD_ROOM = 4 << 10;
const BUFFER_SIZE = 256 << 10;

/**
 * Export output as UTF-8 bytes in one reused buffer, handed to the sink by `flush`. Plain
 * entries (the usual ones) are encoded straight into it, digits and all: no string is made
 * per record.
 *
 * Invariants: `buf[0, len)` holds whole records (or, mid-record, the start of the one being
 * made) not yet handed over; `full` is true when less than `RECORD_ROOM` bytes are free, and
 * callers flush then before starting a record.
 */
class RecordBuffer {
  private readonly buf = Buffer.allocUnsafe(BUFFER_SIZE);
  private len = 0;
  private readonly digits = new Uint8Array(20);

  constructor(private readonly sink: ExportSink) {}

  get full(): boolean {
    return this.len > BUFFER_SIZE - RECORD_ROOM;
  }

  /**
   * Appends `open` and the members of a plain entry's record (what `entryJsonBody` gives for
   * it) when every number is exact below 2^53; false (nothing appended) otherwise.
   */
  plainEntry(open: Uint8Array, s: EntrySummary, S: number): boolean {
    const byteOffset = s.sector * S;
    const byteLength = s.nrSectors * S;
    if (byteOffset > Number.MAX_SAFE_INTEGER || byteLength > Number.MAX_SAFE_INTEGER) return false;
    this.ascii(open);
    this.ascii(K_INDEX);
    this.uint(s.index);
    this.ascii(K_OFFSET);
    this.uint(s.offset);
    this.ascii(K_KIND_FLAGS[s.kind][s.knownFlags]!);
    this.uint(s.sector);
    this.ascii(K_NR_SECTORS);
    this.uint(s.nrSectors);
    this.ascii(K_BYTE_OFFSET);
    this.uint(byteOffset);
    this.ascii(K_BYTE_LENGTH);
    this.uint(byteLength);
    this.ascii(s.tail ? K_TAIL_TRUE : K_TAIL_FALSE);
    return true;
  }

  /** Appends bytes (short ones: a loop beats `set` for a few dozen bytes). */
  ascii(bytes: Uint8Array): void {
    const buf = this.buf;
    let at = this.len;
    for (let i = 0; i < bytes.length; i++) buf[at++] = bytes[i]!;
    this.len = at;
  }

  /** Appends a safe non-negative integer in decimal, as JSON.stringify writes it. */
  uint(n: number): void {
    const buf = this.buf;
    if (n < 10) {
      buf[this.len++] = 48 + n;
      return;
    }
    const d = this.digits;
    let i = 0;
    while (n >= TWO_32) {
      const q = Math.floor(n / 10);
      d[i++] = n - q * 10;
      n = q;
    }
    let m = n >>> 0;
    while (m >= 10) {
      const q = (m / 10) >>> 0;
      d[i++] = m - q * 10;
      m = q;
    }
    d[i++] = m;
    let at = this.len;
    while (i > 0) buf[at++] = 48 + d[--i]!;
    this.len = at;
  }

  /** Appends short text (a record's own members, under `RECORD_ROOM / 3` characters) after a check of `full`. */
  small(text: string): void {
    this.len += this.buf.write(text, this.len, "utf8");
  }

  /** Appends text of any length; returns a promise when the sink must be waited for first. */
  write(text: string): Promise<void> | undefined {
    if (this.len + text.length * 3 <= BUFFER_SIZE) {
      this.len += this.buf.write(text, this.len, "utf8");
      return undefined;
    }
    return this.writeLong(text);
  }

  /** Hands the buffered bytes to the sink; a promise when the sink asks to be waited for. */
  flush(): Promise<void> | undefined {
    if (this.len === 0) return undefined;
    const chunk = typeof this.sink === "function" ? this.buf.toString("utf8", 0, this.len) : this.buf.subarray(0, this.len);
    this.len = 0;
    return this.deliver(chunk);
  }

  private async writeLong(text: string): Promise<void> {
    await this.flush();
    if (text.length * 3 <= BUFFER_SIZE) this.len += this.buf.write(text, 0, "utf8");
    else await this.deliver(typeof this.sink === "function" ? text : Buffer.from(text, "utf8"));
  }

  private deliver(chunk: string | Uint8Array): Promise<void> | undefined {
    const r = typeof this.sink === "function" ? this.sink(chunk as string) : this.sink.writeBytes(chunk as Uint8Array);
    return r instanceof Promise ? r : undefined;
  }
}

/** All the data of an entry (read: it is not in the cursor's window). */
function readPlace(log: LogFile, place: DataPlace): Uint8Array {
  const out = new Uint8Array(place.dataSize);
  log.readAt(out, place.dataOffset);
  return out;
}

/** RFC 4180: CRLF between records, fields quoted when they hold a comma, a quote or a line break. */
const CSV_OPTIONS = { record_delimiter: "windows" as const };

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const u64Text = (v: bigint): string => (v <= MAX_SAFE ? v.toString() : `"${v}"`);
const flagNamesText: string[] = [];

/**
 * The members of `JSON.stringify(entryToJson(e, S))`, without its braces: the same text,
 * built directly (a generic stringify of every entry costs several times the export).
 * Marks, rare and with names to escape, go through `entryToJson` itself.
 */
export function entryJsonBody(e: LogEntry, sectorSize: number): string {
  if (e.kind === "mark") return JSON.stringify(entryToJson(e, sectorSize)).slice(1, -1);
  const S = BigInt(sectorSize);
  const names = e.flags < 256n ? (flagNamesText[Number(e.flags)] ??= JSON.stringify(flagNames(e.flags))) : JSON.stringify(flagNames(e.flags));
  return (
    `"index":${e.index},"offset":${e.offset},"kind":"${e.kind}","flags":${u64Text(e.flags)},"flagNames":${names},` +
    `"sector":${u64Text(e.sector)},"nrSectors":${u64Text(e.nrSectors)},"byteOffset":${u64Text(e.sector * S)},` +
    `"byteLength":${u64Text(e.nrSectors * S)},"dataLen":${u64Text(e.dataLen)},"tail":${e.tail}`
  );
}

/** The sha256 of an entry's data: from the cursor's read window when it is there, else read in chunks. */
function sha256Of(log: LogFile, e: DataPlace, inWindow: Uint8Array | undefined): string {
  const h = createHash("sha256");
  if (inWindow !== undefined) h.update(inWindow);
  else for (const chunk of log.dataChunks(e)) h.update(chunk);
  return h.digest("hex");
}

function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64");
}

function csvRow(log: LogFile, e: LogEntry, data: DataEncoding, inWindow: Uint8Array | undefined): string[] {
  const j = entryToJson(e, log.sectorSize);
  const row = CSV_COLUMNS.map((c) => {
    const v = j[c];
    if (v === undefined) return "";
    if (Array.isArray(v)) return v.join("|");
    return String(v);
  });
  if (data === "sha256") row.push(e.dataSize === 0 ? "" : sha256Of(log, e, inWindow));
  else if (data === "base64") row.push(e.dataSize === 0 ? "" : base64Of(inWindow ?? log.readData(e)));
  return row;
}

/**
 * One fio iolog line for an entry: writes (whatever their FUA/METADATA bits) become
 * `write`, discards `trim`, flushes `sync`; marks have no fio equivalent.
 */
function fioLine(e: LogEntry, S: number, target: string, fio: FioCounts): string | undefined {
  const offset = e.sector * BigInt(S);
  const length = e.nrSectors * BigInt(S);
  switch (e.kind) {
    case "write":
      fio.writes += 1;
      fio.writeBytes += length;
      return `${target} write ${offset} ${length}\n`;
    case "discard":
      fio.trims += 1;
      fio.trimBytes += length;
      return `${target} trim ${offset} ${length}\n`;
    case "flush":
      fio.syncs += 1;
      return `${target} sync 0 0\n`;
    default:
      fio.skipped += 1;
      return undefined;
  }
}
