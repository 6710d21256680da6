import { stat } from "node:fs/promises";
import { statSync } from "node:fs";
import {
  ErrorCodes,
  LogFile,
  LogFlags,
  LogIoError,
  LogRangeError,
  LogWriter,
  LwlogError,
  ioError,
  isValidSectorSize,
  maxMarkLength,
  sameFile,
  sharesStorage,
  type EntryToAppend,
} from "@lwlog/codec/core";
import { NbdBackendError, type NbdBackend } from "@lwlog/nbd";
import { ImageFile } from "./image.js";
import { RangeLocks } from "./range-lock.js";

/** Options of `LoggingDevice.open`. */
export interface LoggingDeviceOptions {
  /** The backing image: an existing regular file or block device, a whole number of sectors long. */
  image: string;
  /** The log file: created (it must not exist, or be empty) unless `append`. */
  log: string;
  /**
   * Log sector size S for a new log (default 512): a power of two from 32 B to 8 MiB.
   * With `append` it must match the existing log's, and sets the size of a missing or empty one.
   */
  sectorSize?: number;
  /** Append to an existing log, keeping its entries, including those past the declared count. */
  append?: boolean;
  /** Rewrite the superblock after every N entries too (default 4096, as QEMU); 0 turns it off. */
  superInterval?: number;
  /** Log write-zeroes as a DISCARD entry instead of a write of zeros. */
  zeroesAsDiscard?: boolean;
  /** Largest request advertised to clients (default 32 MiB). */
  maxRequest?: number;
  /** Called with every step that matters to durability and order (tests, `--verbose`). */
  trace?: (event: DeviceEvent) => void;
}

/** One step of the device, in the order it happened (see `LoggingDeviceOptions.trace`). */
export type DeviceEvent =
  | { type: "entry"; index: number; kind: "write" | "zeros" | "discard" | "flush" | "mark"; fua: boolean; sector: number; sectors: number }
  | { type: "image-sync" }
  | { type: "log-sync" }
  | { type: "super"; declared: number }
  | { type: "barrier"; up: boolean; parked: number }
  | { type: "failed"; error: LwlogError };

/** What the device has done (`status()` and the summary of `close()`). */
export interface DeviceStatus {
  image: string;
  log: string;
  sectorSize: number;
  /** Export size in bytes. */
  size: number;
  /** Entries in the log, including those it held when it was opened. */
  entries: number;
  /** Entries this device appended. */
  newEntries: number;
  /** Entries the superblock declares, as last written. */
  declared: number;
  /** Bytes of the log so far. */
  logBytes: number;
  /** Marks this device appended. */
  marks: number;
  /** The last mark appended, if any. */
  lastMark: { name: string; entry: number } | null;
  /** The last flush acknowledged, if any: its FLUSH entry and when (ISO 8601). */
  lastFlush: { entry: number; at: string } | null;
  /** Requests by kind since the device was opened. */
  requests: { reads: number; writes: number; flushes: number; discards: number; writeZeroes: number };
  /** Bytes clients asked to write (write requests only). */
  bytesWritten: number;
  /** Bytes clients asked to zero (write-zeroes requests). */
  bytesZeroed: number;
  /**
   * Data bytes of the write entries this device appended, what `lwlog info` counts as data
   * written: writes widened to whole sectors, and write-zeroes logged as writes of zeros
   * (not with `zeroesAsDiscard`), so it can exceed `bytesWritten`.
   */
  dataBytes: number;
  /** Set once the log or the image failed: every later write fails with EIO. */
  failure?: string;
}

const MiB = 1 << 20;
/** Bytes of writes after which the image and the log are written back in the background. */
const WRITE_BEHIND = 64 * MiB;

interface Deferred<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** One group commit: what the requests waiting for it need. */
interface Batch {
  /** The image must be synced (FUA, flush). */
  image: boolean;
  /** Flush requests: each gets its own FLUSH entry, placed after the image sync. */
  flushes: Deferred<number>[];
  /** Requests that only need the log durable and declared (FUA, marks, the interval). */
  waiters: Deferred<void>[];
}

