import { LogFlags, LogFormatError, type LogEntry, type LogFile, type LogIndex } from "@lwlog/codec/core";
import { PointNotFoundError } from "./errors.js";

/** Where a replay starts: after a mark, or at an entry (default: the first entry). */
export interface StartPoint {
  /** Start right after the first mark of this name. */
  mark?: string;
  /** Start at this entry (0-based). */
  entry?: number;
}

/**
 * Where a replay stops. Every given condition is a candidate and the earliest one wins
 * (as replay-log ORs its stop flags); each is inclusive: the entry that meets it is applied.
 */
export interface StopPoints {
  /** The first mark of this name at or after the start. It must exist. */
  mark?: string;
  /** This entry (inclusive). It must exist and not be before the start. */
  entry?: number;
  /** The first entry with the FLUSH flag at or after the start. */
  nextFlush?: boolean;
  /** The first entry with the FUA flag at or after the start. */
  nextFua?: boolean;
  /** At most this many entries from the start point. */
  limit?: number;
}

/** An inclusive range of target sectors (units of the log's sector size). */
export interface SectorRange {
  from: bigint;
  to: bigint;
}

/** What `planReplay` needs to know. */
export interface PlanOptions {
  from?: StartPoint;
  until?: StopPoints;
  /** Replay entries past the declared count too (default false: they are only counted). */
  tail?: boolean;
  /** Only writes and discards that touch this range are applied. */
  sectors?: SectorRange;
  /** Discards are skipped rather than zeroed (they then need no room on the target). */
  skipDiscards?: boolean;
  /**
   * An index of the log (`LogIndex.build`): start and stop points are then lookups, and only
   * the headers from the start to the stop are read, not every header from the first. For
   * callers that replay one log many times.
   */
  index?: LogIndex;
  /** With `index`: also walk the whole log for `logExtent` (`size: "auto"`); default false (0). */
  extent?: boolean;
}

/** Why a replay stops where it does. */
export type StopReason = "mark" | "entry" | "flush" | "fua" | "limit" | "end" | "broken";

/** The outcome of one header pass over the log: what will be replayed, and what it needs. */
export interface ReplayPlan {
  /** First entry to replay, and the log offset of its header block. */
  start: number;
  startOffset: number;
  /** Last entry to replay (inclusive); `start - 1` when there is nothing to replay. */
  stop: number;
  stopReason: StopReason;
  /** Entries from `start` to `stop`. */
  entries: number;
  /** Log bytes those entries span (headers and data). */
  logBytes: number;
  /** One past the highest target byte the replay writes or zeroes (0 when none). */
  needBytes: number;
  /** One past the highest target byte any write or discard of the log reaches (declared entries, plus the tail with `tail`): `--size auto`. */
  logExtent: number;
  /** Valid entries within the declared count, and past it. */
  declared: number;
  tailEntries: number;
  /** Where the log turns out broken, when it does at or before the stop point: entries before it are replayed, then this is raised. */
  broken?: LogFormatError;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Walks every header of the log once (never its data) and works out the replay: the start
 * entry and its offset (so the replay itself seeks straight there), the stop entry, the room
 * the target needs, and the tail. Start and stop points that do not exist are errors raised
 * here, before anything is written. Memory stays constant whatever the log's size.
 */
export function planReplay(log: LogFile, options: PlanOptions = {}): ReplayPlan {
  if (options.index !== undefined) return planWithIndex(log, options.index, options);
  const from = options.from ?? {};
  const until = options.until ?? {};
  const tailWanted = options.tail ?? false;
  if (from.mark !== undefined && from.entry !== undefined) throw new RangeError("give a start mark or a start entry, not both");
  let start: number | undefined = from.mark === undefined ? (from.entry ?? 0) : undefined;
  let startOffset = -1;
  // The first entry meeting each stop condition, with the room needed and the log offset after it.
  const hits = new Map<StopReason, Candidate>();
  let last: Candidate | undefined;
  let untilMarkBefore = -1;
  let untilMarkInTail = false;
  let need = 0n;
  let extent = 0n;
  let declared = 0;
  let tailEntries = 0;
  let broken: LogFormatError | undefined;
  const cursor = log.cursor({ tail: true, lenient: true });
  for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
    const bad = e.problems.find((p) => p.severity === "error");
    if (bad !== undefined) {
      broken = new LogFormatError(bad.code, bad.message, { file: log.path, entry: e.index, offset: e.offset });
      break;
    }
    if (e.tail) tailEntries += 1;
    else declared += 1;
    const eligible = !e.tail || tailWanted;
    if (!eligible) {
      if (until.mark !== undefined && e.kind === "mark" && e.mark === until.mark) untilMarkInTail = true;
      continue;
    }
    const reach = reachOf(e, log, options);
    if (reach !== undefined && reach.all > extent) extent = reach.all;
    if (start === undefined) {
      if (until.mark !== undefined && e.kind === "mark" && e.mark === until.mark && untilMarkBefore < 0) untilMarkBefore = e.index;
      if (e.kind === "mark" && e.mark === from.mark) start = e.index + 1;
      continue;
    }
    if (e.index < start) {
      if (until.mark !== undefined && e.kind === "mark" && e.mark === until.mark && untilMarkBefore < 0) untilMarkBefore = e.index;
      continue;
    }
    if (startOffset < 0) startOffset = e.offset;
    if (reach !== undefined && reach.applied > need) need = reach.applied;
    last = { index: e.index, next: e.nextOffset, need };
    for (const reason of stopReasons(e, start, until)) if (!hits.has(reason)) hits.set(reason, last);
  }
  const end = cursor.end;
  if (broken === undefined && end?.reason === "error" && end.error !== undefined) broken = end.error;
  const where = broken ? ` (the log is readable only up to entry ${broken.entry}: ${broken.message})` : "";
  const total = declared + tailEntries;
  const span = tailWanted ? total : declared;
  const tailHint = " (it is past the declared entries: add --tail)";

