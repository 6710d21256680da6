import { closeSync, fstatSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import type { NbdBackend } from "./backend.js";
import { sizeOfStat } from "./file-backend.js";
import { RangeMap } from "./range-map.js";

/** Options of `OverlayBackend.open`. */
export interface OverlayBackendOptions {
  /**
   * A path for the overlay's data: a new sparse file (refused if it exists) holding written
   * bytes at their own offsets, removed by `close()`. Its size is the export's; only what is
   * written is allocated.
   */
  store: string;
  /** Export size (default: the base's size). Bytes past the base's end read as zeros. */
  size?: number;
  /** Block sizes to advertise; default minimum 1, preferred 4096, maximum 32 MiB. */
  blockSizes?: { minimum: number; preferred: number; maximum: number };
}

const DATA = 1;
const ZERO = 2;

/**
 * A copy-on-write view of a base file or block device, served over NBD or written directly:
 * reads come from the base except where the overlay has been written, zeroed or trimmed;
 * every change goes to the overlay, so the base is never written (it is opened read-only).
 * Writes land in a sparse store file at their own offsets; zeroed and trimmed ranges are
 * only noted (they read as zeros), so zeroing costs nothing whatever its length.
 *
 * Invariants: `map` labels exactly the bytes the overlay answers for: `DATA` ranges are read
 * from the store, `ZERO` ranges read as zeros; everything else is read from the base (zeros
 * past the base's end). The base must not change while the overlay is in use: the view is
 * of the base as it is, not as it was.
 *
 * Flush and FUA have nothing to make durable (the overlay is scratch space, thrown away by
 * `close()`): they complete at once, and every completed write is visible to later reads.
 */
export class OverlayBackend implements NbdBackend {
  readonly size: number;
  readonly readOnly = false;
  readonly blockSizes: { minimum: number; preferred: number; maximum: number } | undefined;
  readonly supports = { flush: true, fua: true, trim: true, writeZeroes: true, multiConn: true, fastZero: true };
  readonly basePath: string;
  readonly storePath: string;
  private readonly baseFd: number;
  private readonly baseSize: number;
  private readonly storeFd: number;
  private readonly map = new RangeMap();
  private closed = false;

  private constructor(basePath: string, baseFd: number, baseSize: number, storePath: string, storeFd: number, size: number, options: OverlayBackendOptions) {
    this.basePath = basePath;
    this.baseFd = baseFd;
    this.baseSize = baseSize;
    this.storePath = storePath;
    this.storeFd = storeFd;
    this.size = size;
    this.blockSizes = options.blockSizes;
  }

  /** Opens `base` (a regular file or block device) read-only and creates the store. */
  static open(base: string, options: OverlayBackendOptions): OverlayBackend {
    const baseFd = openSync(base, "r");
    let storeFd: number | undefined;
    try {
      const baseSize = sizeOfStat(fstatSync(baseFd), base);
      const size = options.size ?? baseSize;
      if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
      storeFd = openSync(options.store, "wx+", 0o600);
      ftruncateSync(storeFd, size);
      return new OverlayBackend(base, baseFd, baseSize, options.store, storeFd, size, options);
    } catch (err) {
      closeSync(baseFd);
      if (storeFd !== undefined) {
        closeSync(storeFd);
        unlinkSync(options.store);
      }
      throw err;
    }
  }

  /** Bytes the overlay holds (written, zeroed or trimmed). */
  get overlaid(): number {
    return this.map.covered;
  }

  /** Fills `out` with the view's bytes at `offset` (synchronously). */
  readInto(out: Uint8Array, offset: number): void {
    this.check(offset, out.length);
    for (const seg of this.map.segments(offset, offset + out.length)) {
      const view = out.subarray(seg.start - offset, seg.end - offset);
      if (seg.label === ZERO) view.fill(0);
      else if (seg.label === DATA) readFully(this.storeFd, view, seg.start);
      else this.readBase(view, seg.start);
    }
  }

  /** Writes `data` at `offset` into the overlay (synchronously). */
  writeSync(offset: number, data: Uint8Array): void {
    this.check(offset, data.length);
    let done = 0;
    while (done < data.length) done += writeSync(this.storeFd, data, done, data.length - done, offset + done);
    this.map.set(offset, offset + data.length, DATA);
  }

  /** Makes `[offset, offset + length)` read as zeros (synchronously; nothing is written). */
  zeroSync(offset: number, length: number): void {
    this.check(offset, length);
    this.map.set(offset, offset + length, ZERO);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    this.readInto(out, offset);
    return out;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.writeSync(offset, data);
  }

  async flush(): Promise<void> {}

  async trim(offset: number, length: number): Promise<void> {
    this.zeroSync(offset, length);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.zeroSync(offset, length);
  }

  /** Closes the base and removes the store (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.baseFd);
    closeSync(this.storeFd);
    try {
      unlinkSync(this.storePath);
    } catch {
      // already gone (its directory removed first): nothing left to free
    }
  }

  private readBase(view: Uint8Array, offset: number): void {
    const inBase = Math.max(0, Math.min(view.length, this.baseSize - offset));
    if (inBase > 0) readFully(this.baseFd, view.subarray(0, inBase), offset);
    view.fill(0, inBase);
  }

  private check(offset: number, length: number): void {
    if (this.closed) throw new Error(`the overlay of ${this.basePath} is closed`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`bytes ${offset}+${length} are outside the ${this.size}-byte view of ${this.basePath}`);
    }
  }
}

/** Reads `view.length` bytes at `offset`; past the end of the file, zeros. */
function readFully(fd: number, view: Uint8Array, offset: number): void {
  let done = 0;
  while (done < view.length) {
    const n = readSync(fd, view, done, view.length - done, offset + done);
    if (n === 0) {
      view.fill(0, done);
      return;
    }
    done += n;
  }
}