/**
 * A logging block device: an image plus a dm-log-writes log. It is an `NbdBackend`, so the
 * NBD server serves it; every change a client makes becomes an entry, in the order the
 * requests complete on the image.
 *
 * Invariants (docs/driver.md states them for users):
 * - An entry's slot in the log is taken synchronously when its request completes on the
 *   image (`appendNow`), while the request still holds the lock on its sectors; so the log
 *   order of overlapping requests is the order their bytes reached the image, and every entry
 *   holds whole sectors of the image as it was then.
 * - A request is acknowledged only after its entry has its slot, so a later mark or flush
 *   always comes after it in the log.
 * - A FLUSH entry is appended only after an image sync that began after every entry before it
 *   was written to the image. While that sync runs (`parked` is set), completed requests wait
 *   for their slot and are logged right after the FLUSH entry.
 * - The superblock is written only after a log sync covering every entry it declares, and is
 *   synced before the request that asked for it (flush, FUA, mark) is acknowledged.
 * - After a failure (`failure` set) no entry is appended and every mutating request fails.
 */
export class LoggingDevice implements NbdBackend {
  readonly size: number;
  readonly sectorSize: number;
  readonly blockSizes: { minimum: number; preferred: number; maximum: number };
  readonly supports = { flush: true, fua: true, trim: true, writeZeroes: true, multiConn: true };
  readonly imagePath: string;
  readonly logPath: string;

  private readonly image: ImageFile;
  private readonly writer: LogWriter;
  private readonly locks = new RangeLocks();
  private readonly superInterval: number;
  private readonly zeroesAsDiscard: boolean;
  private readonly trace: ((event: DeviceEvent) => void) | undefined;
  private readonly entriesAtOpen: number;

  /** Completed requests waiting for a FLUSH entry's image sync to end (see invariants). */
  private parked: (() => void)[] | undefined;
  private next: Batch | undefined;
  private round: Promise<void> | undefined;
  private imageWrites = 0;
  private imageSynced = 0;
  /** Bytes written since the last write-behind started, and the one running. */
  private unsyncedBytes = 0;
  private behind: Promise<void> | undefined;
  private failure: LwlogError | undefined;
  private closing = false;
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();

  private marks = 0;
  private lastMark: DeviceStatus["lastMark"] = null;
  private lastFlush: DeviceStatus["lastFlush"] = null;
  private readonly requests = { reads: 0, writes: 0, flushes: 0, discards: 0, writeZeroes: 0 };
  private bytesWritten = 0;
  private bytesZeroed = 0;
  private dataBytes = 0;

  private constructor(image: ImageFile, writer: LogWriter, options: LoggingDeviceOptions) {
    this.image = image;
    this.writer = writer;
    this.size = image.size;
    this.sectorSize = writer.sectorSize;
    this.imagePath = image.path;
    this.logPath = writer.path;
    this.superInterval = options.superInterval ?? 4096;
    this.zeroesAsDiscard = options.zeroesAsDiscard ?? false;
    this.trace = options.trace;
    this.entriesAtOpen = writer.entries;
    const maximum = options.maxRequest ?? 32 * MiB;
    this.blockSizes = { minimum: 1, preferred: Math.min(Math.max(this.sectorSize, 512), maximum), maximum };
  }