  if (start === undefined) {
    throw new PointNotFoundError(`no mark named ${JSON.stringify(from.mark)} to start after${where}`, { file: log.path });
  }
  if (from.entry !== undefined && start >= span) {
    throw new PointNotFoundError(`no entry ${start} to start at: the log has ${span} entries${start < total ? tailHint : ""}${where}`, { file: log.path });
  }
  if (until.entry !== undefined && until.entry < start) {
    throw new PointNotFoundError(`stop entry ${until.entry} is before the start entry ${start}`, { file: log.path });
  }
  if (until.mark !== undefined && !hits.has("mark")) {
    const before = untilMarkBefore >= 0 ? `; the first one is at entry ${untilMarkBefore}, before the start` : "";
    throw new PointNotFoundError(
      `no mark named ${JSON.stringify(until.mark)} at or after entry ${start}${untilMarkInTail ? tailHint : ""}${before}${where}`,
      { file: log.path },
    );
  }
  if (until.entry !== undefined && !hits.has("entry")) {
    throw new PointNotFoundError(`no entry ${until.entry} to stop at: the log has ${span} entries${until.entry < total ? tailHint : ""}${where}`, { file: log.path });
  }
  const flagAsked = (until.nextFlush ?? false) || (until.nextFua ?? false);
  const othersAsked = until.mark !== undefined || until.entry !== undefined || until.limit !== undefined;
  if (flagAsked && !othersAsked && !hits.has("flush") && !hits.has("fua")) {
    const what = [until.nextFlush ? "FLUSH" : "", until.nextFua ? "FUA" : ""].filter(Boolean).join(" or ");
    throw new PointNotFoundError(`no ${what} entry at or after entry ${start}${where}`, { file: log.path });
  }
  let stopReason: StopReason = broken !== undefined ? "broken" : "end";
  let chosen: Candidate | undefined;
  for (const [reason, c] of hits) {
    if (chosen === undefined || c.index < chosen.index) {
      chosen = c;
      stopReason = reason;
    }
  }
  chosen ??= last;
  const stop = chosen?.index ?? start - 1;
  if (stopReason !== "broken") broken = undefined;
  const plan: ReplayPlan = {
    start,
    startOffset: startOffset >= 0 ? startOffset : (end?.offset ?? log.sectorSize),
    stop,
    stopReason,
    entries: Math.max(0, stop - start + 1),
    logBytes: chosen !== undefined && startOffset >= 0 ? chosen.next - startOffset : 0,
    needBytes: narrow(chosen?.need ?? 0n, log),
    logExtent: narrow(extent, log),
    declared,
    tailEntries,
  };
  if (broken !== undefined) plan.broken = broken;
  return plan;
}

