import { LogFlags, LogFormatError, MarkNames, missingMarkHint, type EntrySummary, type LogFile, type LogIndex, type ReadEnd } from "@lwlog/codec/core";
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
   * Walk every header to the end of the log, past the stop point (default false: the walk
   * ends at the stop point). Needed for `logExtent` over the whole log (`size: "auto"`) and
   * for `declared` and `tailEntries`, which are `null` in a plan that stopped early.
   */
  walkAll?: boolean;
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
  /**
   * One past the highest target byte any write or discard walked reaches (0 when none): of
   * the whole log (declared entries, plus the tail with `tail`) when it was walked to its end
   * (`walkAll`, or no stop point), for `--size auto`.
   */
  logExtent: number;
  /** Valid entries within the declared count, and past it; `null` when the walk stopped before the end. */
  declared: number | null;
  tailEntries: number | null;
  /** Where the log turns out broken, when it does at or before the stop point: entries before it are replayed, then this is raised. */
  broken?: LogFormatError;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const FLUSH = Number(LogFlags.FLUSH);
const FUA = Number(LogFlags.FUA);

/** What `PlanWalk.feed` says of an entry. */
export const FED = {
  /** Not replayed: before the start, past the stop, in the tail without `tail`, or broken. */
  out: 0,
  /** Replayed. */
  in: 1,
  /** Replayed, and the stop point: the last entry replayed. */
  stop: 2,
} as const;

/**
 * The planning of a replay, one entry at a time, so that a caller walking the headers for its
 * own reasons (the compacting replay records each entry's effect as it goes) plans in the same
 * pass. Invariants: entries are fed in log order from entry 0 (all of them, tail included);
 * `done` turns true at the stop point (unless `walkAll`) or at a broken entry, and then the
 * walk may end; nothing is decided about a missing point until `finish`.
 */
export class PlanWalk {
  /** True when the walk may end: the stop point was fed (and not `walkAll`), or a broken entry. */
  done = false;
  private readonly log: LogFile;
  private readonly options: PlanOptions;
  private readonly from: StartPoint;
  private readonly until: StopPoints;
  private readonly tailWanted: boolean;
  private start: number | undefined;
  private startOffset = -1;
  private stopAt: Candidate | undefined;
  private stopReason: StopReason = "end";
  private last: Candidate | undefined;
  private untilMarkBefore = -1;
  private untilMarkInTail = false;
  private need = 0;
  private extent = 0;
  private declared = 0;
  private tailEntries = 0;
  private broken: LogFormatError | undefined;
  /** For a start or stop mark that is not there: the names to suggest and list instead. */
  private readonly markNames: MarkNames | undefined;
  private readonly reach: Reach = { all: 0, applied: 0 };

  constructor(log: LogFile, options: PlanOptions = {}) {
    this.log = log;
    this.options = options;
    this.from = options.from ?? {};
    this.until = options.until ?? {};
    this.tailWanted = options.tail ?? false;
    this.markNames = this.from.mark !== undefined || this.until.mark !== undefined ? new MarkNames() : undefined;
    if (this.from.mark !== undefined && this.from.entry !== undefined) throw new RangeError("give a start mark or a start entry, not both");
    this.start = this.from.mark === undefined ? (this.from.entry ?? 0) : undefined;
    if (this.start !== undefined) this.checkStopAfterStart(this.start);
  }

