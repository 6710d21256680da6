import type { LogFile } from "@lwlog/codec/core";
import { ImageTarget } from "@lwlog/replay";

type EntryToApply = Parameters<ImageTarget["applyEntry"]>[0];
import { KIND, KIND_NAMES, type CrashLog } from "./log-table.js";

/**
 * The durable prefix of the crash points met so far, on an image the engine owns: one forward
 * pass over the log, never a replay from zero. Invariants: entries `[0, applied)` have been
 * applied to the image, in log order, and `applied` only grows; the image is `size` bytes.
 */
export class DurableImage {
  readonly path: string;
  private readonly target: ImageTarget;
  private done = 0;

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
   * Applies entries `[applied, to)` (writes and discards, in log order). Scratch views of the
   * image must be closed first: they read it.
   */
  advanceTo(log: CrashLog, file: LogFile, to: number): void {
    if (to < this.done) throw new RangeError(`the durable image holds ${this.done} entries; it cannot go back to ${to}`);
    const S = log.sectorSize;
    const e: EntryToApply = { index: 0, kind: "write", sector: 0, nrSectors: 0, offset: 0, dataSize: 0 };
    for (let i = this.done; i < to; i++) {
      if (!log.isRanged(i)) continue;
      e.index = i;
      e.kind = KIND_NAMES[log.kinds[i]!]!;
      e.sector = log.offsets[i]! / S;
      e.nrSectors = log.lengths[i]! / S;
      e.offset = log.headers[i]!;
      e.dataSize = log.kinds[i] === KIND.write ? log.lengths[i]! : 0;
      this.target.applyEntry(e, file);
    }
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
