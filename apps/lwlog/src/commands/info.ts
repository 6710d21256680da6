import type { Command } from "commander";
import { LogFile, isExactText, u64ToJson, type LogEntry, type ReadEnd } from "@lwlog/codec/core";
import type { CommandContext } from "../context.js";
import { countEntry, emptyCounts, printableName, type KindCounts } from "../entry-kinds.js";
import { humanBytes } from "../format.js";
import { Output } from "../io.js";
import { resolvePath } from "../paths.js";

/** Options of `lwlog info`. */
export interface InfoOptions {
  json?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("info")
    .description("summarise a log: sector size, entries declared and found, counts by kind, data, sectors touched, marks")
    .argument("<log>", "the log file (or device)")
    .option("--json", "print one JSON object (keys in docs/cli.md)")
    .action(ctx.action((log: string, opts: InfoOptions) => runInfo(ctx, resolvePath(ctx.io, log), opts)));
}

/** A mark as `info` lists it. */
export interface InfoMark {
  name: string;
  /** 0-based entry index. */
  entry: number;
  /** Byte offset of the mark's header block in the log. */
  offset: number;
  /** True for a mark past the declared count. */
  tail: boolean;
  /** The raw name in base64, when it is not exact UTF-8 text. */
  markBase64?: string;
}

/**
 * What `lwlog info --json` prints. Figures are over the declared entries, except `entries`
 * (declared + tail), `tailEntries`, `tailCounts` and `marks` (which lists tail marks too).
 */
export interface LogSummary {
  file: string;
  fileBytes: number;
  version: number;
  sectorSize: number;
  /** `nr_entries` in the superblock: a number, or a decimal string beyond 2^53. */
  declaredEntries: number | string;
  /** Valid entries found: the declared ones and the tail. */
  entries: number;
  /** Valid entries found past the declared count. */
  tailEntries: number;
  counts: KindCounts;
  tailCounts: KindCounts;
  /** Bytes of write data the declared entries carry. */
  dataBytes: number;
  /** Lowest and highest target sector written or discarded (units of `sectorSize`), or null. */
  lowestSector: number | string | null;
  highestSector: number | string | null;
  /** The image size the sectors touched imply: `(highestSector + 1) × sectorSize`, or 0. */
  imageBytes: number | string;
  /** End of the highest byte written (writes only, not discards), or 0. */
  maxByte: number | string;
  marks: InfoMark[];
  /** How the scan ended, and the bytes of the file after the last entry. */
  end: { reason: ReadEnd["reason"]; offset: number; trailingBytes: number; detail?: string };
}

/**
 * Marks `info` holds: a log with more (millions of marks cost gigabytes as objects) is
 * summed up holding none beyond these, and `--json` lists all of them from a second pass
 * over the headers, written as they come.
 */
const MARKS_HELD = 10_000;

/** `lwlog info`: one pass over the headers, then a summary. */
export async function runInfo(ctx: CommandContext, path: string, opts: InfoOptions): Promise<number> {
  const log = await LogFile.open(path);
  try {
    const { summary, markCount } = scanLog(log, MARKS_HELD);
    if (!opts.json) {
      ctx.io.stdout.write(formatSummary(summary, markCount));
    } else if (markCount === summary.marks.length) {
      ctx.io.stdout.write(JSON.stringify(summary, null, 2) + "\n");
    } else {
      // The same text as JSON.stringify(summary, null, 2), the marks streamed in from a second pass.
      const text = JSON.stringify({ ...summary, marks: [] }, null, 2) + "\n";
      const at = text.indexOf('\n  "marks": []') + '\n  "marks": ['.length;
      const out = new Output(ctx.io.stdout);
      const put = async (t: string) => {
        const p = out.write(t);
        if (p !== undefined) await p;
      };
      await put(text.slice(0, at));
      let first = true;
      for (const m of eachInfoMark(log)) {
        if (out.closed) break;
        await put((first ? "\n    " : ",\n    ") + JSON.stringify(m, null, 2).replaceAll("\n", "\n    "));
        first = false;
      }
      await put("\n  " + text.slice(at));
      await out.flush();
    }
    return 0;
  } finally {
    log.close();
  }
}

