import { createHash } from "node:crypto";
import { stringify } from "csv-stringify/sync";
import { ErrorCodes, LogRangeError, LwlogError, entryToJson, flagNames, superToJson, type LogEntry, type LogFile, type ReadEnd } from "@lwlog/codec/core";
import type { DataEncoding, EndRecord } from "./records.js";
import { Yielder } from "./yield.js";

/** Output formats of `exportLog`. */
export type ExportFormat = "json" | "ndjson" | "csv" | "fio-iolog";

/** The formats `export --format` accepts. */
export const EXPORT_FORMATS: readonly ExportFormat[] = ["json", "ndjson", "csv", "fio-iolog"];

/** Where exported text goes; a returned promise is waited for (backpressure). */
export type TextSink = (text: string) => Promise<void> | void | undefined;

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
  /** Entries with no fio equivalent (marks), left out. */
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
 * See docs/json.md for the records.
 */
export async function exportLog(log: LogFile, write: TextSink, options: ExportOptions): Promise<ExportSummary> {
  const data = options.format === "fio-iolog" ? "none" : (options.data ?? "sha256");
  const S = log.sectorSize;
  const cursor = log.cursor({ tail: options.tail ?? true });
  const superRecord: Record<string, unknown> = { ...superToJson(log.super), dataEncoding: data };
  if (options.source !== undefined) superRecord.source = options.source;
  const fio: FioCounts = { writes: 0, writeBytes: 0n, trims: 0, trimBytes: 0n, syncs: 0, skipped: 0 };
  const target = options.fioTarget ?? "/dev/null";
  const yielder = new Yielder();

  switch (options.format) {
    case "ndjson":
      await write(JSON.stringify({ type: "super", ...superRecord }) + "\n");
      break;
    case "json":
      await write(`{"super":${JSON.stringify(superRecord)},\n"entries":[`);
      break;
    case "csv":
      await write(stringify([[...CSV_COLUMNS, ...(data === "none" ? [] : [data])]], CSV_OPTIONS));
      break;
    case "fio-iolog":
      if (/\s/.test(target) || target.length === 0 || target.length > 255) {
        throw new LogRangeError(ErrorCodes.RANGE, `a fio iolog file name must be 1 to 255 characters without spaces, not ${JSON.stringify(target)}`);
      }
      await write(`fio version 2 iolog\n${target} add\n${target} open\n`);
      break;
  }

  let count = 0;
  let declared = 0;
  for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
    if (!e.tail) declared += 1;
    switch (options.format) {
      case "ndjson":
        await writeJsonEntry(log, e, data, cursor.peekData(e), write, `{"type":"entry",`, "}\n");
        break;
      case "json":
        await writeJsonEntry(log, e, data, cursor.peekData(e), write, count === 0 ? "\n{" : ",\n{", "}");
        break;
      case "csv":
        await write(stringify([csvRow(log, e, data, cursor.peekData(e))], CSV_OPTIONS));
        break;
      case "fio-iolog": {
        const line = fioLine(e, S, target, fio);
        if (line !== undefined) await write(line);
        break;
      }
    }
    count += 1;
    if (yielder.tick()) {
      await yielder.pause();
      if (options.shouldStop?.()) throw new InterruptedError();
      options.onProgress?.(e.nextOffset);
    }
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
      await write(JSON.stringify({ type: "end", ...endRecord }) + "\n");
      break;
    case "json":
      await write(`${count === 0 ? "" : "\n"}],\n"end":${JSON.stringify(endRecord)}}\n`);
      break;
    case "fio-iolog":
      await write(`${target} close\n`);
      break;
    case "csv":
      break;
  }
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

/** RFC 4180: CRLF between records, fields quoted when they hold a comma, a quote or a line break. */
const CSV_OPTIONS = { record_delimiter: "windows" as const };

/**
 * Writes one entry as a JSON object: the codec's `entryToJson`, then the data field. Big
 * data is encoded in chunks straight to the sink, so no entry is ever held whole as text.
 */
async function writeJsonEntry(
  log: LogFile,
  e: LogEntry,
  data: DataEncoding,
  inWindow: Uint8Array | undefined,
  write: TextSink,
  open: string,
  close: string,
): Promise<void> {
  const body = entryJsonBody(e, log.sectorSize);
  if (data === "none" || e.dataSize === 0) {
    await write(open + body + close);
  } else if (data === "sha256") {
    await write(`${open}${body},"sha256":"${sha256Of(log, e, inWindow)}"${close}`);
  } else if (e.dataSize <= BASE64_CHUNK) {
    await write(`${open}${body},"base64":"${base64Of(inWindow ?? log.readData(e))}"${close}`);
  } else {
    await write(`${open}${body},"base64":"`);
    for (const chunk of log.dataChunks(e, BASE64_CHUNK)) await write(base64Of(chunk));
    await write(`"${close}`);
  }
}

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
function sha256Of(log: LogFile, e: LogEntry, inWindow: Uint8Array | undefined): string {
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
