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
  /** What `sectors` filters (see `SectorFilter`; default `all`). */
  sectorFilter?: SectorFilter;
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

/**
 * What a sector range filters: `all` (writes and discards alike), or `writes` only, discards
 * being applied wherever they are, as xfstests' replay-log does with `--start-sector` and
 * `--end-sector`.
 */
export type SectorFilter = "all" | "writes";

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
const FLUSH = Number(LogFlags.FLUSH);
const FUA = Number(LogFlags.FUA);

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
  let lastIndex = -1;
  let lastNext = -1;
  let lastNeed = 0;
  let untilMarkBefore = -1;
  let untilMarkInTail = false;
  let need = 0;
  let extent = 0;
  let declared = 0;
  let tailEntries = 0;
  let broken: LogFormatError | undefined;
  // skim(): no LogEntry is built for plain entries; marks and entries with problems come whole.
  const cursor = log.cursor({ tail: true, lenient: true });
  for (let sum = cursor.skim(); sum !== undefined; sum = cursor.skim()) {
    const e = sum.entry;
    const bad = e?.problems.find((p) => p.severity === "error");
    if (bad !== undefined) {
      broken = new LogFormatError(bad.code, bad.message, { file: log.path, entry: sum.index, offset: sum.offset });
      break;
    }
    const mark = e?.mark;
    if (sum.tail) tailEntries += 1;
    else declared += 1;
    const eligible = !sum.tail || tailWanted;
    if (!eligible) {
      if (until.mark !== undefined && mark === until.mark) untilMarkInTail = true;
      continue;
    }
    const reach = reachOf(e ?? sum, log, options);
    if (reach !== undefined && reach.all > extent) extent = reach.all;
    if (start === undefined) {
      if (until.mark !== undefined && mark === until.mark && untilMarkBefore < 0) untilMarkBefore = sum.index;
      if (mark !== undefined && mark === from.mark) start = sum.index + 1;
      continue;
    }
    if (sum.index < start) {
      if (until.mark !== undefined && mark === until.mark && untilMarkBefore < 0) untilMarkBefore = sum.index;
      continue;
    }
    if (startOffset < 0) startOffset = sum.offset;
    if (reach !== undefined && reach.applied > need) need = reach.applied;
    const flags = e !== undefined ? Number(e.flags & 0x1fn) : sum.knownFlags;
    const reasons = stopReasons(sum.index, mark, flags, start, until);
    lastIndex = sum.index;
    lastNext = sum.nextOffset;
    lastNeed = need;
    for (const reason of reasons) if (!hits.has(reason)) hits.set(reason, { index: sum.index, next: sum.nextOffset, need });
  }
  const last: Candidate | undefined = lastIndex >= 0 ? { index: lastIndex, next: lastNext, need: lastNeed } : undefined;
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
    needBytes: chosen?.need ?? 0,
    logExtent: extent,
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
  need: number;
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
  let need = 0;
  let extent = 0;
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
    needBytes: need,
    logExtent: extent,
    declared: index.declared,
    tailEntries: index.tail,
  };
  if (stopReason === "broken" && broken !== undefined) plan.broken = broken;
  return plan;
}

/** Every stop condition entry `index` (with this mark name and these flag bits) meets. */
function stopReasons(index: number, mark: string | undefined, flags: number, start: number, until: StopPoints): StopReason[] {
  const out: StopReason[] = [];
  if (until.mark !== undefined && mark === until.mark) out.push("mark");
  if (until.entry !== undefined && index === until.entry) out.push("entry");
  if (until.nextFlush && (flags & FLUSH) !== 0) out.push("flush");
  if (until.nextFua && (flags & FUA) !== 0) out.push("fua");
  if (until.limit !== undefined && index - start + 1 === until.limit) out.push("limit");
  return out;
}

/** The fields `reachOf` reads: a `LogEntry` (bigint sectors) or a skim summary (numbers). */
interface Reaching {
  index: number;
  offset: number;
  kind: string;
  sector: bigint | number;
  nrSectors: bigint | number;
}

/** One past the last target byte of a write or discard: `all` for any, `applied` when the replay applies it. */
function reachOf(e: Reaching, log: LogFile, options: PlanOptions): { all: number; applied: number } | undefined {
  if (e.kind !== "write" && e.kind !== "discard") return undefined;
  const S = log.sectorSize;
  let all: number;
  if (typeof e.sector === "bigint" || typeof e.nrSectors === "bigint") {
    const big = (BigInt(e.sector) + BigInt(e.nrSectors)) * BigInt(S);
    all = big > MAX_SAFE ? Infinity : Number(big);
  } else {
    all = (e.sector + e.nrSectors) * S;
  }
  if (!Number.isSafeInteger(all)) {
    throw new LogFormatError("LWLOG_RANGE", `${e.kind} reaches past target byte 2^53`, { file: log.path, entry: e.index, offset: e.offset });
  }
  let applied = all;
  if (e.kind === "discard" && options.skipDiscards) applied = 0;
  if (subjectToSectors(e.kind, options) && !touches({ sector: BigInt(e.sector), nrSectors: BigInt(e.nrSectors) }, options.sectors!)) applied = 0;
  return { all, applied };
}

/** True when an entry of this kind is subject to `options.sectors` (there is one, and `sectorFilter` covers the kind). */
export function subjectToSectors(kind: string, options: { sectors?: SectorRange; sectorFilter?: SectorFilter }): boolean {
  return options.sectors !== undefined && (kind !== "discard" || options.sectorFilter !== "writes");
}

/** True when the entry's sectors overlap the inclusive range (an entry with no sectors never does). */
export function touches(e: { sector: bigint; nrSectors: bigint }, range: SectorRange): boolean {
  if (e.nrSectors === 0n) return false;
  return e.sector <= range.to && e.sector + e.nrSectors - 1n >= range.from;
}
