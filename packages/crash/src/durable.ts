import { LogIndex, type LogFile } from "@lwlog/codec/core";
import { ImageTarget, replayLog } from "@lwlog/replay";
import type { CrashLog } from "./log-table.js";

/**
 * The durable prefix of the crash points met so far, on an image the engine owns: one forward
 * pass over the log, never a replay from zero. Invariants: entries `[0, applied)` have been
 * applied to the image (by `@lwlog/replay`'s compacting replay: what survives of each stretch
 * between two points, in target order) and `applied` only grows; the image is `size` bytes.
 */
export class DurableImage {
  readonly path: string;
  private readonly target: ImageTarget;
  private done = 0;
  private index: LogIndex | undefined;

  private constructor(path: string, target: ImageTarget) {
    this.path = path;
    this.target = target;
  }

  /** Creates the image at `path` (which must not exist), `size` bytes of zeros. */
  static create(path: string, size: number): DurableImage {
    return new DurableImage(path, ImageTarget.open(path, { size }));
  }

  /** Entries applied so far. */
  get applied(): number {
    return this.done;
  }

  get size(): number {
    return this.target.size;
  }

  /**
   * Applies entries `[applied, to)`. Scratch views of the image must be closed first: they
   * read it.
   */
  async advanceTo(log: CrashLog, file: LogFile, to: number): Promise<void> {
    if (to < this.done) throw new RangeError(`the durable image holds ${this.done} entries; it cannot go back to ${to}`);
    let ranged = false;
    for (let i = this.done; i < to && !ranged; i++) ranged = log.isRanged(i);
    if (ranged) await applyEntries(log, file, this.target, this.done, to, (this.index ??= LogIndex.build(file)));
    this.done = to;
  }

  /** The image as an `ImageTarget` (for reads; writes go through `advanceTo`). */
  get image(): ImageTarget {
    return this.target;
  }

  close(): void {
    this.target.close();
  }
}

/** Applies entries `[from, to)` of the log to `target` with the compacting replay (an index makes the start a lookup). */
export async function applyEntries(log: CrashLog, file: LogFile, target: ImageTarget, from: number, to: number, index?: LogIndex): Promise<void> {
  if (to <= from) return;
  await replayLog({ log: file, target, from: { entry: from }, until: { entry: to - 1 }, tail: log.tailTaken, ...(index !== undefined ? { index } : {}) });
}