/** Every mark of the log, the tail's too, from a pass over the headers (the marks of `scanLog`). */
function* eachInfoMark(log: LogFile): Generator<InfoMark> {
  const cursor = log.cursor({ tail: true });
  for (let s = cursor.skim(); s !== undefined; s = cursor.skim()) {
    if (s.kind === "mark") yield infoMark(s.entry!);
  }
}

function infoMark(e: LogEntry): InfoMark {
  const m: InfoMark = { name: e.mark!, entry: e.index, offset: e.offset, tail: e.tail };
  if (!isExactText(e.markBytes!)) m.markBase64 = Buffer.from(e.markBytes!).toString("base64");
  return m;
}

/**
 * Reads every header once (no data) and sums the log up. Strict: a broken declared entry
 * throws its `LogFormatError`; past the declared count, the scan stops at the first header
 * that is not a valid entry (garbage after the log is not an error).
 *
 * The scan uses the cursor's `skim()`, which hands out numbers rather than an entry object
 * per header; sector sums stay in numbers while they are exact and move to bigints past 2^53.
 */
export function summarizeLog(log: LogFile): LogSummary {
  return scanLog(log, Infinity).summary;
}

/** `summarizeLog` holding at most `maxMarks` marks; `markCount` counts them all. */
function scanLog(log: LogFile, maxMarks: number): { summary: LogSummary; markCount: number } {
  const S = log.sectorSize;
  let markCount = 0;
  const counts = emptyCounts();
  const tailCounts = emptyCounts();
  const marks: InfoMark[] = [];
  let found = 0;
  let tail = 0;
  let dataBytes = 0;
  // Lowest sector touched, one past the highest touched, one past the highest written.
  let lowest = Infinity;
  let touchedEnd = 0;
  let writtenEnd = 0;
  let wide: { lowest: bigint; touchedEnd: bigint; writtenEnd: bigint } | undefined;
  const cursor = log.cursor({ tail: true });
  for (let s = cursor.skim(); s !== undefined; s = cursor.skim()) {
    found += 1;
    if (s.kind === "mark" && markCount++ < maxMarks) marks.push(infoMark(s.entry!));
    const hasLength = s.nrSectors !== 0;
    if (s.tail) {
      tail += 1;
      countEntry(tailCounts, s.knownFlags, s.unknownFlags, hasLength);
      continue;
    }
    countEntry(counts, s.knownFlags, s.unknownFlags, hasLength);
    if (!hasLength || s.kind === "mark") continue; // flushes and marks touch no sector
    dataBytes += s.dataSize;
    const end = s.sector + s.nrSectors;
    if (s.sector >= 0 && s.nrSectors >= 0 && end <= Number.MAX_SAFE_INTEGER) {
      if (s.sector < lowest) lowest = s.sector;
      if (end > touchedEnd) touchedEnd = end;
      if (s.dataSize > 0 && end > writtenEnd) writtenEnd = end;
    } else {
      // Beyond 2^53: only a corrupt or absurd entry gets here; keep it exact.
      const e = s.entry ?? log.entryAt(s.index, s.offset);
      const bigEnd = e.sector + e.nrSectors;
      wide ??= { lowest: e.sector, touchedEnd: 0n, writtenEnd: 0n };
      if (e.sector < wide.lowest) wide.lowest = e.sector;
      if (bigEnd > wide.touchedEnd) wide.touchedEnd = bigEnd;
      if (s.dataSize > 0 && bigEnd > wide.writtenEnd) wide.writtenEnd = bigEnd;
    }
  }
  const end = cursor.end!;
  const summaryEnd: LogSummary["end"] = { reason: end.reason, offset: end.offset, trailingBytes: log.size - end.offset };
  if (end.detail !== undefined) summaryEnd.detail = end.detail;
  const touched = lowest !== Infinity || wide !== undefined;
  let low = lowest === Infinity ? undefined : BigInt(lowest);
  let high = BigInt(touchedEnd);
  let written = BigInt(writtenEnd);
  if (wide !== undefined) {
    if (low === undefined || wide.lowest < low) low = wide.lowest;
    if (wide.touchedEnd > high) high = wide.touchedEnd;
    if (wide.writtenEnd > written) written = wide.writtenEnd;
  }
  const bigS = BigInt(S);
  const summary: LogSummary = {
    file: log.path,
    fileBytes: log.size,
    version: Number(log.super.version),
    sectorSize: S,
    declaredEntries: u64ToJson(log.super.nrEntries),
    entries: found,
    tailEntries: tail,
    counts,
    tailCounts,
    dataBytes,
    lowestSector: touched ? u64ToJson(low!) : null,
    highestSector: touched ? u64ToJson(high - 1n) : null,
    imageBytes: u64ToJson(high * bigS),
    maxByte: u64ToJson(written * bigS),
    marks,
    end: summaryEnd,
  };
  return { summary, markCount };
}

