import { flagNames, LogFile, LogFlags, LogFormatError, LogIoError, LwlogError, toSafeNumber, type EntrySummary, type LogEntry, type LogIndex } from "@lwlog/codec/core";
import type { Checker, CheckOutcome, Checkpoint } from "./checker.js";
import { ReplayErrorCodes, ReplayInterruptedError, TargetError } from "./errors.js";
import { planReplay, subjectToSectors, touches, type ReplayPlan, type SectorFilter, type SectorRange, type StartPoint, type StopPoints, type StopReason } from "./plan.js";
import { ImageTarget, type ApplyResult, type DiscardMode } from "./target.js";

/** When checkpoints happen: after every entry with a flag, every mark or discard, or every N entries. */
export type CheckRule = "flush" | "fua" | "mark" | "discard" | { every: number };

/** Options of `replayLog`. */
export interface ReplayOptions {
  /** The log: a path, or an open `LogFile` (left open). */
  log: string | LogFile;
  /** The target: a path (opened, or created with `size`), or an open `ImageTarget` (left open). */
  target: string | ImageTarget;
  /** For a target path: size in bytes, or `auto` for the log's highest byte (creates a missing file, grows a smaller one, never shrinks). */
  size?: number | "auto";
  /** For a target path: empty an existing file first. */
  truncate?: boolean;
  from?: StartPoint;
  until?: StopPoints;
  /** `zero` (default): a discard's range reads back as zeros afterwards; `skip`: discards are ignored. */
  discard?: DiscardMode;
  /** Only writes and discards that touch this inclusive sector range are applied. */
  sectors?: SectorRange;
  /** `writes`: `sectors` filters writes only and every discard is applied (replay-log's `--start-sector`); default `all`. */
  sectorFilter?: SectorFilter;
  /** Replay the valid entries past the declared count too (default: they are counted, not replayed). */
  tail?: boolean;
  /**
   * An index of the log, built once (`LogIndex.build(log)`, with the default `tail: true`) and
   * reused across replays: start and stop points become lookups and only the headers from the
   * start to the stop are read. `log` must then be the `LogFile` the index was built on.
   */
  index?: LogIndex;
  /** Checkpoints: after each entry matching a rule, the target is synced and `run` is called. */
  check?: {
    rules: CheckRule[];
    run: Checker;
    /** Go on after a failed checkpoint (default: stop at the first). */
    keepGoing?: boolean;
  };
  /** Called about ten times a second, and once at the end. */
  onProgress?: (progress: ReplayProgress) => void;
  /** Called after each checkpoint. */
  onCheckpoint?: (result: CheckpointResult) => void;
  /** Called for every entry walked, with what was done with it (`filtered`: outside `sectors`, nothing done). */
  onEntry?: (entry: LogEntry, result: { action: ApplyResult["action"] | "filtered"; bytes: number }) => void;
  /** Stops the replay after the entry being applied; `replayLog` then throws `ReplayInterruptedError`. */
  signal?: AbortSignal;
  /**
   * fsync the target at the end (default false, as `cp`, `dd` and replay-log: the written data
   * is in the page cache, which every later reader of the file or device sees). Checkpoints
   * always sync the target before their checker runs.
   */
  sync?: boolean;
}

/** How far a replay has got. */
export interface ReplayProgress {
  entries: number;
  totalEntries: number;
  /** Log bytes walked (headers and data), of `totalLogBytes`. */
  logBytes: number;
  totalLogBytes: number;
  checkpoints: number;
}

/** One checkpoint and its outcome. */
export interface CheckpointResult extends CheckOutcome {
  entry: number;
  ordinal: number;
  mark?: string;
}