  /**
   * Opens the image and creates (or, with `append`, opens) the log. Throws `LwlogError`s:
   * `LogIoError` for files that cannot be opened or a log that exists, `LogRangeError` for
   * a bad sector size or an image that is not a whole number of sectors.
   */
  static async open(options: LoggingDeviceOptions): Promise<LoggingDevice> {
    const S = options.sectorSize;
    if (S !== undefined && !isValidSectorSize(S)) {
      throw new LogRangeError(ErrorCodes.BAD_SECTOR_SIZE, `invalid sector size ${S}: it must be a power of two from 32 to 8388608`);
    }
    const interval = options.superInterval ?? 4096;
    if (!Number.isSafeInteger(interval) || interval < 0) {
      throw new LogRangeError(ErrorCodes.RANGE, `superblock interval must be a whole number ≥ 0, not ${interval}`);
    }
    const logSize = await stat(options.log).then(
      (s) => s.size,
      () => -1,
    );
    // The sector size: the existing log's when appending to one, else the option's (512 by default).
    let sector = S ?? 512;
    if (options.append && logSize > 0) {
      const existing = LogFile.openSync(options.log);
      sector = existing.sectorSize;
      existing.close();
      if (S !== undefined && S !== sector) {
        throw new LogRangeError(ErrorCodes.BAD_SECTOR_SIZE, `the log has ${sector}-byte sectors, not ${S} (leave out the sector size to append)`, {
          file: options.log,
        });
      }
    }
    if (logSize >= 0) refuseLogAsImage(options.image, options.log);
    const image = await ImageFile.open(options.image);
    try {
      if (image.size === 0 || image.size % sector !== 0) {
        throw new LogRangeError(
          ErrorCodes.RANGE,
          image.size === 0 ? "the image is empty" : `the image is ${image.size} bytes, not a whole number of ${sector}-byte log sectors`,
          { file: options.image },
        );
      }
      const writer = options.append
        ? await LogWriter.append(options.log, { keepTail: true, sectorSize: sector })
        : // An empty file holds nothing to lose; any other existing file is refused (LWLOG_EXISTS).
          await LogWriter.create(options.log, { sectorSize: sector, overwrite: logSize === 0 });
      return new LoggingDevice(image, writer, options);
    } catch (err) {
      await image.close();
      throw err;
    }
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.track(async () => {
      this.requests.reads += 1;
      const buf = new Uint8Array(length);
      try {
        await this.image.readInto(buf, offset);
      } catch (err) {
        throw nbdError(err, "EIO");
      }
      return buf;
    });
  }

  write(offset: number, data: Uint8Array, options: { fua: boolean }): Promise<void> {
    return this.track(async () => {
      this.usable();
      this.requests.writes += 1;
      this.bytesWritten += data.length;
      if (data.length === 0) return this.fuaCommit(options.fua);
      const S = this.sectorSize;
      const start = Math.floor(offset / S) * S;
      const end = Math.ceil((offset + data.length) / S) * S;
      const release = await this.locks.acquire(start, end);
      try {
        this.usable(); // logging may have failed while this request waited for its sectors
        let bytes = data;
        if (start !== offset || end !== offset + data.length) {
          bytes = new Uint8Array(end - start);
          await this.readSectors(bytes, start, offset, offset + data.length);
          bytes.set(data, offset - start);
        }
        await this.imageOp(() => this.image.writeAt(bytes, start));
        await this.logCompleted({ header: this.header(start, end - start, options.fua ? LogFlags.FUA : 0n), data: bytes }, "write");
        this.dataBytes += bytes.length;
      } finally {
        release();
      }
      await this.fuaCommit(options.fua);
    });
  }

  flush(): Promise<void> {
    return this.track(async () => {
      this.usable();
      this.requests.flushes += 1;
      const entry = await new Promise<number>((resolve, reject) => this.enqueue({ resolve, reject }, "flush"));
      this.lastFlush = { entry, at: new Date().toISOString() };
    });
  }

  trim(offset: number, length: number, options: { fua: boolean }): Promise<void> {
    return this.track(async () => {
      this.usable();
      this.requests.discards += 1;
      // A discard is advisory: only the whole sectors inside it are discarded (and zeroed).
      const S = this.sectorSize;
      const start = Math.ceil(offset / S) * S;
      const end = Math.floor((offset + length) / S) * S;
      if (end > start) {
        const release = await this.locks.acquire(start, end);
        try {
          this.usable();
          await this.imageOp(() => this.image.writeZeros(start, end - start));
          await this.logCompleted({ header: this.header(start, end - start, LogFlags.DISCARD | (options.fua ? LogFlags.FUA : 0n)) }, "discard");
        } finally {
          release();
        }
      }
      await this.fuaCommit(options.fua);
    });
  }