  /**
   * Takes the next entry of the walk (a summary from `LogCursor.skim` on a lenient cursor,
   * with its `entry` for marks and entries with problems) and says whether it is replayed.
   */
  feed(sum: EntrySummary): number {
    const e = sum.entry;
    const bad = e?.problems.find((p) => p.severity === "error");
    if (bad !== undefined) {
      this.broken = new LogFormatError(bad.code, bad.message, { file: this.log.path, entry: sum.index, offset: sum.offset });
      this.done = true;
      return FED.out;
    }
    const mark = e?.mark;
    const until = this.until;
    if (sum.tail) this.tailEntries += 1;
    else this.declared += 1;
    if (sum.tail && !this.tailWanted) {
      if (until.mark !== undefined && mark === until.mark) this.untilMarkInTail = true;
      return FED.out;
    }
    if (mark !== undefined) this.markNames?.add(mark);
    const reach = this.reach;
    const ranged = reachOf(e ?? sum, this.log, this.options, reach);
    if (ranged && reach.all > this.extent) this.extent = reach.all;
    if (this.stopAt !== undefined) return FED.out;
    if (this.start === undefined) {
      if (until.mark !== undefined && mark === until.mark && this.untilMarkBefore < 0) this.untilMarkBefore = sum.index;
      if (mark !== undefined && mark === this.from.mark) {
        this.start = sum.index + 1;
        this.checkStopAfterStart(this.start);
      }
      return FED.out;
    }
    if (sum.index < this.start) {
      if (until.mark !== undefined && mark === until.mark && this.untilMarkBefore < 0) this.untilMarkBefore = sum.index;
      return FED.out;
    }
    if (this.startOffset < 0) this.startOffset = sum.offset;
    if (ranged && reach.applied > this.need) this.need = reach.applied;
    const flags = e !== undefined ? Number(e.flags & 0x1fn) : sum.knownFlags;
    // Fields, not a new object an entry: the walk allocates nothing per entry.
    const last = (this.last ??= { index: 0, next: 0, need: 0 });
    last.index = sum.index;
    last.next = sum.nextOffset;
    last.need = this.need;
    const reason = stopReason(sum.index, mark, flags, this.start, until);
    if (reason === undefined) return FED.in;
    // The first entry that meets a stop condition is the earliest: the stop point.
    this.stopAt = { ...last };
    this.stopReason = reason;
    if (!this.options.walkAll) this.done = true;
    return FED.stop;
  }

  /**
   * The plan, once the walk has ended: at `done`, or at the end of the log (`end`: the
   * cursor's, when it got there). Throws `PointNotFoundError` for a start or stop point the
   * walk did not find.
   */
  finish(end: ReadEnd | undefined): ReplayPlan {
    const log = this.log;
    const { from, until } = this;
    let broken = this.broken;
    if (broken === undefined && end?.reason === "error" && end.error !== undefined) broken = end.error;
    const complete = end !== undefined || broken !== undefined;
    const where = broken ? ` (the log is readable only up to entry ${broken.entry}: ${broken.message})` : "";
    const total = this.declared + this.tailEntries;
    const span = this.tailWanted ? total : this.declared;
    const tailHint = " (it is past the declared entries: add --tail)";
    const start = this.start;
    if (start === undefined) {
      throw new PointNotFoundError(`no mark named ${JSON.stringify(from.mark)} to start after${this.markNames!.hint(from.mark!)}${where}`, { file: log.path });
    }
    if (this.stopAt === undefined) {
      // The walk went to the end (or the break) without meeting a stop condition.
      if (from.entry !== undefined && start >= span) {
        throw new PointNotFoundError(`no entry ${start} to start at: the log has ${span} entries${start < total ? tailHint : ""}${where}`, { file: log.path });
      }
      if (until.mark !== undefined) {
        const before = this.untilMarkBefore >= 0 ? `; the first one is at entry ${this.untilMarkBefore}, before the start` : "";
        const hint = this.untilMarkBefore < 0 && !this.untilMarkInTail ? this.markNames!.hint(until.mark) : "";
        throw new PointNotFoundError(
          `no mark named ${JSON.stringify(until.mark)} at or after entry ${start}${this.untilMarkInTail ? tailHint : ""}${before}${hint}${where}`,
          { file: log.path },
        );
      }
      if (until.entry !== undefined) {
        throw new PointNotFoundError(`no entry ${until.entry} to stop at: the log has ${span} entries${until.entry < total ? tailHint : ""}${where}`, { file: log.path });
      }
      const flagAsked = (until.nextFlush ?? false) || (until.nextFua ?? false);
      if (flagAsked && until.limit === undefined) {
        const what = [until.nextFlush ? "FLUSH" : "", until.nextFua ? "FUA" : ""].filter(Boolean).join(" or ");
        throw new PointNotFoundError(`no ${what} entry at or after entry ${start}${where}`, { file: log.path });
      }
    }
    const chosen = this.stopAt ?? this.last;
    const stopReason: StopReason = this.stopAt !== undefined ? this.stopReason : broken !== undefined ? "broken" : "end";
    const stop = chosen?.index ?? start - 1;
    const plan: ReplayPlan = {
      start,
      startOffset: this.startOffset >= 0 ? this.startOffset : (end?.offset ?? log.sectorSize),
      stop,
      stopReason,
      entries: Math.max(0, stop - start + 1),
      logBytes: chosen !== undefined && this.startOffset >= 0 ? chosen.next - this.startOffset : 0,
      needBytes: chosen?.need ?? 0,
      logExtent: this.extent,
      declared: complete ? this.declared : null,
      tailEntries: complete ? this.tailEntries : null,
    };
    if (stopReason === "broken" && broken !== undefined) plan.broken = broken;
    return plan;
  }

