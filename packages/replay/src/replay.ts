import { rmSync } from "node:fs";
import { flagNames, LogFile, LogFlags, LogFormatError, LogIoError, LwlogError, type EntrySummary, type LogEntry, type LogIndex } from "@lwlog/codec/core";
import { ScratchSpace, type ScratchOptions, type ScratchView, type ViewStrategy } from "@lwlog/scratch";
import type { Checker, CheckOutcome, Checkpoint } from "./checker.js";
import { CheckpointInterruptedError, ReplayErrorCodes, ReplayInterruptedError, TargetError } from "./errors.js";
import { describeLimit, fileSizeLimit } from "./limits.js";
import { entryEnd, planReplay, subjectToSectors, touches, type ReplayPlan, type SectorFilter, type SectorRange, type StartPoint, type StopPoints, type StopReason } from "./plan.js";
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
  /**
   * Checkpoints: after each entry matching a rule, a scratch view of the target's state is
   * made and `run` is called on it (not on the target: the checker may mount, recover and
   * repair the view, and the replay goes on from the untouched state; `onTarget` asks for the
   * target itself instead, replay-log's way). A checkpoint the
   * signal interrupts throws `ReplayInterruptedError`; it is never counted as failed.
   */
  check?: {
    rules: CheckRule[];
    run: Checker;
    /** Go on after a failed checkpoint (default: stop at the first). */
    keepGoing?: boolean;
    /**
     * Where the views are made: an open `ScratchSpace` (left open), or options to open one for
     * this replay (closed at its end). Default `{ near: target }`: a reflink beside the target
     * where its file system can clone, else an overlay or a copy in the temporary directory.
     */
    scratch?: ScratchSpace | ScratchOptions;
    /** Also serve each view over NBD (`Checkpoint.nbd`); default false. */
    nbd?: boolean;
    /**
     * Run the checker on the target itself, synced first, with no view (replay-log's `--fsck`:
     * what the command changes, the replay goes on from). Default false. `scratch` and `nbd`
     * are then unused, and the checkpoint's `view` is `target`. A device target is then not
     * held `O_EXCL` (pass an `ImageTarget` opened with `exclusive: false` for the same).
     */
    onTarget?: boolean;
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
   * Apply the entries one by one, in log order (default false: by compaction, see below). For
   * block devices whose ordering of writes has side effects of its own (a device that logs or
   * mirrors its writes, a thin pool watching its allocation), or to watch each entry land.
   *
   * By default the replay compacts: between two observation points (a checkpoint, the stop
   * point) only the last writer of each byte matters, so the entries' effects are recorded
   * in an interval map and what survives is written in ascending target order, in large
   * writes. The image is the same at every observation point; in between it is not written.
   */
  inOrder?: boolean;
  /**
   * Memory the compacting replay's interval map may take, in bytes (default 64 MiB): past it
   * the map is written out and a new one started (same image, a little more writing).
   */
  memoryBudget?: number;
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

/** What the replayed entries held that checkpoint rules can match. */
export interface CheckCounts {
  entries: number;
  flush: number;
  fua: number;
  mark: number;
  discard: number;
}

/** What a replay did. */
export interface ReplaySummary {
  log: string;
  target: string;
  sectorSize: number;
  /** How the entries were applied: `compacted` (the default) or `in-order` (`inOrder`). */
  mode: "compacted" | "in-order";
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
  /**
   * Valid entries in the log within the declared count, and past it: `null` when the replay
   * stopped before the end of the log and so did not read that far (without `size: "auto"`).
   */
  declared: number | null;
  tailEntries: number | null;
  /** Tail entries that were replayed (only with `tail`). */
  tailReplayed: number;
  /** Compacted: how many times the interval map was written to the target (checkpoints, the end, the memory budget); 0 in order. */
  segments: number;
  checkpoints: {
    run: number;
    passed: number;
    failed: CheckpointResult[];
    /** Entry of the last checkpoint that passed before the first failure (or the last one), or null. */
    lastGood: number | null;
    /** Entry of the first checkpoint that failed, or null. */
    firstBad: number | null;
    /** How many checkpoints' views each strategy made (`reflink`, `overlay`, `copy`; `target`: checked on the target, `onTarget`). */
    views: Partial<Record<ViewStrategy | "target", number>>;
    /**
     * Set when checkpoints were asked for and none ran (the rules matched no entry replayed):
     * what the replayed entries hold, for a hint. A check that checked nothing is not a pass.
     */
    unmatched?: CheckCounts;
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
  if (options.check !== undefined && options.check.onTarget !== true && !(options.check.scratch instanceof ScratchSpace)) {
    // The checkpoints' views live in a scratch space of this replay's own.
    const near = typeof options.target === "string" ? options.target : options.target.path;
    const scratch = await ScratchSpace.open({ near, ...options.check.scratch });
    let summary: ReplaySummary | undefined;
    try {
      summary = await replayLog({ ...options, check: { ...options.check, scratch } });
    } finally {
      // A failure to clean up is reported unless another error is already on its way.
      if (summary === undefined) await scratch.close().catch(() => undefined);
    }
    await scratch.close();
    return summary;
  }
  const began = process.hrtime.bigint();
  const log = typeof options.log === "string" ? await LogFile.open(options.log) : options.log;
  let target: ImageTarget | undefined;
  try {
    if (options.index !== undefined && options.index.log !== log) throw new RangeError("the index was built on another LogFile than options.log");
    if (!options.inOrder) {
      // Imported here, not at the top: compact.ts builds on this module's helpers.
      const { replayCompacted } = await import("./compact.js");
      // The target is opened here, through the same checks as in order, so that a failure is
      // settled the same way (a refused or untouched new image removed, a size too large named).
      return await replayCompacted(log, options, began, (plan) => (target = openTarget(log, plan, options)));
    }
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
      const fresh = ImageTarget.open(options.target, { size: 0, grow: true, log: log.path });
      if (fresh.created) {
        target = fresh;
        return await runPlan(log, target, undefined, options, began);
      }
      // An existing image is planned like any other replay, so that what is refused (a size
      // its file system cannot hold, an entry past 2^53) is refused before it changes.
      fresh.close();
    }
    const plan = planReplay(log, {
      ...(options.from ? { from: options.from } : {}),
      ...(options.until ? { until: options.until } : {}),
      tail: options.tail ?? false,
      ...(options.sectors ? { sectors: options.sectors } : {}),
      ...(options.sectorFilter ? { sectorFilter: options.sectorFilter } : {}),
      skipDiscards: options.discard === "skip",
      walkAll: options.size === "auto" && typeof options.target === "string",
      ...(options.index ? { index: options.index, extent: options.size === "auto" } : {}),
    });
    if (plan.broken !== undefined && plan.stop < plan.start) throw nothingToReplay(plan.broken, typeof options.target === "string" ? options.target : options.target.path);
    target = openTarget(log, plan, options);
    const summary = await runPlan(log, target, plan, options, began);
    if (options.check !== undefined && summary.checkpoints.run === 0) summary.checkpoints.unmatched = countMatchable(log, plan.start, plan.startOffset, summary.last);
    return summary;
  } catch (err) {
    throw typeof options.target === "string" ? settleFailure(err, log, options.target, target, options.tail ?? false) : err;
  } finally {
    if (typeof options.target === "string") target?.close();
    if (typeof options.log === "string") log.close();
  }
}

/**
 * Opens the target a plan replays onto: a path is opened or created at the size asked
 * (`auto`: the log's highest byte), never shrunk, and refused when it is too small for the
 * plan or larger than its file system allows; an open target must have the room. Every
 * refusal comes before anything is created or written, in both modes.
 */
export function openTarget(log: LogFile, plan: ReplayPlan, options: ReplayOptions): ImageTarget {
  if (typeof options.target !== "string") {
    options.target.require(plan.needBytes);
    return options.target;
  }
  const size = options.size === "auto" ? plan.logExtent : options.size;
  return ImageTarget.open(options.target, {
    ...(size !== undefined ? { size } : {}),
    truncate: options.truncate ?? false,
    log: log.path,
    require: plan.needBytes,
    // A checker on the target opens it itself (e2fsck holds a device O_EXCL).
    ...(options.check?.onTarget === true ? { exclusive: false } : {}),
  });
}

/**
 * What a failed replay onto a target path leaves: an image it created is removed when the
 * replay was refused (a file larger than its file system allows, an entry past 2^53: the
 * refusals a plan makes before creating anything) or when no entry was applied to it, so
 * that no empty image is left behind. A file too large is described by the first entry
 * that needs it.
 */
function settleFailure(err: unknown, log: LogFile, path: string, target: ImageTarget | undefined, tail: boolean): unknown {
  const tooLarge = err instanceof TargetError && err.code === ReplayErrorCodes.FILE_TOO_LARGE;
  const refused = tooLarge || (err instanceof LogFormatError && err.code === "LWLOG_RANGE" && !(err instanceof BrokenLogError));
  const nothingApplied = (err instanceof BrokenLogError || err instanceof TargetWriteError) && err.summary.last < err.summary.start;
  let removed = false;
  if (target?.created && (refused || nothingApplied)) {
    target.close();
    rmSync(path, { force: true });
    removed = true;
  }
  if (tooLarge) return fileTooLarge(err, log, path, removed, tail);
  if (removed && err instanceof LwlogError) {
    const note = `${err.message}; ${path} was not kept (the replay created it and applied nothing to it)`;
    if (err instanceof TargetWriteError || err instanceof BrokenLogError) err.message = note;
    else if (refused) err.message = `${err.message}: refused, ${path} was not kept`;
  }
  return err;
}

/**
 * `LWLOG_FILE_TOO_LARGE` naming the first entry (of those replayed with `tail`) that reaches
 * past the limit: the entry, its log offset and the highest byte it needs.
 */
function fileTooLarge(err: TargetError, log: LogFile, path: string, removed: boolean, tail: boolean): TargetError {
  const limit = fileSizeLimit(path);
  if (limit === undefined) return err;
  let hit: { index: number; offset: number; kind: string; end: number } | undefined;
  try {
    const cursor = log.cursor({ tail: true });
    for (let s = cursor.skim(); s !== undefined && (tail || !s.tail); s = cursor.skim()) {
      if (s.kind !== "write" && s.kind !== "discard") continue;
      const end = entryEnd(s.entry ?? s, log);
      if (end > limit.bytes) {
        hit = { index: s.index, offset: s.offset, kind: s.kind, end };
        break;
      }
    }
  } catch {
    // a broken log is reported as such elsewhere: keep the target's own message
  }
  if (hit === undefined) return err;
  const left = removed ? "the replay was refused and left no image" : "refused before anything was created or changed";
  const fix = limit.by === "rlimit" ? "raise the limit (ulimit -f unlimited)" : "replay onto a block device or a file system that holds larger files (xfs, btrfs)";
  // --size auto counts discards even when skipped: the image is the device's size.
  const hint = hit.kind === "discard" ? `--discard skip with --size BYTES ignores discards, or ${fix}` : fix;
  return new TargetError(
    ReplayErrorCodes.FILE_TOO_LARGE,
    `entry ${hit.index} (log offset ${hit.offset}) of ${log.path} ${hit.kind === "discard" ? "discards" : "writes"} up to byte ${hit.end - 1}, ${describeLimit(limit)}: ${left}; ${hint}`,
    { file: path, cause: err },
  );
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
  /**
   * `partial`: a compacted replay failed while writing what entries `first..last` leave on the
   * target (written together, in target order): some of it is there, the rest not.
   */
  constructor(cause: LogIoError, entry: { index: number; offset: number }, summary: ReplaySummary, partial?: { first: number; last: number }) {
    const done = summary.last >= summary.start ? `entries ${summary.start}..${summary.last} have been applied` : "no entry has been applied";
    const message =
      partial === undefined
        ? `the replay stopped at entry ${entry.index} (log offset ${entry.offset}): ${done}`
        : `the replay stopped while writing what entries ${partial.first}..${partial.last} leave on the target (they are written together, by compaction): ${done}, and part of ${partial.first}..${partial.last}`;
    super(cause.code, `${cause.message}; ${message}`, {
      ...(cause.file !== undefined ? { file: cause.file } : {}),
      cause,
    });
    this.summary = summary;
  }
}

/** The log breaks before the first entry to replay: nothing is applied, and the target is neither created nor opened. */
export function nothingToReplay(cause: LogFormatError, target: string): LogFormatError {
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
  const summary = startSummary(log, target, plan, "in-order");
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
      if (it.tail) summary.tailEntries! += 1;
      else summary.declared! += 1;
      if (it.tail && !options.tail) continue;
      // An empty discard touches no byte: its sector, whatever it is, sizes nothing.
      if (ranged && Number(it.nrSectors) > 0) {
        const end = entryEnd(it, log);
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
        // A file the image's file system cannot hold: refused as a plan would (see replayLog).
        if (streaming && err instanceof TargetError && err.code === ReplayErrorCodes.FILE_TOO_LARGE) throw err;
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
      // (Interrupted at the last entry, the replay is done: it finishes as if not interrupted.)
      if (options.signal?.aborted && i < plan.stop) {
        if (options.sync) target.sync();
        const s = finish();
        throw new ReplayInterruptedError(`interrupted after entry ${s.last}: entries ${s.start}..${s.last} have been applied to ${target.path}`, s.last, { file: log.path }, s.start);
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
export function isCheckpoint(flags: number, kind: string, rules: CheckRule[], ordinal: number): boolean {
  for (const r of rules) {
    if (r === "flush" && (flags & FLUSH) !== 0) return true;
    if (r === "fua" && (flags & FUA) !== 0) return true;
    if (r === "mark" && kind === "mark") return true;
    if (r === "discard" && kind === "discard") return true;
    if (typeof r === "object" && ordinal % r.every === 0) return true;
  }
  return false;
}

/** Counts what rules can match among entries `start..last` (one pass over their headers). */
export function countMatchable(log: LogFile, start: number, startOffset: number, last: number): CheckCounts {
  const counts: CheckCounts = { entries: 0, flush: 0, fua: 0, mark: 0, discard: 0 };
  if (last < start) return counts;
  const cursor = log.cursor({ start: { index: start, offset: startOffset }, tail: true });
  for (let it = cursor.skim(); it !== undefined && it.index <= last; it = cursor.skim()) {
    counts.entries += 1;
    if ((it.knownFlags & FLUSH) !== 0) counts.flush += 1;
    if ((it.knownFlags & FUA) !== 0) counts.fua += 1;
    if (it.kind === "mark") counts.mark += 1;
    if (it.kind === "discard") counts.discard += 1;
  }
  return counts;
}

/** The checker's outcome; an exception not lwlog's own is a failed check (an `LwlogError` is passed on). */
async function runChecker(run: Checker, point: Checkpoint, signal: AbortSignal | undefined): Promise<CheckOutcome> {
  try {
    return await run(point, signal ? { signal } : {});
  } catch (err) {
    if (err instanceof LwlogError) throw err;
    return { ok: false, output: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Runs the checkpoint after entry `index`: a scratch view of the target as it is now (a
 * compacted replay has written everything up to `index` first), the checker on it; true
 * when it passed.
 */
export async function runCheckpoint(
  index: number,
  flags: bigint,
  mark: string | undefined,
  log: LogFile,
  target: ImageTarget,
  options: ReplayOptions,
  summary: ReplaySummary,
): Promise<boolean> {
  const check = options.check!;
  const cp = summary.checkpoints;
  const signal = options.signal;
  const ordinal = cp.run + 1;
  const interrupted = () => {
    if (options.sync) target.sync();
    return new CheckpointInterruptedError(
      `interrupted after entry ${index}: entries ${summary.start}..${index} have been applied to ${target.path}; the checkpoint after it was not completed (it is not counted)`,
      index,
      { file: log.path },
      summary.start,
    );
  };
  // Interrupted already: no view, no checker (a resumed replay runs this checkpoint).
  if (signal?.aborted) throw interrupted();
  let outcome: CheckOutcome;
  let strategy: ViewStrategy | "target";
  if (check.onTarget === true) {
    strategy = "target";
    // The checker reads the target through its own file descriptors: what was written must be there.
    target.sync();
    const point: Checkpoint = { entry: index, ordinal, flags: flagNames(flags), state: String(index), log: log.path, image: target.path, view: "target", target: target.path };
    if (mark !== undefined) point.mark = mark;
    outcome = await runChecker(check.run, point, signal);
  } else {
    // The view is of the target as the page cache holds it: no fsync is needed first.
    const view = await (check.scratch as ScratchSpace).view(target.path, { size: target.size });
    strategy = view.strategy;
    try {
      const exposed = await view.expose({ image: true, nbd: check.nbd ?? false });
      const point: Checkpoint = { entry: index, ordinal, flags: flagNames(flags), state: String(index), log: log.path, image: exposed.image!, view: view.strategy, target: target.path };
      if (exposed.nbd !== undefined) point.nbd = exposed.nbd;
      if (mark !== undefined) point.mark = mark;
      outcome = await runChecker(check.run, point, signal);
    } finally {
      await view.dispose();
    }
  }
  if (signal?.aborted) throw interrupted();
  cp.run += 1;
  cp.views[strategy] = (cp.views[strategy] ?? 0) + 1;
  const result: CheckpointResult = { ...outcome, entry: index, ordinal };
  if (mark !== undefined) result.mark = mark;
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

/** A new summary for a replay of `plan` onto `target` in `mode` (nothing applied yet). */
export function startSummary(log: LogFile, target: ImageTarget, plan: ReplayPlan, mode: ReplaySummary["mode"]): ReplaySummary {
  return {
    log: log.path,
    target: target.path,
    sectorSize: log.sectorSize,
    mode,
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
    segments: 0,
    checkpoints: { run: 0, passed: 0, failed: [], lastGood: null, firstBad: null, views: {} },
    targetSize: target.size,
    targetCreated: target.created,
    targetKind: target.kind,
    seconds: 0,
  };
}