  writeZeroes(offset: number, length: number, options: { fua: boolean; noHole: boolean }): Promise<void> {
    return this.track(async () => {
      this.usable();
      this.requests.writeZeroes += 1;
      this.bytesZeroed += length;
      if (length > 0) {
        const S = this.sectorSize;
        const release = await this.locks.acquire(Math.floor(offset / S) * S, Math.ceil((offset + length) / S) * S);
        try {
          this.usable();
          for (const piece of zeroPieces(offset, length, S)) {
            const fua = options.fua ? LogFlags.FUA : 0n;
            if (piece.rmw) {
              // A partial sector: read-modify-write, logged as an ordinary write (QEMU's block layer does the same).
              const bytes = new Uint8Array(piece.end - piece.start);
              await this.readSectors(bytes, piece.start, piece.zeroFrom, piece.zeroTo);
              bytes.fill(0, piece.zeroFrom - piece.start, piece.zeroTo - piece.start);
              await this.imageOp(() => this.image.writeAt(bytes, piece.start));
              await this.logCompleted({ header: this.header(piece.start, bytes.length, fua), data: bytes }, "write");
              this.dataBytes += bytes.length;
            } else {
              await this.imageOp(() => this.image.writeZeros(piece.start, piece.end - piece.start));
              if (this.zeroesAsDiscard) {
                await this.logCompleted({ header: this.header(piece.start, piece.end - piece.start, LogFlags.DISCARD | fua) }, "discard");
              } else {
                await this.logCompleted({ header: this.header(piece.start, piece.end - piece.start, fua), zeros: true }, "zeros");
                this.dataBytes += piece.end - piece.start;
              }
            }
          }
        } finally {
          release();
        }
      }
      await this.fuaCommit(options.fua);
    });
  }

  /**
   * Appends a mark and returns its entry index once the mark is durable and declared. The
   * mark comes after every request acknowledged before this call and before every request
   * that arrives after it returns.
   */
  mark(name: string): Promise<number> {
    return this.track(async () => {
      const bytes = validMarkName(name, this.sectorSize);
      this.usable();
      const index = this.writer.entries;
      const appended = this.appendNow({ header: { sector: 0n, nrSectors: 0n, flags: LogFlags.MARK, dataLen: BigInt(bytes.length) }, inline: bytes }, "mark");
      await appended;
      this.marks += 1;
      this.lastMark = { name, entry: index };
      await new Promise<void>((resolve, reject) => this.enqueue({ resolve, reject }, "log"));
      return index;
    });
  }

  /** What the device has done so far. */
  status(): DeviceStatus {
    const s: DeviceStatus = {
      image: this.imagePath,
      log: this.logPath,
      sectorSize: this.sectorSize,
      size: this.size,
      entries: this.writer.entries,
      newEntries: this.writer.entries - this.entriesAtOpen,
      declared: this.writer.declared,
      logBytes: this.writer.offset,
      marks: this.marks,
      lastMark: this.lastMark,
      lastFlush: this.lastFlush,
      requests: { ...this.requests },
      bytesWritten: this.bytesWritten,
      bytesZeroed: this.bytesZeroed,
      dataBytes: this.dataBytes,
    };
    if (this.failure) s.failure = this.failure.describe();
    return s;
  }

  /**
   * Stops the device: new requests fail with ESHUTDOWN, requests in flight finish, then the
   * image and the log are made durable, `endMark` (if given) is appended, the superblock
   * declares every entry and both files are closed. The recorder's own syncs are not
   * entries. Returns the final status.
   */
  async close(options: { endMark?: string } = {}): Promise<DeviceStatus> {
    if (this.closed) return this.status();
    this.closing = true;
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    while (this.round) await this.round;
    if (this.behind) await this.behind;
    try {
      if (this.failure === undefined) {
        await this.image.sync();
        await this.writer.sync();
        // The end mark is skipped where no name that long fits (S = 32 holds no mark at all).
        if (options.endMark !== undefined && new TextEncoder().encode(options.endMark).length <= maxMarkLength(this.sectorSize)) {
          const bytes = validMarkName(options.endMark, this.sectorSize);
          const index = this.writer.entries;
          await this.appendNow({ header: { sector: 0n, nrSectors: 0n, flags: LogFlags.MARK, dataLen: BigInt(bytes.length) }, inline: bytes }, "mark");
          this.marks += 1;
          this.lastMark = { name: options.endMark, entry: index };
          await this.writer.sync();
        }
        await this.writer.close();
        this.trace?.({ type: "super", declared: this.writer.entries });
      } else {
        await this.writer.close({ super: false, sync: false }).catch(() => undefined);
      }
    } finally {
      this.closed = true;
      await this.image.close();
    }
    if (this.failure) throw this.failure;
    return this.status();
  }