  /** A stop entry before the start is an error as soon as the start is known. */
  private checkStopAfterStart(start: number): void {
    const stop = this.until.entry;
    if (stop !== undefined && stop < start) {
      throw new PointNotFoundError(`stop entry ${stop} is before the start entry ${start}`, { file: this.log.path });
    }
  }
}

/**
 * Walks the headers of the log (never its data) and works out the replay: the start entry
 * and its offset (so the replay itself seeks straight there), the stop entry, the room the
 * target needs. The walk ends at the stop point: a replay to a mark halfway reads half the
 * log (`walkAll` walks on to the end, for the log's extent and its tail). Start and stop
 * points that do not exist are errors raised here, before anything is written. Memory stays
 * constant whatever the log's size.
 *
 * Several stop conditions: the first entry meeting one of them is the stop point, and the
 * others are not looked for past it; a missing mark or entry is an error only when no other
 * condition stops the replay first (a missing FLUSH or FUA only when no other was asked).
 */
export function planReplay(log: LogFile, options: PlanOptions = {}): ReplayPlan {
  if (options.index !== undefined) return planWithIndex(log, options.index, options);
  const walk = new PlanWalk(log, options);
  // skim(): no LogEntry is built for plain entries; marks and entries with problems come whole.
  const cursor = log.cursor({ tail: true, lenient: true });
  for (let sum = cursor.skim(); sum !== undefined; sum = cursor.skim()) {
    walk.feed(sum);
    if (walk.done) break;
  }
  return walk.finish(cursor.end);
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
    if (at < 0 || at >= span) {
      const hint = at >= 0 ? tailHint : missingMarkHint(from.mark, marksWithin(index, span));
      throw new PointNotFoundError(`no mark named ${JSON.stringify(from.mark)} to start after${hint}${where}`, { file: log.path });
    }
    start = at + 1;
  } else if (from.entry !== undefined && start >= span) {
    throw new PointNotFoundError(`no entry ${start} to start at: the log has ${span} entries${start < index.length ? tailHint : ""}${where}`, { file: log.path });
  }
  if (until.entry !== undefined && until.entry < start) {
    throw new PointNotFoundError(`stop entry ${until.entry} is before the start entry ${start}`, { file: log.path });
  }
  const within = (i: number) => (i >= start && i < span ? i : -1);
  // Every condition's first entry (-1: none); the earliest is the stop point, and the others
  // need not exist (as in the header walk, which never looks past the stop point).
  const hits: [StopReason, number][] = [];
  if (until.mark !== undefined) hits.push(["mark", within(index.findMark(until.mark, start))]);
  if (until.entry !== undefined) hits.push(["entry", within(until.entry)]);
  if (until.nextFlush) hits.push(["flush", within(index.findNext(LogFlags.FLUSH, start))]);
  if (until.nextFua) hits.push(["fua", within(index.findNext(LogFlags.FUA, start))]);
  if (until.limit !== undefined) hits.push(["limit", start + until.limit - 1 < span ? start + until.limit - 1 : -1]);
  let stop = span - 1;
  let stopReason: StopReason = broken !== undefined ? "broken" : "end";
  let hit = false;
  for (const [reason, at] of hits) {
    if (at >= 0 && (!hit || at < stop)) {
      stop = at;
      stopReason = reason;
      hit = true;
    }
  }
  if (!hit && until.mark !== undefined) {
    const anywhere = index.findMark(until.mark);
    const before = anywhere >= 0 && anywhere < start ? `; the first one is at entry ${anywhere}, before the start` : "";
    const inTail = index.findMark(until.mark, start) >= span ? tailHint : "";
    const hint = before === "" && inTail === "" ? missingMarkHint(until.mark, marksWithin(index, span)) : "";
    throw new PointNotFoundError(`no mark named ${JSON.stringify(until.mark)} at or after entry ${start}${inTail}${before}${hint}${where}`, { file: log.path });
  }
  if (!hit && until.entry !== undefined) {
    throw new PointNotFoundError(`no entry ${until.entry} to stop at: the log has ${span} entries${until.entry < index.length ? tailHint : ""}${where}`, { file: log.path });
  }
  if (!hit && (until.nextFlush || until.nextFua) && until.limit === undefined) {
    const what = [until.nextFlush ? "FLUSH" : "", until.nextFua ? "FUA" : ""].filter(Boolean).join(" or ");
    throw new PointNotFoundError(`no ${what} entry at or after entry ${start}${where}`, { file: log.path });
  }
  // The room needed: one walk over the headers from the start to the stop (and on to the end for the extent).
  const reach: Reach = { all: 0, applied: 0 };
  let need = 0;
  let extent = 0;
  let stopNext = -1;
  const walkTo = options.extent ? span - 1 : stop;
  const startOffset = start < index.length ? index.offsetOf(start) : index.end.offset;
  if (start <= walkTo) {
    const c = log.cursor({ start: { index: start, offset: startOffset }, tail: true });
    for (let e = c.next(); e !== undefined && e.index <= walkTo; e = c.next()) {
      const ranged = reachOf(e, log, options, reach);
      if (ranged && reach.all > extent) extent = reach.all;
      if (e.index <= stop) {
        if (ranged && reach.applied > need) need = reach.applied;
        if (e.index === stop) stopNext = e.nextOffset;
      }
    }
  }
  if (options.extent && start > 0) {
    // Entries before the start count for the image size too.
    const c = log.cursor({ tail: true });
    for (let e = c.next(); e !== undefined && e.index < start; e = c.next()) {
      if (reachOf(e, log, options, reach) && reach.all > extent) extent = reach.all;
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

/** The first stop condition entry `index` (with this mark name and these flag bits) meets, in the order of `StopPoints`. */
function stopReason(index: number, mark: string | undefined, flags: number, start: number, until: StopPoints): StopReason | undefined {
  if (until.mark !== undefined && mark === until.mark) return "mark";
  if (until.entry !== undefined && index === until.entry) return "entry";
  if (until.nextFlush && (flags & FLUSH) !== 0) return "flush";
  if (until.nextFua && (flags & FUA) !== 0) return "fua";
  if (until.limit !== undefined && index - start + 1 === until.limit) return "limit";
  return undefined;
}

/** The fields `reachOf` reads: a `LogEntry` (bigint sectors) or a skim summary (numbers). */
interface Reaching {
  index: number;
  offset: number;
  kind: string;
  sector: bigint | number;
  nrSectors: bigint | number;
}

/** Where `reachOf` puts its answer (one object per walk: the walk allocates nothing per entry). */
interface Reach {
  all: number;
  applied: number;
}

/**
 * One past the last target byte of a write or discard (`sector + nrSectors` in bytes):
 * past 2^53 a `LogFormatError` naming the log, the entry and its offset (no target can be
 * written there).
 */
export function entryEnd(e: Reaching, log: LogFile): number {
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
  return all;
}

/**
 * One past the last target byte of a write or discard, into `out`: `all` for any, `applied`
 * when the replay applies it (0 when not). False for other entries and for an empty discard
 * (it touches no byte, whatever its sector: it reaches nowhere), `out` then untouched.
 */
function reachOf(e: Reaching, log: LogFile, options: PlanOptions, out: Reach): boolean {
  if ((e.kind !== "write" && e.kind !== "discard") || Number(e.nrSectors) === 0) return false;
  const all = entryEnd(e, log);
  let applied = all;
  if (e.kind === "discard" && options.skipDiscards) applied = 0;
  if (subjectToSectors(e.kind, options) && !touches({ sector: BigInt(e.sector), nrSectors: BigInt(e.nrSectors) }, options.sectors!)) applied = 0;
  out.all = all;
  out.applied = applied;
  return true;
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

/** Names of the index's marks among its first `span` entries (those a replay may use). */
function marksWithin(index: LogIndex, span: number): string[] {
  return index.marks.filter((m) => m.index < span).map((m) => m.name);
}