/** What a replay did. */
export interface ReplaySummary {
  log: string;
  target: string;
  sectorSize: number;
  /** First entry of the replay, and the last one applied (`start - 1` when none). */
  start: number;
  last: number;
  /** The planned stop entry and why the replay stops there. */
  stop: number;
  stopReason: StopReason;
  /** Entries walked from `start` to `last`. */
  entries: number;
  writes: number;
  bytesWritten: number;
  discards: number;
  bytesZeroed: number;
  /** Discards ignored with `discard: "skip"`. */
  discardsSkipped: number;
  /** Writes and discards outside `sectors`. */
  filtered: number;
  /** Valid entries in the log within the declared count, and past it. */
  declared: number;
  tailEntries: number;
  /** Tail entries that were replayed (only with `tail`). */
  tailReplayed: number;
  checkpoints: {
    run: number;
    passed: number;
    failed: CheckpointResult[];
    /** Entry of the last checkpoint that passed before the first failure (or the last one), or null. */
    lastGood: number | null;
    /** Entry of the first checkpoint that failed, or null. */
    firstBad: number | null;
  };
  /** The target's size in bytes, whether the replay created it, and its kind. */
  targetSize: number;
  targetCreated: boolean;
  targetKind: "file" | "device";
  seconds: number;
}

/**
 * Replays a log onto an image file or block device, in one forward pass.
 *
 * First one pass over the headers plans the replay (start and stop entries, the room the
 * target needs, the tail); a start or stop point that does not exist throws
 * `PointNotFoundError` before the target is opened. Then the target is opened (or created)
 * and checked, and the entries from the start to the stop are applied in order, data
 * streamed from the log. At each checkpoint the target is synced and the checker run. If
 * the log turns out broken before the stop point, every entry before the broken one is
 * applied and a `LogFormatError` says so (its `summary` tells what was done).
 *
 * A whole-log replay (no start or stop point, no checkpoints) onto a file with `size: "auto"`
 * has nothing to refuse that needs the plan, so it skips the header pass: the image grows as
 * it is written and is then sized to the log's highest byte, the same result in one pass
 * instead of two.
 */
export async function replayLog(options: ReplayOptions): Promise<ReplaySummary> {
  const began = process.hrtime.bigint();
  const log = typeof options.log === "string" ? await LogFile.open(options.log) : options.log;
  let target: ImageTarget | undefined;
  try {
    if (options.index !== undefined && options.index.log !== log) throw new RangeError("the index was built on another LogFile than options.log");
    if (typeof options.target === "string" && options.size === "auto" && !options.truncate && options.index === undefined && options.check === undefined && isWholeLog(options)) {
      // A whole-log replay onto an image that grows as needed: nothing to refuse that needs a
      // plan first, so skip the header pass and size the image as the replay goes. Not with
      // checkpoints: their checker must see the image at its final size (a file system's size
      // is the device's), and a failed one stops the replay before the end.
      // A log broken at its first entry has nothing to replay: say so before creating the image.
      try {
        log.cursor({ tail: true }).skim();
      } catch (err) {
        if (err instanceof LogFormatError) throw nothingToReplay(err, options.target);
        throw err;
      }
      target = ImageTarget.open(options.target, { size: 0, grow: true, log: log.path });
      if (target.kind !== "file") throw new TargetError(ReplayErrorCodes.TARGET_KIND, "is a block device: its size is fixed, so --size does not apply", { file: target.path });
      return await runPlan(log, target, undefined, options, began);
    }
    const plan = planReplay(log, {
      ...(options.from ? { from: options.from } : {}),
      ...(options.until ? { until: options.until } : {}),
      tail: options.tail ?? false,
      ...(options.sectors ? { sectors: options.sectors } : {}),
      ...(options.sectorFilter ? { sectorFilter: options.sectorFilter } : {}),
      skipDiscards: options.discard === "skip",
      ...(options.index ? { index: options.index, extent: options.size === "auto" } : {}),
    });
    if (plan.broken !== undefined && plan.stop < plan.start) throw nothingToReplay(plan.broken, typeof options.target === "string" ? options.target : options.target.path);
    if (typeof options.target === "string") {
      const size = options.size === "auto" ? plan.logExtent : options.size;
      target = ImageTarget.open(options.target, {
        ...(size !== undefined ? { size } : {}),
        truncate: options.truncate ?? false,
        log: log.path,
        require: plan.needBytes,
      });
    } else {
      target = options.target;
      target.require(plan.needBytes);
    }
    return await runPlan(log, target, plan, options, began);
  } finally {
    if (typeof options.target === "string") target?.close();
    if (typeof options.log === "string") log.close();
  }
}