  // ---- internals -------------------------------------------------------------------

  private track<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new NbdBackendError("ESHUTDOWN", "the recorder is shutting down"));
    const p = fn();
    this.inflight.add(p);
    const done = (): void => void this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private usable(): void {
    if (this.failure) throw new NbdBackendError("EIO", `the log can no longer be written: ${this.failure.describe()}`);
  }

  private header(start: number, bytes: number, flags: bigint): EntryToAppend["header"] {
    const S = this.sectorSize;
    return { sector: BigInt(start / S), nrSectors: BigInt(bytes / S), flags, dataLen: 0n };
  }

  /**
   * Reads into `target` (which covers `[start, start + target.length)`, whole sectors) the
   * first and last sectors, where `[from, to)` does not cover them: the bytes a
   * read-modify-write keeps.
   */
  private async readSectors(target: Uint8Array, start: number, from: number, to: number): Promise<void> {
    const S = this.sectorSize;
    const end = start + target.length;
    const reads: Promise<void>[] = [];
    if (from > start) reads.push(this.imageOp(() => this.image.readInto(target.subarray(0, S), start)));
    if (to < end && !(from > start && end - S === start)) {
      reads.push(this.imageOp(() => this.image.readInto(target.subarray(target.length - S), end - S)));
    }
    await Promise.all(reads);
  }

  private async imageOp(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      throw nbdError(err, "EIO");
    }
  }

  /**
   * Logs a request that has just completed on the image: now, or (while a FLUSH entry's image
   * sync runs) right after that FLUSH entry. Resolves with the entry's index once it has its
   * slot and its bytes are queued.
   */
  private logCompleted(entry: EntryToAppend, kind: "write" | "zeros" | "discard"): Promise<number> {
    this.imageWrites += 1;
    this.writeBehind(entry.data?.length ?? 0);
    if (this.parked) {
      const parked = this.parked;
      return new Promise<number>((resolve, reject) => parked.push(() => this.appendNow(entry, kind).then(resolve, reject)));
    }
    return this.appendNow(entry, kind);
  }

  /** Takes the next slot in the log synchronously; the promise settles when the bytes are queued. */
  private appendNow(entry: EntryToAppend, kind: "write" | "zeros" | "discard" | "flush" | "mark"): Promise<number> {
    if (this.failure) return Promise.reject(new NbdBackendError("EIO", `the log can no longer be written: ${this.failure.describe()}`));
    const index = this.writer.entries;
    const appended = this.writer.append(entry);
    if (this.writer.entries !== index + 1) {
      // The writer refused the entry before taking a slot (it has failed): report its error.
      return appended.catch((err) => Promise.reject(this.fail(err)));
    }
    this.trace?.({
      type: "entry",
      index,
      kind,
      fua: (entry.header.flags & LogFlags.FUA) !== 0n,
      sector: Number(entry.header.sector),
      sectors: Number(entry.header.nrSectors),
    });
    if (this.superInterval > 0 && (index + 1) % this.superInterval === 0) {
      this.enqueue({ resolve: () => undefined, reject: () => undefined }, "log");
    }
    return appended.then(
      () => index,
      (err) => Promise.reject(this.fail(err)),
    );
  }

  /**
   * After every `WRITE_BEHIND` bytes written, starts writing the image and the log back to disk
   * in the background (an `fdatasync` nobody waits for), so a flush that follows a stream of
   * writes finds little left to do. It logs nothing and changes no rule; a failure there is a
   * failure of the device (Linux reports a writeback error once, so it must not be lost).
   */
  private writeBehind(bytes: number): void {
    this.unsyncedBytes += bytes;
    if (this.unsyncedBytes < WRITE_BEHIND || this.behind || this.failure) return;
    this.unsyncedBytes = 0;
    this.behind = Promise.all([this.image.sync(), this.writer.sync()]).then(
      () => {
        this.behind = undefined;
      },
      (err: unknown) => {
        this.behind = undefined;
        this.fail(err instanceof LwlogError ? err : ioError(err, this.imagePath, "write the image back"));
      },
    );
  }

  private fuaCommit(fua: boolean): Promise<void> | undefined {
    if (!fua) return undefined;
    return new Promise<void>((resolve, reject) => this.enqueue({ resolve, reject }, "image"));
  }

  /** Adds a request to the next group commit and starts it when none is running. */
  private enqueue(waiter: Deferred<number> | Deferred<void>, need: "flush" | "image" | "log"): void {
    if (this.failure) {
      waiter.reject(new NbdBackendError("EIO", `the log can no longer be written: ${this.failure.describe()}`));
      return;
    }
    const batch = (this.next ??= { image: false, flushes: [], waiters: [] });
    if (need === "flush") batch.flushes.push(waiter as Deferred<number>);
    else batch.waiters.push(waiter as Deferred<void>);
    if (need !== "log") batch.image = true;
    this.kick();
  }

  private kick(): void {
    if (this.round || !this.next) return;
    const batch = this.next;
    this.next = undefined;
    this.round = this.commit(batch).finally(() => {
      this.round = undefined;
      this.kick();
    });
  }

  /**
   * One group commit: sync the image if a waiter needs it (raising the barrier for FLUSH
   * entries), append the FLUSH entries, then sync the log, write the superblock declaring
   * every entry so far, and sync again.
   */
  private async commit(batch: Batch): Promise<void> {
    const flushIndexes: number[] = [];
    try {
      const flushing = batch.flushes.length > 0;
      if (flushing) {
        this.parked = [];
        this.trace?.({ type: "barrier", up: true, parked: 0 });
      }
      try {
        if (batch.image || flushing) {
          if (this.imageWrites !== this.imageSynced) {
            const upTo = this.imageWrites;
            // The entries already in the log are synced meanwhile, so the log sync after the
            // FLUSH entry only has that entry (and the requests parked) left to write back.
            const early = this.writer.sync();
            await Promise.all([this.image.sync().catch((err) => Promise.reject(ioError(err, this.imagePath, "sync the image"))), early]);
            this.imageSynced = upTo;
          }
          this.trace?.({ type: "image-sync" });
        }
        for (let i = 0; i < batch.flushes.length; i++) {
          flushIndexes.push(this.writer.entries);
          this.appendNow({ header: { sector: 0n, nrSectors: 0n, flags: LogFlags.FLUSH, dataLen: 0n } }, "flush").catch(() => undefined);
        }
      } finally {
        if (flushing) {
          const parked = this.parked ?? [];
          this.parked = undefined;
          this.trace?.({ type: "barrier", up: false, parked: parked.length });
          for (const release of parked) release();
        }
      }
      const declared = this.writer.entries;
      await this.syncLog();
      await this.writer.writeSuper(declared);
      this.trace?.({ type: "super", declared });
      await this.syncLog();
    } catch (err) {
      // A failed sync may have lost data the client was told is written: stop logging for good.
      const error = this.fail(err);
      for (const w of [...batch.flushes, ...batch.waiters]) w.reject(error);
      return;
    }
    batch.flushes.forEach((w, i) => w.resolve(flushIndexes[i]!));
    for (const w of batch.waiters) w.resolve();
  }

  private async syncLog(): Promise<void> {
    await this.writer.sync();
    this.trace?.({ type: "log-sync" });
  }

  /** Records the first failure of the log (or an image sync); from now on every mutating request fails with EIO. */
  private fail(err: unknown): NbdBackendError {
    if (err instanceof NbdBackendError) return err;
    const error = err instanceof LwlogError ? err : ioError(err, this.logPath, "write the log");
    if (!this.failure) {
      this.failure = error;
      this.trace?.({ type: "failed", error });
    }
    return new NbdBackendError("EIO", `the log can no longer be written: ${this.failure.describe()}`);
  }
}

