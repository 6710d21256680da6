import { ErrorCodes, LogFormatError, LwlogError } from "./errors.js";
import { firstNonZero } from "./bytes.js";
import { isExactText } from "./entry.js";
import { LogFile } from "./reader.js";
import { u64ToJson } from "./json-shape.js";

/**
 * Validation of a whole log: every problem of the superblock, each header, data extents,
 * mark names and the tail, each with its severity, entry index and byte offset. `lwlog
 * check` prints it; `convert --fix-superblock` runs it on the log it wrote before keeping it.
 */

/** How many problems `checkLog` lists by default (the rest are counted). */
const DEFAULT_MAX_PROBLEMS = 100;

/**
 * How bad a problem is. `error`: the log is invalid (a reader must not trust it past this
 * point, or an entry breaks the format). `warning`: odd, but readable as the writers meant
 * it. `note`: worth knowing, normal for some writers (a tail past the declared count).
 */
export type CheckSeverity = "error" | "warning" | "note";

/** One problem `check` found, where it applies with the entry index and the byte offset. */
export interface CheckProblem {
  severity: CheckSeverity;
  code: string;
  message: string;
  entry?: number;
  offset?: number;
}

/** What `lwlog check --json` prints. */
export interface CheckReport {
  file: string;
  /** True when no error was found (warnings and notes do not make a log invalid). */
  valid: boolean;
  /** Absent when the superblock could not be read. */
  sectorSize?: number;
  declaredEntries?: number | string;
  /** Entries walked: declared (valid or not) and tail. */
  entries: number;
  tailEntries: number;
  errors: number;
  warnings: number;
  notes: number;
  /** The first problems, in the order found (at most `--max-problems`). */
  problems: CheckProblem[];
  /** Problems found but not listed, beyond `--max-problems`. */
  omitted: number;
}

/** Problem codes `check` adds to the codec's. */
export const CheckCodes = {
  TAIL_ENTRIES: "LWLOG_TAIL_ENTRIES",
  UNUSED_SPACE: "LWLOG_UNUSED_SPACE",
  TRAILING_GARBAGE: "LWLOG_TRAILING_GARBAGE",
  TRUNCATED_TAIL: "LWLOG_TRUNCATED_TAIL",
  MARK_NOT_TEXT: "LWLOG_MARK_NOT_TEXT",
  EMPTY_MARK: "LWLOG_EMPTY_MARK",
  TARGET_RANGE: "LWLOG_TARGET_RANGE",
} as const;

/** Keeps the first `max` problems and counts every one, so a pathological log costs no memory. */
class ProblemList {
  readonly listed: CheckProblem[] = [];
  readonly count: Record<CheckSeverity, number> = { error: 0, warning: 0, note: 0 };
  omitted = 0;
  constructor(private readonly max: number) {}

  add(p: CheckProblem): void {
    this.count[p.severity] += 1;
    if (this.max === 0 || this.listed.length < this.max) this.listed.push(p);
    else this.omitted += 1;
  }
}

const TWO_53 = 1n << 53n;
const TWO_64 = 1n << 64n;

/**
 * Checks a log from end to end and lists what is wrong. A superblock that cannot be read
 * is one error; a log file that cannot be opened (missing, a directory, no permission)
 * throws its `LogIoError`. Never throws for bad bytes.
 */
export async function checkLog(path: string, maxProblems = DEFAULT_MAX_PROBLEMS): Promise<CheckReport> {
  const list = new ProblemList(maxProblems);
  let log: LogFile;
  try {
    log = await LogFile.open(path);
  } catch (err) {
    if (!(err instanceof LogFormatError)) throw err;
    list.add(problem("error", err));
    return report(path, list, { entries: 0, tail: 0 });
  }
  try {
    const counts = walk(log, list);
    return report(log.path, list, counts, log);
  } finally {
    log.close();
  }
}

/** The problem for a codec error, with its entry and offset. */
function problem(severity: CheckSeverity, err: LwlogError): CheckProblem {
  const p: CheckProblem = { severity, code: err.code, message: err.message };
  if (err.entry !== undefined) p.entry = err.entry;
  if (err.offset !== undefined) p.offset = err.offset;
  return p;
}

