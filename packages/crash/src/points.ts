import { PointNotFoundError } from "@lwlog/replay";
import { NoCrashPointsError } from "./errors.js";
import { KIND, type CrashLog } from "./log-table.js";

/** Where crashes are tried: before each FLUSH entry, after each FUA entry or mark, every N entries, or after every entry. */
export type PointRule = "flush" | "fua" | "mark" | "all" | { every: number };

/** Why a position is a crash point (`end`: the end of the log, or of `untilMark`, always is one). */
export type PointKind = "flush" | "fua" | "mark" | "every" | "all" | "end";

/**
 * A crash point: a position between entries. A crash there leaves a disk holding entries
 * `[0, flush)` (everything before the last FLUSH entry before the position: the durable
 * prefix), every FUA write and discard of `[flush, position)`, and any subset of the other writes and
 * discards of `[flush, position)` (the candidates), applied in log order.
 */
export interface CrashPoint {
  /** The position: the crash comes after entry `position - 1` and before entry `position`. */
  position: number;
  kinds: PointKind[];
  /** Index of the last FLUSH entry before the position (0 when there is none): entries before it are durable. */
  flush: number;
  /** Writes and discards of `[flush, position)` a crash may drop (not FUA, at least one byte). */
  candidates: number;
  /** Of the candidates, the units a torn state chooses from: sectors of each write, 1 for each discard. */
  units: number;
  /** FUA writes and discards of `[flush, position)`: always on the disk. */
  forced: number;
  /**
   * Later positions the rules asked for that this point stands for: only flushes (or no
   * entry at all) lie between, so every state a crash there could leave is a state of this
   * point (the prefix state: nothing can have been written but unflushed).
   */
  merged: number[];
}

/** Options of `choosePoints`. */
export interface PointOptions {
  rules: PointRule[];
  /** Only positions after the first mark of this name. */
  fromMark?: string;
  /** Only positions up to the first mark of this name (at or after the start), that mark's own position included. */
  untilMark?: string;
}

/** The range of positions the options allow: `[start, end]`, with `start ≥ 1`. */
export interface PointRange {
  start: number;
  end: number;
  /** The `fromMark`'s entry index, or -1. */
  fromMark: number;
  untilMark: number;
}

/** Works out `[start, end]` from the marks; a mark that is not in the log throws `PointNotFoundError`. */
export function pointRange(log: CrashLog, options: Pick<PointOptions, "fromMark" | "untilMark">): PointRange {
  let fromMark = -1;
  if (options.fromMark !== undefined) {
    fromMark = findMark(log, options.fromMark, 0);
    if (fromMark < 0) throw new PointNotFoundError(`no mark named ${JSON.stringify(options.fromMark)} to start after${markList(log)}`, { file: log.path });
  }
  const start = Math.max(1, fromMark + 1);
  let untilMark = -1;
  let end = log.count;
  if (options.untilMark !== undefined) {
    untilMark = findMark(log, options.untilMark, fromMark + 1);
    if (untilMark < 0) {
      const anywhere = findMark(log, options.untilMark, 0);
      const before = anywhere >= 0 ? `; the first one is at entry ${anywhere}, before the start` : "";
      throw new PointNotFoundError(`no mark named ${JSON.stringify(options.untilMark)} after entry ${fromMark}${before}${markList(log)}`, { file: log.path });
    }
    end = untilMark + 1;
  }
  return { start, end, fromMark, untilMark };
}

/**
 * The crash points of a log under `rules`, in log order, with what a crash at each may leave
 * (see `CrashPoint`). One pass over the log's columns; the end of the range is always a
 * point, even when the rules match nothing else (a log with no FLUSH after mkfs, say: a power
 * cut at its end may still lose any of its writes), and then `notes` gets what the rules
 * missed, with a hint from the log's counts. A position with only flushes since the point
 * before it is merged into that point. Throws `NoCrashPointsError` when the range holds no
 * position at all (an empty log).
 */
