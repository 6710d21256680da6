import { LogFormatError, LogIoError, byteLength, type EntrySummary, type LogCursor, type LogEntry, type LogFile } from "@lwlog/codec/core";
import { StateBuilder } from "@lwlog/state";
import { ReplayInterruptedError } from "./errors.js";
import { FED, PlanWalk, entryEnd, planReplay, subjectToSectors, touches, type PlanOptions, type ReplayPlan } from "./plan.js";
import { BrokenLogError, TargetWriteError, countMatchable, isCheckpoint, nothingToReplay, runCheckpoint, startSummary, type ReplayOptions, type ReplayProgress, type ReplaySummary } from "./replay.js";
import { writeState } from "./survivors.js";
import type { ImageTarget } from "./target.js";

/** Memory a segment's interval map may take by default (bytes): well under the 200 MB a replay may use. */
export const DEFAULT_SEGMENT_BUDGET = 64 << 20;
const YIELD_MS = 50n * 1_000_000n;
const PROGRESS_MS = 100n * 1_000_000n;

/** What the entries of a segment did, counted as in `ReplaySummary`. */
type Counts = Pick<ReplaySummary, "entries" | "writes" | "bytesWritten" | "discards" | "bytesZeroed" | "discardsSkipped" | "filtered" | "tailReplayed">;

const zeroCounts = (): Counts => ({ entries: 0, writes: 0, bytesWritten: 0, discards: 0, bytesZeroed: 0, discardsSkipped: 0, filtered: 0, tailReplayed: 0 });

/** Why `Segment.take` wants the segment written now. */
const TAKEN = { more: 0, full: 1, checkpoint: 2 } as const;

/**
 * The effects of consecutive entries that are not on the target yet. Invariants: the builder's
 * pieces are the writes and discards of entries `first..last` (in log order, ids from 0);
 * `sources[id]` is the log offset of a write's data, -1 for a discard; `counts` is what those
 * entries did. `flush` writes what they leave (the last writer of each byte) and empties it.
 */
class Segment {
  private readonly builder: StateBuilder;
  private sources = new Float64Array(4096);
  first = -1;
  last = -1;
  counts = zeroCounts();
  /** Segments written so far. */
  flushed = 0;

  constructor(budgetBytes: number) {
    this.builder = new StateBuilder({ budgetBytes, extraBytesPerPiece: 8 });
  }

  get empty(): boolean {
    return this.first < 0;
  }

  get full(): boolean {
    return this.builder.full;
  }

  /** Notes entry `index` as part of the segment (every entry replayed, whatever it does). */
  note(index: number): void {
    if (this.first < 0) this.first = index;
    this.last = index;
  }

  add(offset: number, length: number, source: number): void {
    if (length === 0) return;
    const id = this.builder.add(offset, length);
    if (id >= this.sources.length) {
      const grown = new Float64Array(Math.min(this.builder.capacity, this.sources.length * 2));
      grown.set(this.sources);
      this.sources = grown;
    }
    this.sources[id] = source;
  }

  /** Writes what the segment's entries leave on the target, then empties it. */
  flush(target: ImageTarget, log: LogFile): void {
    if (this.builder.count > 0) {
      const map = this.builder.build();
      writeState(target, log, map, { offsets: this.builder.offsets, sources: this.sources });
      this.builder.reset();
    }
    this.first = -1;
    this.last = -1;
    this.counts = zeroCounts();
    this.flushed += 1;
  }
}

/**
 * Replays a log by compaction: the entries' writes and discards are recorded in a last-writer
 * interval map (`@lwlog/state`) instead of being applied one by one, and at each observation
 * point (a checkpoint, the stop point, or when the map reaches its memory budget) the bytes
 * that survive are written in ascending target order, the ranges that follow each other in one
 * large write, their data read from the log (see `writeState`). The image is the same as an
 * in-order replay's at every observation point; between them it holds an earlier state.
 *
 * One walk over the headers plans the replay and records the entries' effects at once (the
 * plan is complete before anything is written); when the map fills up, or a checkpoint comes,
 * before the plan is complete, the walk plans on and the recording resumes there afterwards.
 *
 * `open` opens the target once the plan is complete (`openTarget`: the same sizing and
 * refusals as in order); the caller closes it.
 */