interface Candidate {
  index: number;
  /** Log offset right after the entry. */
  next: number;
  /** Room the target needs for the replay up to this entry. */
  need: bigint;
}

/**
 * `planReplay` with an index: the start and every stop candidate are lookups; then one header
 * walk from the start to the stop works out the room the target needs.
 */
function planWithIndex(log: LogFile, index: LogIndex, options: PlanOptions): ReplayPlan {
  const from = options.from ?? {};
  const until = options.until ?? {};
  const tailWanted = options.tail ?? false;
  if (from.mark !== undefined && from.entry !== undefined) throw new RangeError("give a start mark or a start entry, not both");
  const span = tailWanted ? index.length : index.declared;
  const broken = index.end.reason === "error" ? index.end.error : undefined;
  const where = broken ? ` (the log is readable only up to entry ${broken.entry}: ${broken.message})` : "";
  const tailHint = " (it is past the declared entries: add --tail)";
  let start = from.entry ?? 0;
  if (from.mark !== undefined) {
    const at = index.findMark(from.mark);
    if (at < 0 || at >= span) throw new PointNotFoundError(`no mark named ${JSON.stringify(from.mark)} to start after${at >= 0 ? tailHint : ""}${where}`, { file: log.path });
    start = at + 1;
  } else if (from.entry !== undefined && start >= span) {
    throw new PointNotFoundError(`no entry ${start} to start at: the log has ${span} entries${start < index.length ? tailHint : ""}${where}`, { file: log.path });
  }
  if (until.entry !== undefined && until.entry < start) {
    throw new PointNotFoundError(`stop entry ${until.entry} is before the start entry ${start}`, { file: log.path });
  }
  const within = (i: number) => (i >= start && i < span ? i : -1);
  const hits: [StopReason, number][] = [];
  if (until.mark !== undefined) {
    const at = within(index.findMark(until.mark, start));
    if (at < 0) {
      const anywhere = index.findMark(until.mark);
      const before = anywhere >= 0 && anywhere < start ? `; the first one is at entry ${anywhere}, before the start` : "";
      const inTail = index.findMark(until.mark, start) >= span ? tailHint : "";
      throw new PointNotFoundError(`no mark named ${JSON.stringify(until.mark)} at or after entry ${start}${inTail}${before}${where}`, { file: log.path });
    }
    hits.push(["mark", at]);
  }
  if (until.entry !== undefined) {
    if (within(until.entry) < 0) {
      throw new PointNotFoundError(`no entry ${until.entry} to stop at: the log has ${span} entries${until.entry < index.length ? tailHint : ""}${where}`, { file: log.path });
    }
    hits.push(["entry", until.entry]);
  }
  if (until.nextFlush) {
    const at = within(index.findNext(LogFlags.FLUSH, start));
    if (at >= 0) hits.push(["flush", at]);
  }
  if (until.nextFua) {
    const at = within(index.findNext(LogFlags.FUA, start));
    if (at >= 0) hits.push(["fua", at]);
  }
  if (until.limit !== undefined && start + until.limit - 1 < span) hits.push(["limit", start + until.limit - 1]);
  if ((until.nextFlush || until.nextFua) && hits.length === 0 && until.limit === undefined) {
    const what = [until.nextFlush ? "FLUSH" : "", until.nextFua ? "FUA" : ""].filter(Boolean).join(" or ");
    throw new PointNotFoundError(`no ${what} entry at or after entry ${start}${where}`, { file: log.path });
  }
  let stop = span - 1;
  let stopReason: StopReason = broken !== undefined ? "broken" : "end";
  for (const [reason, at] of hits) {
    if (at < stop || (at === stop && (stopReason === "end" || stopReason === "broken"))) {
      stop = at;
      stopReason = reason;
    }
  }
  // The room needed: one walk over the headers from the start to the stop (and on to the end for the extent).
  let need = 0n;
  let extent = 0n;
  let stopNext = -1;
  const walkTo = options.extent ? span - 1 : stop;
  const startOffset = start < index.length ? index.offsetOf(start) : index.end.offset;
  if (start <= walkTo) {
    const c = log.cursor({ start: { index: start, offset: startOffset }, tail: true });
    for (let e = c.next(); e !== undefined && e.index <= walkTo; e = c.next()) {
      const reach = reachOf(e, log, options);
      if (reach !== undefined && reach.all > extent) extent = reach.all;
      if (e.index <= stop) {
        if (reach !== undefined && reach.applied > need) need = reach.applied;
        if (e.index === stop) stopNext = e.nextOffset;
      }
    }
  }
  if (options.extent && start > 0) {
    // Entries before the start count for the image size too.
    const c = log.cursor({ tail: true });
    for (let e = c.next(); e !== undefined && e.index < start; e = c.next()) {
      const reach = reachOf(e, log, options);
      if (reach !== undefined && reach.all > extent) extent = reach.all;
    }
  }
  const plan: ReplayPlan = {
    start,
    startOffset,
    stop: Math.max(stop, start - 1),
    stopReason,
    entries: Math.max(0, stop - start + 1),
    logBytes: stop >= start ? stopNext - startOffset : 0,
    needBytes: narrow(need, log),
    logExtent: narrow(extent, log),
    declared: index.declared,
    tailEntries: index.tail,
  };
  if (stopReason === "broken" && broken !== undefined) plan.broken = broken;
  return plan;
}