/** A `LogFormatError` raised when the log breaks before the stop point; the entries before it have been applied. */
export class BrokenLogError extends LogFormatError {
  readonly summary: ReplaySummary;
  constructor(cause: LogFormatError, summary: ReplaySummary) {
    const applied = summary.last >= summary.start ? `entries ${summary.start}..${summary.last} have been applied to ${summary.target}` : `no entry has been applied to ${summary.target}`;
    super(cause.code, `${cause.message}; the replay stopped there: ${applied}`, {
      ...(cause.file !== undefined ? { file: cause.file } : {}),
      ...(cause.entry !== undefined ? { entry: cause.entry } : {}),
      ...(cause.offset !== undefined ? { offset: cause.offset } : {}),
      cause,
    });
    this.summary = summary;
  }
}

/**
 * A `LogIoError` raised when writing or zeroing an entry on the target fails mid-way (no
 * space left, an I/O error): the entries before it have been applied (`summary`).
 */
export class TargetWriteError extends LogIoError {
  readonly summary: ReplaySummary;
  constructor(cause: LogIoError, entry: { index: number; offset: number }, summary: ReplaySummary) {
    const applied = summary.last >= summary.start ? `entries ${summary.start}..${summary.last} have been applied` : "no entry has been applied";
    super(cause.code, `${cause.message}; the replay stopped at entry ${entry.index} (log offset ${entry.offset}): ${applied}`, {
      ...(cause.file !== undefined ? { file: cause.file } : {}),
      cause,
    });
    this.summary = summary;
  }
}

/** The log breaks before the first entry to replay: nothing is applied, and the target is neither created nor opened. */
function nothingToReplay(cause: LogFormatError, target: string): LogFormatError {
  return new LogFormatError(cause.code, `${cause.message}; the log breaks before the first entry to replay: nothing was written to ${target}`, {
    ...(cause.file !== undefined ? { file: cause.file } : {}),
    ...(cause.entry !== undefined ? { entry: cause.entry } : {}),
    ...(cause.offset !== undefined ? { offset: cause.offset } : {}),
    cause,
  });
}

/** True when the replay runs over the whole log: no start point and no stop point. */
function isWholeLog(options: ReplayOptions): boolean {
  const u = options.until ?? {};
  const f = options.from ?? {};
  return f.mark === undefined && f.entry === undefined && u.mark === undefined && u.entry === undefined && !u.nextFlush && !u.nextFua && u.limit === undefined;
}

const YIELD_MS = 50n * 1_000_000n;
const FLUSH = Number(LogFlags.FLUSH);
const FUA = Number(LogFlags.FUA);
const PROGRESS_MS = 100n * 1_000_000n;

/**
 * Applies the planned entries (or, without a plan, every entry to the end of the log, the
 * image growing as needed and then sized to the log's highest byte).
 */