const MARKS_SHOWN = 20;
const NAME_SHOWN = 60;

/** The text form of a summary: one fact per line, then the marks. */
export function formatSummary(s: LogSummary, markCount = s.marks.length): string {
  const c = s.counts;
  const lines: [string, string][] = [
    ["log", `${s.file}, ${bytes(s.fileBytes)}`],
    ["version", String(s.version)],
    ["sector size", `${s.sectorSize} bytes`],
    ["declared", `${s.declaredEntries} entries`],
    ["found", `${s.entries} entries, ${s.tailEntries} of them in the tail past the declared count`],
    [
      "kinds",
      `${c.write} write, ${c.flush} flush, ${c.fua} fua, ${c.discard} discard, ${c.mark} mark, ${c.metadata} metadata` +
        ` (${c.none} with no flags${c.unknown > 0 ? `, ${c.unknown} with unknown flags` : ""})`,
    ],
  ];
  if (s.tailEntries > 0) {
    const t = s.tailCounts;
    lines.push(["tail kinds", `${t.write} write, ${t.flush} flush, ${t.fua} fua, ${t.discard} discard, ${t.mark} mark, ${t.metadata} metadata`]);
  }
  lines.push(["data", `${bytes(s.dataBytes)} written`]);
  if (s.lowestSector === null) lines.push(["sectors", "none written or discarded"]);
  else {
    lines.push(["sectors", `${s.lowestSector} to ${s.highestSector}: an image of at least ${bytes(s.imageBytes)}`]);
    lines.push(["written up to", `byte ${s.maxByte}`]);
  }
  lines.push(["end", describeEnd(s)]);
  lines.push(["marks", String(markCount)]);
  const width = Math.max(...lines.map(([k]) => k.length));
  let out = lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n";
  if (markCount > 0) {
    const shown = s.marks.slice(0, MARKS_SHOWN);
    const w1 = Math.max(5, ...shown.map((m) => String(m.entry).length));
    const w2 = Math.max(6, ...shown.map((m) => String(m.offset).length));
    out += `  ${"ENTRY".padStart(w1)}  ${"OFFSET".padStart(w2)}  NAME\n`;
    for (const m of shown) out += `  ${String(m.entry).padStart(w1)}  ${String(m.offset).padStart(w2)}  ${shortName(m.name)}${m.tail ? "  (tail)" : ""}\n`;
    if (markCount > shown.length) out += `  … and ${markCount - shown.length} more (lwlog marks lists them all)\n`;
  }
  return out;
}

/** A mark name cut to one line's worth (`lwlog marks` prints names whole). */
function shortName(name: string): string {
  const p = printableName(name);
  return p.length <= NAME_SHOWN ? p : `${p.slice(0, NAME_SHOWN - 1)}… (${name.length} characters)`;
}

function describeEnd(s: LogSummary): string {
  const e = s.end;
  switch (e.reason) {
    case "eof":
      return `the file ends with the last entry, at byte ${e.offset}`;
    case "invalid":
      return `${e.trailingBytes} bytes after the last entry (at byte ${e.offset}) are not an entry: ${e.detail ?? "not a valid header"}`;
    case "truncated":
      return `an entry at byte ${e.offset} is cut short by the end of the file (${e.detail ?? ""})`;
    default:
      return `stopped at byte ${e.offset}`;
  }
}

function bytes(n: number | string): string {
  return Number(n) < 1024 ? `${n} bytes` : `${humanBytes(Number(n))} (${n} bytes)`;
}