/** One piece of a write-zeroes request: an aligned run of zeros, or a read-modify-write of partial sectors. */
export interface ZeroPiece {
  /** Sector-aligned byte range written to the image and logged. */
  start: number;
  end: number;
  /** True when the piece keeps some bytes of the image (partial sectors). */
  rmw: boolean;
  /** The bytes set to zero, `[zeroFrom, zeroTo)`. */
  zeroFrom: number;
  zeroTo: number;
}

/**
 * Splits a write-zeroes request the way QEMU's block layer does (`bdrv_co_do_zero_pwritev`):
 * an unaligned head is a read-modify-write of its sector (of two sectors when the whole
 * request fits in them), then the aligned middle is a run of zeros, then an unaligned tail is
 * a read-modify-write of its sector. So a log entry matches QEMU's entry for entry.
 */
export function zeroPieces(offset: number, length: number, S: number): ZeroPiece[] {
  const head = offset % S;
  const tailRem = (offset + length) % S;
  const tail = tailRem === 0 ? 0 : S - tailRem;
  if (head === 0 && tail === 0) return [{ start: offset, end: offset + length, rmw: false, zeroFrom: offset, zeroTo: offset + length }];
  const pieces: ZeroPiece[] = [];
  const sum = head + length + tail;
  const bufLen = sum > S && head > 0 && tail > 0 ? 2 * S : S;
  let at = offset;
  let left = length;
  if (head > 0 || sum === bufLen) {
    const start = offset - head;
    const bytes = sum === bufLen ? bufLen : S;
    const zeroTo = Math.min(start + bytes, offset + length);
    pieces.push({ start, end: start + bytes, rmw: true, zeroFrom: offset, zeroTo });
    if (sum === bufLen) return pieces;
    at = start + bytes;
    left -= at - offset;
  }
  if (left >= S) {
    const aligned = left - (left % S);
    pieces.push({ start: at, end: at + aligned, rmw: false, zeroFrom: at, zeroTo: at + aligned });
    at += aligned;
    left -= aligned;
  }
  if (left > 0) pieces.push({ start: at, end: at + S, rmw: true, zeroFrom: at, zeroTo: at + left });
  return pieces;
}