async function runPlan(log: LogFile, target: ImageTarget, planned: ReplayPlan | undefined, options: ReplayOptions, began: bigint): Promise<ReplaySummary> {
  const streaming = planned === undefined;
  const plan: ReplayPlan = planned ?? {
    start: 0,
    startOffset: log.sectorSize,
    stop: Number.MAX_SAFE_INTEGER,
    stopReason: "end",
    entries: log.declared,
    logBytes: log.size - log.sectorSize,
    needBytes: 0,
    logExtent: 0,
    declared: 0,
    tailEntries: 0,
  };
  let extent = 0;
  const summary: ReplaySummary = {
    log: log.path,
    target: target.path,
    sectorSize: log.sectorSize,
    start: plan.start,
    last: plan.start - 1,
    stop: plan.stop,
    stopReason: plan.stopReason,
    entries: 0,
    writes: 0,
    bytesWritten: 0,
    discards: 0,
    bytesZeroed: 0,
    discardsSkipped: 0,
    filtered: 0,
    declared: plan.declared,
    tailEntries: plan.tailEntries,
    tailReplayed: 0,
    checkpoints: { run: 0, passed: 0, failed: [], lastGood: null, firstBad: null },
    targetSize: target.size,
    targetCreated: target.created,
    targetKind: target.kind,
    seconds: 0,
  };
  const discard = options.discard ?? "zero";
  const rules = options.check?.rules ?? [];
  const progress: ReplayProgress = { entries: 0, totalEntries: plan.entries, logBytes: 0, totalLogBytes: plan.logBytes, checkpoints: 0 };
  const cursor = log.cursor({ start: { index: plan.start, offset: plan.startOffset }, tail: true });
  let lastYield = process.hrtime.bigint();
  let lastProgress = lastYield;
  const finish = () => {
    if (streaming) summary.stop = summary.last;
    summary.seconds = Number(process.hrtime.bigint() - began) / 1e9;
    progress.checkpoints = summary.checkpoints.run;
    options.onProgress?.(progress);
    return summary;
  };
  // Without a per-entry callback, the cursor's skim(): no LogEntry (and no bigint) is built
  // for a plain write, only for marks and unusual entries.
  const fast = options.onEntry === undefined;
  const S = log.sectorSize;
  const place = { dataOffset: 0, dataSize: 0, nextOffset: 0 };
  for (let i = plan.start; i <= plan.stop; i++) {
    let sum: EntrySummary | undefined;
    let e: LogEntry | undefined;
    try {
      if (fast) {
        sum = cursor.skim();
        e = sum?.entry;
      } else {
        e = cursor.next();
      }
    } catch (err) {
      if (err instanceof LogFormatError) {
        if (streaming) {
          // Sized as a replay planned up to the break would be (the entries walked so far).
          summary.stopReason = "broken";
          target.growTo(extent);
          summary.targetSize = target.size;
        }
        throw new BrokenLogError(err, finish());
      }
      throw err;
    }
    const it: EntrySummary | LogEntry | undefined = e ?? sum;
    if (it === undefined && streaming) break;
    if (it === undefined) {
      // The planning pass read this entry; the file changed under us.
      throw new BrokenLogError(new LogFormatError("LWLOG_TRUNCATED_HEADER", `entry ${i} is gone (${cursor.end?.detail ?? "the log changed during the replay"})`, { file: log.path, entry: i, offset: cursor.nextOffset }), finish());
    }
    const ranged = it.kind === "write" || it.kind === "discard";
    if (streaming) {
      if (it.tail) summary.tailEntries += 1;
      else summary.declared += 1;
      if (it.tail && !options.tail) continue;
      if (ranged) {
        const end = e !== undefined ? toSafeNumber((e.sector + e.nrSectors) * BigInt(S), `entry ${e.index}'s highest target byte`) : (sum!.sector + sum!.nrSectors) * S;
        if (!Number.isSafeInteger(end)) throw new LogFormatError("LWLOG_RANGE", `the entry reaches beyond byte 2^53 of the target`, { file: log.path, entry: it.index, offset: it.offset });
        if (end > extent) extent = end;
      }
    }
    if (ranged && subjectToSectors(it.kind, options) && !touches(e ?? { sector: BigInt(sum!.sector), nrSectors: BigInt(sum!.nrSectors) }, options.sectors!)) {
      summary.filtered += 1;
      if (e !== undefined) options.onEntry?.(e, { action: "filtered", bytes: 0 });
    } else {
      let data: Uint8Array | undefined;
      if (it.kind === "write") {
        if (e !== undefined) data = cursor.peekData(e);
        else {
          place.dataOffset = it.offset + S;
          place.dataSize = it.dataSize;
          place.nextOffset = it.nextOffset;
          data = cursor.peekData(place);
        }
      }
      let r: ApplyResult;
      try {
        r = target.applyEntry(it, log, { discard, ...(data ? { data } : {}) });
      } catch (err) {
        if (err instanceof LogIoError) throw new TargetWriteError(err, it, finish());
        if (err instanceof LogFormatError) {
          const at = new LogFormatError(err.code, err.message, { file: err.file ?? log.path, entry: it.index, ...(err.offset !== undefined ? { offset: err.offset } : {}), cause: err });
          throw new BrokenLogError(at, finish());
        }
        throw err;
      }
      if (e !== undefined) options.onEntry?.(e, r);
      if (r.action === "write") {
        summary.writes += 1;
        summary.bytesWritten += r.bytes;
      } else if (r.action === "discard") {
        summary.discards += 1;
        summary.bytesZeroed += r.bytes;
      } else if (r.action === "skip") {
        summary.discardsSkipped += 1;
      }
    }
    if (it.tail) summary.tailReplayed += 1;
    summary.entries += 1;
    summary.last = it.index;
    progress.entries = summary.entries;
    progress.logBytes = it.nextOffset - plan.startOffset;
    if (rules.length > 0) {
      const flags = e !== undefined ? Number(e.flags & 0x1fn) : sum!.knownFlags;
      if (isCheckpoint(flags, it.kind, rules, summary.entries)) {
        const ok = await runCheckpoint(it.index, e?.flags ?? BigInt(flags), e?.mark, log, target, options, summary);
        progress.checkpoints = summary.checkpoints.run;
        if (!ok && !options.check!.keepGoing) break;
      }
    }
    if ((i & 63) === 0 || it.dataSize >= 1 << 20) {
      const now = process.hrtime.bigint();
      if (options.onProgress && now - lastProgress >= PROGRESS_MS) {
        lastProgress = now;
        options.onProgress(progress);
      }
      if (now - lastYield >= YIELD_MS) {
        // Let signals, timers and the progress bar run.
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = process.hrtime.bigint();
      }
      if (options.signal?.aborted) {
        if (options.sync) target.sync();
        const s = finish();
        throw new ReplayInterruptedError(`interrupted after entry ${s.last}: entries ${s.start}..${s.last} have been applied to ${target.path}`, s.last, { file: log.path });
      }
    }
  }
  if (streaming) {
    target.growTo(extent);
    summary.targetSize = target.size;
  }
  if (options.sync) target.sync();
  if (plan.broken !== undefined && summary.last === plan.stop) {
    throw new BrokenLogError(plan.broken, finish());
  }
  return finish();
}