export async function replayCompacted(log: LogFile, options: ReplayOptions, began: bigint, open: (plan: ReplayPlan) => ImageTarget): Promise<ReplaySummary> {
  const S = log.sectorSize;
  const segment = new Segment(options.memoryBudget ?? DEFAULT_SEGMENT_BUDGET);
  const rules = options.check?.rules ?? [];
  const discardSkip = options.discard === "skip";
  const fast = options.onEntry === undefined;
  const targetPath = typeof options.target === "string" ? options.target : options.target.path;
  const planOptions: PlanOptions = {
    ...(options.from ? { from: options.from } : {}),
    ...(options.until ? { until: options.until } : {}),
    tail: options.tail ?? false,
    ...(options.sectors ? { sectors: options.sectors } : {}),
    ...(options.sectorFilter ? { sectorFilter: options.sectorFilter } : {}),
    skipDiscards: discardSkip,
    walkAll: options.size === "auto" && typeof options.target === "string",
  };
  // Entries recorded so far (in the segment or written), and why the recording paused.
  let recorded = 0;
  let paused: number = TAKEN.more;
  /** The checkpoint the segment ends at: its entry's flags and mark. */
  let check: { flags: bigint; mark: string | undefined } | undefined;
  let resume: { index: number; offset: number } | undefined;
  const progress: ReplayProgress = { entries: 0, totalEntries: Math.max(0, log.declared - (options.from?.entry ?? 0)), logBytes: 0, totalLogBytes: log.size - S, checkpoints: 0 };
  let startOffset = -1;

  /** Records what entry `sum` does (its range, or nothing) in the segment; says whether to write the segment now. */
  const take = (sum: EntrySummary): number => {
    const e = sum.entry;
    const c = segment.counts;
    segment.note(sum.index);
    let action: "write" | "discard" | "skip" | "none" | "filtered" = "none";
    let bytes = 0;
    if (sum.kind === "write" || sum.kind === "discard") {
      // An empty discard touches no byte: its sector (any u64) is never a position.
      const empty = e !== undefined ? e.nrSectors === 0n : sum.nrSectors === 0;
      // One past its last byte, checked below 2^53 (the error names the log, entry and offset).
      const length = empty ? 0 : e !== undefined ? byteLength(e, S) : sum.nrSectors * S;
      const offset = empty ? 0 : entryEnd(e ?? sum, log) - length;
      if (subjectToSectors(sum.kind, options) && !touches(e ?? { sector: BigInt(sum.sector), nrSectors: BigInt(sum.nrSectors) }, options.sectors!)) {
        action = "filtered";
        c.filtered += 1;
      } else if (sum.kind === "write") {
        action = "write";
        bytes = length;
        c.writes += 1;
        c.bytesWritten += length;
        segment.add(offset, length, sum.offset + S);
      } else if (discardSkip) {
        action = "skip";
        c.discardsSkipped += 1;
      } else {
        action = "discard";
        bytes = length;
        c.discards += 1;
        c.bytesZeroed += length;
        segment.add(offset, length, -1);
      }
    }
    if (e !== undefined) options.onEntry?.(e, { action, bytes });
    if (sum.tail) c.tailReplayed += 1;
    c.entries += 1;
    recorded += 1;
    if (startOffset < 0) startOffset = sum.offset;
    progress.entries = recorded;
    progress.logBytes = sum.nextOffset - startOffset;
    if (rules.length > 0) {
      const flags = e !== undefined ? Number(e.flags & 0x1fn) : sum.knownFlags;
      if (isCheckpoint(flags, sum.kind, rules, recorded)) {
        check = { flags: e?.flags ?? BigInt(flags), mark: e?.mark };
        return TAKEN.checkpoint;
      }
    }
    return segment.full ? TAKEN.full : TAKEN.more;
  };

  const pacer = new Pacer(options, progress);
  let plan: ReplayPlan;
  if (options.index !== undefined) {
    plan = planReplay(log, { ...planOptions, index: options.index, extent: options.size === "auto" });
    resume = plan.stop >= plan.start ? { index: plan.start, offset: plan.startOffset } : undefined;
  } else {
    // The planning walk, recording as it goes until the segment must be written.
    const walk = new PlanWalk(log, planOptions);
    const cursor = log.cursor({ tail: true, lenient: true });
    let recording = true;
    for (let sum = read(cursor, fast); sum !== undefined; sum = read(cursor, fast)) {
      const fed = walk.feed(sum);
      if (fed !== FED.out && recording) {
        paused = take(sum);
        if (paused !== TAKEN.more || fed === FED.stop) {
          recording = false;
          resume = { index: sum.index + 1, offset: sum.nextOffset };
        }
      }
      if (walk.done) break;
      if ((sum.index & 255) === 0 && (await pacer.tick())) {
        throw new ReplayInterruptedError(`interrupted while planning the replay: nothing was written to ${targetPath}`, -1, { file: log.path }, 0, true);
      }
    }
    plan = walk.finish(cursor.end);
    if (recording) resume = undefined;
  }
  if (plan.broken !== undefined && plan.stop < plan.start) throw nothingToReplay(plan.broken, targetPath);
  progress.totalEntries = plan.entries;
  progress.totalLogBytes = plan.logBytes;

  const target = open(plan);
  const summary = startSummary(log, target, plan, "compacted");
  const finish = () => {
    summary.seconds = Number(process.hrtime.bigint() - began) / 1e9;
    summary.segments = segment.flushed;
    progress.checkpoints = summary.checkpoints.run;
    options.onProgress?.(progress);
    return summary;
  };
  /** Writes the segment; then, when it ended at a checkpoint, runs it. False when a failed checkpoint stops the replay. */
  const settle = async (why: number): Promise<boolean> => {
    flushSegment(segment, target, log, summary, finish);
    if (why !== TAKEN.checkpoint) return true;
    const ok = await runCheckpoint(summary.last, check!.flags, check!.mark, log, target, options, summary);
    progress.checkpoints = summary.checkpoints.run;
    return ok || (options.check?.keepGoing ?? false);
  };
  let going = await settle(paused);
  if (going && resume !== undefined && resume.index <= plan.stop) {
    const cursor = log.cursor({ start: resume, tail: true });
    for (let i = resume.index; i <= plan.stop && going; i++) {
      let sum: EntrySummary | undefined;
      try {
        sum = read(cursor, fast);
      } catch (err) {
        if (err instanceof LogFormatError) {
          flushSegment(segment, target, log, summary, finish);
          throw new BrokenLogError(err, finish());
        }
        throw err;
      }
      if (sum === undefined) {
        flushSegment(segment, target, log, summary, finish);
        throw new BrokenLogError(
          new LogFormatError("LWLOG_TRUNCATED_HEADER", `entry ${i} is gone (${cursor.end?.detail ?? "the log changed during the replay"})`, { file: log.path, entry: i, offset: cursor.nextOffset }),
          finish(),
        );
      }
      const why = take(sum);
      if (why !== TAKEN.more || i === plan.stop) going = await settle(why);
      // (Interrupted at the last entry, the replay is done: it finishes as if not interrupted.)
      if ((i & 255) === 0 && going && i < plan.stop && (await pacer.tick())) {
        flushSegment(segment, target, log, summary, finish);
        if (options.sync) target.sync();
        const s = finish();
        throw new ReplayInterruptedError(`interrupted after entry ${s.last}: entries ${s.start}..${s.last} have been applied to ${target.path}`, s.last, { file: log.path }, s.start);
      }
    }
  }
  if (!segment.empty) flushSegment(segment, target, log, summary, finish);
  if (options.sync) target.sync();
  if (plan.broken !== undefined && summary.last === plan.stop) throw new BrokenLogError(plan.broken, finish());
  if (options.check !== undefined && summary.checkpoints.run === 0) summary.checkpoints.unmatched = countMatchable(log, plan.start, plan.startOffset, summary.last);
  return finish();
}