/** A mark name as bytes, or a `LogRangeError` saying why it cannot be one. */
export function validMarkName(name: string, sectorSize: number): Uint8Array {
  if (name.length === 0) throw new LogRangeError(ErrorCodes.BAD_MARK, "a mark needs a name (it is empty)");
  if (name.includes("\0")) throw new LogRangeError(ErrorCodes.BAD_MARK, "a mark name cannot contain a NUL byte");
  const bytes = new TextEncoder().encode(name);
  const max = maxMarkLength(sectorSize);
  if (max < 1) throw new LogRangeError(ErrorCodes.BAD_MARK, `${sectorSize}-byte log sectors hold no mark name (a mark needs S ≥ 64)`);
  if (bytes.length > max) {
    throw new LogRangeError(ErrorCodes.BAD_MARK, `the mark name is ${bytes.length} bytes, too long for ${sectorSize}-byte log sectors (at most ${max})`);
  }
  return bytes;
}

function nbdError(err: unknown, fallback: "EIO"): NbdBackendError {
  if (err instanceof NbdBackendError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return new NbdBackendError("ENOSPC", `no space left on the image: ${(err as Error).message}`);
  return new NbdBackendError(fallback, err instanceof Error ? err.message : String(err));
}

/**
 * Refuses (`LWLOG_TARGET_IS_LOG`) an image that is the log, or shares its storage (a loop
 * device over it): every write a client made would overwrite the log being written.
 */
function refuseLogAsImage(image: string, log: string): void {
  let a, b;
  try {
    a = statSync(image);
    b = statSync(log);
  } catch {
    return; // opening them reports it
  }
  if (!sharesStorage(a, b)) return;
  const what = sameFile(a, b) ? `is the log itself (${log})` : `shares its storage with the log (${log}: a loop device or a partition over it)`;
  throw new LogIoError("LWLOG_TARGET_IS_LOG", `${what}; recording onto it would destroy the log: give another image`, { file: image });
}