export function choosePoints(log: CrashLog, options: PointOptions, notes?: string[]): CrashPoint[] {
  const range = pointRange(log, options);
  const { start, end } = range;
  const wanted = new Map<number, PointKind[]>();
  const add = (p: number, kind: PointKind) => {
    if (p < start || p > end || p < 1) return;
    const k = wanted.get(p);
    if (k === undefined) wanted.set(p, [kind]);
    else if (!k.includes(kind)) k.push(kind);
  };
  const base = range.fromMark + 1;
  for (const rule of options.rules) {
    if (rule === "all") {
      for (let p = start; p <= end; p++) add(p, "all");
    } else if (typeof rule === "object") {
      for (let p = base + rule.every; p <= end; p += rule.every) add(p, "every");
    } else {
      for (let i = Math.max(0, start - 1); i < end; i++) {
        if (rule === "flush" && log.isFlush(i)) add(i, "flush");
        else if (rule === "fua" && log.isFua(i)) add(i + 1, "fua");
        else if (rule === "mark" && log.kinds[i] === KIND.mark && i > range.fromMark) add(i + 1, "mark");
      }
    }
  }
  const matched = wanted.size;
  add(end, "end");
  if (wanted.size === 0) throw new NoCrashPointsError("the log has no entry: there is no crash point", { file: log.path });
  const positions = [...wanted.keys()].sort((a, b) => a - b);
  const points: CrashPoint[] = [];
  // One walk: the last flush, and the candidates, units and FUA entries since it; and
  // whether anything but flushes lies between this position and the previous point.
  let flush = 0;
  let candidates = 0;
  let units = 0;
  let forced = 0;
  let changed = true;
  let i = 0;
  const S = log.sectorSize;
  for (const p of positions) {
    for (; i < p; i++) {
      if (log.isFlush(i)) {
        flush = i;
        candidates = 0;
        units = 0;
        forced = 0;
      }
      const k = log.kinds[i];
      if (k === KIND.mark) changed = true;
      if (!log.isRanged(i)) continue;
      changed = true;
      if (log.isFua(i)) forced += 1;
      else {
        candidates += 1;
        units += k === KIND.write ? log.lengths[i]! / S : 1;
      }
    }
    const last = points[points.length - 1];
    if (last !== undefined && !changed) {
      // Only flushes (or nothing) since the last point: every state here is one of its states.
      last.merged.push(p);
      for (const k of wanted.get(p)!) if (!last.kinds.includes(k)) last.kinds.push(k);
      continue;
    }
    changed = false;
    points.push({ position: p, kinds: wanted.get(p)!, flush, candidates, units, forced, merged: [] });
  }
  if (matched === 0) notes?.push(unmatchedNote(log, options, range, points[points.length - 1]!));
  return points;
}

/**
 * The entries a crash at `point` may drop, in log order: writes and discards of
 * `[point.flush, point.position)` that are not FUA.
 */
export function candidatesOf(log: CrashLog, point: { flush: number; position: number }): Int32Array {
  let n = 0;
  for (let i = point.flush; i < point.position; i++) if (log.isRanged(i) && !log.isFua(i)) n++;
  const out = new Int32Array(n);
  n = 0;
  for (let i = point.flush; i < point.position; i++) if (log.isRanged(i) && !log.isFua(i)) out[n++] = i;
  return out;
}

/** Index of the last FLUSH entry before `position`, or 0. */
export function flushBefore(log: CrashLog, position: number): number {
  for (let i = position - 1; i >= 0; i--) if (log.isFlush(i)) return i;
  return 0;
}

/** The rules as the command line writes them (`flush,every:8`). */
export function formatRules(rules: readonly PointRule[]): string {
  return rules.map((r) => (typeof r === "object" ? `every:${r.every}` : r)).join(",");
}

function findMark(log: CrashLog, name: string, from: number): number {
  for (const m of log.marks) if (m.index >= from && m.name === name) return m.index;
  return -1;
}

function markList(log: CrashLog): string {
  if (log.marks.length === 0) return " (the log has no marks)";
  const names = [...new Set(log.marks.map((m) => m.name))].slice(0, 8).map((n) => JSON.stringify(n.length > 40 ? n.slice(0, 40) + "…" : n));
  return ` (marks: ${names.join(", ")}${log.marks.length > 8 ? ", …" : ""})`;
}

/**
 * What rules that matched nothing missed, and what the run does instead: `--points fua matched
 * no position after mark "mkfs" (0 FUA entries, 26 FLUSH entries, 4 marks, 80 positions
 * there): the end of the log is the only crash point …; try --points flush for more`.
 */
function unmatchedNote(log: CrashLog, options: PointOptions, range: PointRange, end: CrashPoint): string {
  let flushes = 0;
  let fuas = 0;
  let marks = 0;
  for (let i = Math.max(0, range.start - 1); i < range.end; i++) {
    if (log.isFlush(i)) flushes++;
    if (log.isFua(i)) fuas++;
    if (log.kinds[i] === KIND.mark && i > range.fromMark) marks++;
  }
  const where = [
    options.fromMark !== undefined ? `after mark ${JSON.stringify(options.fromMark)}` : "",
    options.untilMark !== undefined ? `up to mark ${JSON.stringify(options.untilMark)}` : "",
  ]
    .filter(Boolean)
    .join(" ");
  const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
  const counts = `${n(fuas, "FUA entry", "FUA entries")}, ${n(flushes, "FLUSH entry", "FLUSH entries")}, ${n(marks, "mark", "marks")}, ${n(Math.max(0, range.end - range.start + 1), "position", "positions")} there`;
  const hint = flushes > 0 ? "try --points flush" : fuas > 0 ? "try --points fua" : marks > 0 ? "try --points mark" : "try --points every:N";
  const endName = options.untilMark !== undefined ? `the end of the range (mark ${JSON.stringify(options.untilMark)}, entry ${end.position - 1})` : `the end of the log (after entry ${end.position - 1})`;
  const since = end.flush > 0 || log.isFlush(0) ? `since the FLUSH at entry ${end.flush}` : "in the log (it has no FLUSH before it)";
  const what =
    end.candidates > 0
      ? `where a power cut may lose any of the ${n(end.candidates, "write or discard", "writes and discards")} ${since} that are not FUA`
      : `where nothing ${since} can be lost (its one state is the prefix)`;
  return `--points ${formatRules(options.rules)} matched no position${where ? ` ${where}` : ""} (${counts}): ${endName} is the only crash point, ${what}; ${hint} for more points`;
}