/** Every stop condition entry `e` meets. */
function stopReasons(e: LogEntry, start: number, until: StopPoints): StopReason[] {
  const out: StopReason[] = [];
  if (until.mark !== undefined && e.kind === "mark" && e.mark === until.mark) out.push("mark");
  if (until.entry !== undefined && e.index === until.entry) out.push("entry");
  if (until.nextFlush && (e.flags & LogFlags.FLUSH) !== 0n) out.push("flush");
  if (until.nextFua && (e.flags & LogFlags.FUA) !== 0n) out.push("fua");
  if (until.limit !== undefined && e.index - start + 1 === until.limit) out.push("limit");
  return out;
}

/** One past the last target byte of a write or discard: `all` for any, `applied` when the replay applies it. */
function reachOf(e: LogEntry, log: LogFile, options: PlanOptions): { all: bigint; applied: bigint } | undefined {
  if (e.kind !== "write" && e.kind !== "discard") return undefined;
  const all = (e.sector + e.nrSectors) * BigInt(log.sectorSize);
  if (all > MAX_SAFE) {
    throw new LogFormatError("LWLOG_RANGE", `${e.kind} reaches target byte ${all}, beyond 2^53`, { file: log.path, entry: e.index, offset: e.offset });
  }
  let applied = all;
  if (e.kind === "discard" && options.skipDiscards) applied = 0n;
  if (options.sectors !== undefined && !touches(e, options.sectors)) applied = 0n;
  return { all, applied };
}

/** True when the entry's sectors overlap the inclusive range (an entry with no sectors never does). */
export function touches(e: { sector: bigint; nrSectors: bigint }, range: SectorRange): boolean {
  if (e.nrSectors === 0n) return false;
  return e.sector <= range.to && e.sector + e.nrSectors - 1n >= range.from;
}

function narrow(v: bigint, log: LogFile): number {
  if (v > MAX_SAFE) throw new LogFormatError("LWLOG_RANGE", `target byte ${v} is beyond 2^53`, { file: log.path });
  return Number(v);
}