/** The next entry from a cursor: its summary (`skim`), or, for a per-entry callback, the full entry as one. */
function read(cursor: LogCursor, fast: boolean): EntrySummary | undefined {
  if (fast) return cursor.skim();
  const e = cursor.next();
  return e === undefined ? undefined : summaryOf(e);
}

/** A `LogEntry` as the summary `skim` would give for it, the entry itself attached (sectors then come from it). */
function summaryOf(e: LogEntry): EntrySummary {
  return {
    index: e.index,
    offset: e.offset,
    nextOffset: e.nextOffset,
    dataSize: e.dataSize,
    kind: e.kind,
    tail: e.tail,
    knownFlags: Number(e.flags & 0x1fn),
    unknownFlags: (e.flags & ~0x1fn) !== 0n,
    sector: -1,
    nrSectors: -1,
    entry: e,
  };
}

/** Writes the segment and moves its counts into the summary; a failed write is a `TargetWriteError` naming the segment. */
function flushSegment(segment: Segment, target: ImageTarget, log: LogFile, summary: ReplaySummary, finish: () => ReplaySummary): void {
  if (segment.empty) return;
  const { first, last, counts } = segment;
  try {
    segment.flush(target, log);
  } catch (err) {
    if (err instanceof LogIoError) {
      throw new TargetWriteError(err, { index: first, offset: -1 }, finish(), { first, last });
    }
    if (err instanceof LogFormatError) throw new BrokenLogError(err, finish());
    throw err;
  }
  summary.last = last;
  summary.entries += counts.entries;
  summary.writes += counts.writes;
  summary.bytesWritten += counts.bytesWritten;
  summary.discards += counts.discards;
  summary.bytesZeroed += counts.bytesZeroed;
  summary.discardsSkipped += counts.discardsSkipped;
  summary.filtered += counts.filtered;
  summary.tailReplayed += counts.tailReplayed;
}

/**
 * Paces a long walk: progress about ten times a second, a turn of the event loop every 50 ms
 * (signals, timers, the progress bar), and the abort signal.
 */
class Pacer {
  private lastYield = process.hrtime.bigint();
  private lastProgress = this.lastYield;
  constructor(
    private readonly options: ReplayOptions,
    private readonly progress: ReplayProgress,
  ) {}

  /** True when the replay is to stop (the signal is aborted). */
  async tick(): Promise<boolean> {
    const now = process.hrtime.bigint();
    if (this.options.onProgress && now - this.lastProgress >= PROGRESS_MS) {
      this.lastProgress = now;
      this.options.onProgress(this.progress);
    }
    if (now - this.lastYield >= YIELD_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      this.lastYield = process.hrtime.bigint();
    }
    return this.options.signal?.aborted ?? false;
  }
}