function walk(log: LogFile, list: ProblemList): { entries: number; tail: number } {
  const S = log.sectorSize;
  const bigS = BigInt(S);
  if (log.superPadding >= 0) {
    list.add({
      severity: "warning",
      code: ErrorCodes.SUPER_PADDING,
      message: `non-zero byte at ${log.superPadding} in the superblock sector after its fields (writers zero it)`,
      offset: log.superPadding,
    });
  }
  let entries = 0;
  let tail = 0;
  let firstTail = -1;
  const cursor = log.cursor({ lenient: true, tail: true });
  try {
    // skim() hands out an entry object only where there is something to look at: marks,
    // entries with problems, fields too wide for numbers. Clean entries cost nothing.
    for (let s = cursor.skim(); s !== undefined; s = cursor.skim()) {
      entries += 1;
      if (s.tail && tail++ === 0) firstTail = s.offset;
      const at = { entry: s.index, offset: s.offset };
      const e = s.entry;
      if (e !== undefined) {
        for (const p of e.problems) list.add({ severity: p.severity, code: p.code, message: p.message, ...at });
        if (e.kind === "mark") {
          const bytes = e.markBytes!;
          // A name whose length is already an error (LWLOG_BAD_MARK) is not also described as text.
          const badLength = e.problems.some((p) => p.severity === "error");
          if (bytes.length === 0) list.add({ severity: "warning", code: CheckCodes.EMPTY_MARK, message: "mark with an empty name", ...at });
          else if (!badLength && !isExactText(bytes)) {
            const shown = bytes.length > 96 ? `base64 of its first 96 bytes ${Buffer.from(bytes.subarray(0, 96)).toString("base64")}…` : `base64 ${Buffer.from(bytes).toString("base64")}`;
            list.add({
              severity: "warning",
              code: CheckCodes.MARK_NOT_TEXT,
              message: `mark name is not UTF-8 text without NULs (${bytes.length} bytes, ${shown}); look it up by its bytes`,
              ...at,
            });
          }
          continue;
        }
      }
      if (s.nrSectors === 0 || s.kind === "mark") continue;
      // Exact in numbers for any real device; bigints only when the end passes 2^53.
      if (s.sector >= 0 && s.nrSectors >= 0 && (s.sector + s.nrSectors) * S <= Number.MAX_SAFE_INTEGER) continue;
      const full = e ?? log.entryAt(s.index, s.offset);
      const end = (full.sector + full.nrSectors) * bigS;
      if (end > TWO_64) {
        list.add({
          severity: "error",
          code: CheckCodes.TARGET_RANGE,
          message: `${full.kind} of sectors ${full.sector}+${full.nrSectors} ends beyond 2^64 bytes on the target: no device has such offsets`,
          ...at,
        });
      } else if (end > TWO_53) {
        list.add({
          severity: "warning",
          code: CheckCodes.TARGET_RANGE,
          message: `${full.kind} ends at byte ${end} of the target, beyond 2^53 (8 PiB): lwlog cannot replay it`,
          ...at,
        });
      }
    }
  } catch (err) {
    // Lenient reading records bad bytes; what still throws is an I/O failure or a value
    // out of range: list it and stop, as the walk cannot go on.
    if (!(err instanceof LwlogError)) throw err;
    const p = problem("error", err);
    if (p.entry === undefined) p.entry = cursor.nextIndex;
    if (p.offset === undefined) p.offset = cursor.nextOffset;
    list.add(p);
    return { entries, tail };
  }
  const end = cursor.end!;
  if (end.reason === "error" && end.error !== undefined) list.add(problem("error", end.error));
  if (tail > 0) {
    list.add({
      severity: "note",
      code: CheckCodes.TAIL_ENTRIES,
      message: `${tail} valid ${tail === 1 ? "entry" : "entries"} past the ${log.declared} the superblock declares (written after its last update: normal for QEMU, a crash or no removal for the kernel)`,
      entry: entries - tail,
      offset: firstTail,
    });
  }
  const trailing = log.size - end.offset;
  if (end.reason === "invalid") {
    const block = new Uint8Array(S);
    log.readAt(block, end.offset);
    if (firstNonZero(block, 0, S) < 0) {
      list.add({
        severity: "note",
        code: CheckCodes.UNUSED_SPACE,
        message: `the log ends here; the ${trailing} bytes after it start with an empty header block (unused space)`,
        entry: end.index,
        offset: end.offset,
      });
    } else {
      list.add({
        severity: "warning",
        code: CheckCodes.TRAILING_GARBAGE,
        message: `the ${trailing} bytes after the last entry are not an entry (${end.detail ?? "not a valid header"}): stale data or garbage, not part of the log`,
        entry: end.index,
        offset: end.offset,
      });
    }
  } else if (end.reason === "truncated") {
    list.add({
      severity: "warning",
      code: CheckCodes.TRUNCATED_TAIL,
      message: `an entry past the declared count is cut short by the end of the file (${end.detail ?? "truncated"}): the writer stopped mid-write`,
      entry: end.index,
      offset: end.offset,
    });
  }
  return { entries, tail };
}

function report(file: string, list: ProblemList, counts: { entries: number; tail: number }, log?: LogFile): CheckReport {
  return {
    file,
    valid: list.count.error === 0,
    ...(log === undefined ? {} : { sectorSize: log.sectorSize, declaredEntries: u64ToJson(log.super.nrEntries) }),
    entries: counts.entries,
    tailEntries: counts.tail,
    errors: list.count.error,
    warnings: list.count.warning,
    notes: list.count.note,
    problems: list.listed,
    omitted: list.omitted,
  };
}