/** True when an entry with these flag bits and kind is a checkpoint; `ordinal` counts entries replayed. */
function isCheckpoint(flags: number, kind: string, rules: CheckRule[], ordinal: number): boolean {
  for (const r of rules) {
    if (r === "flush" && (flags & FLUSH) !== 0) return true;
    if (r === "fua" && (flags & FUA) !== 0) return true;
    if (r === "mark" && kind === "mark") return true;
    if (r === "discard" && kind === "discard") return true;
    if (typeof r === "object" && ordinal % r.every === 0) return true;
  }
  return false;
}

async function runCheckpoint(
  index: number,
  flags: bigint,
  mark: string | undefined,
  log: LogFile,
  target: ImageTarget,
  options: ReplayOptions,
  summary: ReplaySummary,
): Promise<boolean> {
  target.sync();
  const cp = summary.checkpoints;
  const point: Checkpoint = { entry: index, ordinal: cp.run + 1, flags: flagNames(flags), log: log.path, image: target.path };
  if (mark !== undefined) point.mark = mark;
  let outcome: CheckOutcome;
  try {
    outcome = await options.check!.run(point);
  } catch (err) {
    if (err instanceof LwlogError) throw err;
    outcome = { ok: false, output: err instanceof Error ? err.message : String(err) };
  }
  cp.run += 1;
  const result: CheckpointResult = { ...outcome, entry: index, ordinal: point.ordinal };
  if (point.mark !== undefined) result.mark = point.mark;
  if (outcome.ok) {
    cp.passed += 1;
    if (cp.firstBad === null) cp.lastGood = index;
  } else {
    cp.failed.push(result);
    if (cp.firstBad === null) cp.firstBad = index;
  }
  options.onCheckpoint?.(result);
  return outcome.ok;
}
