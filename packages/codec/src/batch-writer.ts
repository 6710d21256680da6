import { closeSync, openSync, write, writeSync } from "node:fs";
import { ENTRY_FIELDS, LogFlags } from "./constants.js";
import { encodeEntryHeaderInto } from "./entry.js";
import { ErrorCodes, LogRangeError, LwlogError, ioError } from "./errors.js";
import { isValidSectorSize, toSafeNumber } from "./numbers.js";
import { encodeSuper } from "./super.js";
import type { EntryToAppend } from "./writer.js";

/**
 * Where an entry's data comes from when it is not in memory: fills `target[at, at + length)`
 * with the bytes `[from, from + length)` of the data (e.g. straight from the source log with
 * `LogFile.readAt`), so it lands in the output buffer without a copy in between.
 */
export type DataSource = (target: Uint8Array, at: number, length: number, from: number) => void;

/**
 * Copies an entry's data into the log by itself: writes `length` bytes at `position` of the
 * log's file descriptor `fd` (e.g. `copy_file_range` from the source log, in the kernel).
 */
export type DataCopy = (fd: number, position: number, length: number) => void;

/** Options of `LogBatchWriter.create`. */
export interface BatchWriterOptions {
  /** Log sector size S: a power of two from 32 B to 8 MiB. */
  sectorSize: number;
  /** Value for the 4 superblock bytes after `sectorsize` (default 0). */
  superPadding?: number;
  /** Replace an existing file (default: refuse with `LWLOG_EXISTS`). */
  overwrite?: boolean;
  /** Bytes per write (default 1 MiB, at least S): 1 MiB writes measured faster than 4 MiB ones. */
  bufferSize?: number;
  /** Buffers: one is filled while the others are written (default 3). */
  buffers?: number;
}

const DEFAULT_BUFFER = 1 << 20;
/** Buffered bytes before a copied entry written synchronously (above: handed to the thread pool). */
const SYNC_WRITE = 64 << 10;
const TWO_32 = 0x1_0000_0000;
const DISCARD_BIT = Number(LogFlags.DISCARD);

/**
 * Writes a new log front to back for one-pass producers (`convertLog`, which rewrites a
 * whole log): entries are laid out in a small pool of reused buffers, each written with one
 * positional write on the thread pool while the next is filled, so the producer's reads and
 * the writes overlap and nothing is allocated per entry. `appendPlain` takes an ordinary
 * entry as numbers (no bigint, no header object); `appendPlainCopy` lets the caller put large
 * data in place itself (`copy_file_range`). Unlike `LogWriter` it has no superblock policy:
 * the superblock declares 0 entries until `writeSuper`.
 *
 * Invariants:
 * - `pool[cur]` is being filled: it holds file bytes `[bufStart, bufStart + len)`, and
 *   `bufStart + len` is where the next header block goes; `count` entries precede it.
 * - Every other buffer is idle or being written (`busy[i]` is its write, which never
 *   rejects: a failure is kept in `failure` and thrown by the next call).
 * - A call that returns a promise must be awaited before the writer (or the data passed to
 *   it) is used again: it is waiting for a buffer to come back. A call that returns
 *   `undefined` has copied everything it was given.
 * - The superblock (S bytes at 0) starts the first buffer, declaring 0 entries; `writeSuper`
 *   rewrites it once every earlier write has settled. Header blocks are zero-padded to S.
 */
export class LogBatchWriter {
  readonly path: string;
  readonly sectorSize: number;
  private readonly fd: number;
  private readonly superPadding: number;
  private readonly pool: Uint8Array[];
  private readonly views: DataView[];
  private readonly busy: (Promise<void> | undefined)[];
  private cur = 0;
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;
  private bufStart = 0;
  private count = 0;
  private waiting = false;
  private closed = false;
  private failure: LwlogError | undefined;

  private constructor(path: string, fd: number, options: BatchWriterOptions) {
    this.path = path;
    this.fd = fd;
    this.sectorSize = options.sectorSize;
    this.superPadding = options.superPadding ?? 0;
    const size = Math.max(options.bufferSize ?? DEFAULT_BUFFER, options.sectorSize);
    const n = Math.max(2, options.buffers ?? 3);
    this.pool = Array.from({ length: n }, () => new Uint8Array(size));
    this.views = this.pool.map((b) => new DataView(b.buffer));
    this.busy = this.pool.map(() => undefined);
    this.buf = this.pool[0]!;
    this.view = this.views[0]!;
    const block = encodeSuper({ nrEntries: 0n, sectorSize: this.sectorSize, padding: this.superPadding });
    this.buf.set(block, 0);
    this.len = block.length;
  }

  /** Creates a new log file (nothing is written until the first buffer fills or `drain`). */
  static create(path: string, options: BatchWriterOptions): LogBatchWriter {
    if (!isValidSectorSize(options.sectorSize)) {
      throw new LogRangeError(ErrorCodes.BAD_SECTOR_SIZE, `invalid sector size ${options.sectorSize}: it must be a power of two from 32 to 8388608`, {
        file: path,
      });
    }
    let fd: number;
    try {
      fd = openSync(path, options.overwrite ? "w" : "wx");
    } catch (err) {
      throw ioError(err, path, "create the log");
    }
    return new LogBatchWriter(path, fd, options);
  }

  /** Entries appended so far. */
  get entries(): number {
    return this.count;
  }

  /** Byte offset where the next entry's header block goes (the log's length so far). */
  get offset(): number {
    return this.bufStart + this.len;
  }

  /**
   * Appends an ordinary entry given as numbers: `sector`, `nrSectors` and `flags` safe
   * integers, `data_len` 0, nothing inline, and `data` exactly `nrSectors × S` bytes (none
   * for a discard) or a `DataSource` that reads them. Returns a promise only when it has to
   * wait for a buffer (see the invariants).
   */
  appendPlain(sector: number, nrSectors: number, flags: number, data?: Uint8Array | DataSource): Promise<void> | undefined {
    this.usable();
    const S = this.sectorSize;
    const size = this.plainSize(sector, nrSectors, flags);
    this.checkData(size, nrSectors, data);
    if (this.len + S + size <= this.buf.length) {
      // The usual case: header and data fit the buffer being filled. `len` moves only once
      // both are in, so a source that throws leaves no trace.
      const at = this.len;
      this.putPlainHeader(at, sector, nrSectors, flags);
      if (size > 0) {
        if (typeof data === "function") data(this.buf, at + S, size, 0);
        else this.buf.set(data!, at + S);
      }
      this.len = at + S + size;
      this.count += 1;
      return undefined;
    }
    const header = { sector: BigInt(sector), nrSectors: BigInt(nrSectors), flags: BigInt(flags), dataLen: 0n };
    if (this.len + S <= this.buf.length) {
      encodeEntryHeaderInto(this.buf, this.len, header, S);
      this.len += S;
      return this.appendData(size, data);
    }
    return this.appendData(size, data, header);
  }

  /**
   * Appends an ordinary entry as `appendPlain` does, with its data put in the log by `copy`
   * rather than through the buffers: for large data that can be copied in the kernel. The
   * bytes buffered before it go out first, then `copy` runs (synchronously) for the data's
   * place in the file. Returns a promise only when it has to wait for a buffer.
   */
  appendPlainCopy(sector: number, nrSectors: number, flags: number, copy: DataCopy): Promise<void> | undefined {
    this.usable();
    const S = this.sectorSize;
    const size = this.plainSize(sector, nrSectors, flags);
    if (size === 0) return this.appendPlain(sector, nrSectors, flags);
    if (this.len + S <= this.buf.length) {
      this.putPlainHeader(this.len, sector, nrSectors, flags);
      this.len += S;
      return this.copyData(size, copy);
    }
    return (async () => {
      this.waiting = true;
      try {
        await this.next();
      } finally {
        this.waiting = false;
      }
      this.putPlainHeader(this.len, sector, nrSectors, flags);
      this.len += S;
      await this.copyData(size, copy);
    })();
  }

  /**
   * Appends any entry (bigint fields, a mark's inline name, zeros), with the same checks as
   * `LogWriter.append`; `source` may give the data instead of `entry.data`. Returns a promise
   * only when it has to wait for a buffer (see the invariants).
   */
  append(entry: EntryToAppend, source?: DataSource): Promise<void> | undefined {
    this.usable();
    const S = this.sectorSize;
    const { header } = entry;
    const isDiscard = (header.flags & LogFlags.DISCARD) !== 0n;
    if (entry.zeros === true && (entry.data !== undefined || source !== undefined || isDiscard)) {
      throw new LogRangeError(ErrorCodes.RANGE, `an entry of zeros carries no data and cannot be a discard`, { file: this.path, entry: this.count });
    }
    if (entry.data !== undefined && source !== undefined) throw new RangeError("give the data or a source, not both");
    const expected = isDiscard ? 0n : header.nrSectors * BigInt(S);
    if (entry.zeros !== true) {
      const given = entry.data?.length ?? (source !== undefined ? expected : 0n);
      if (BigInt(given) !== expected) {
        throw new LogRangeError(ErrorCodes.RANGE, `entry data is ${given} bytes but nr_sectors ${header.nrSectors} × ${S} needs ${expected}`, {
          file: this.path,
          entry: this.count,
        });
      }
    }
    const size = toSafeNumber(expected, "entry data bytes");
    const body = entry.zeros === true ? undefined : (entry.data ?? source);
    if (this.len + S <= this.buf.length) {
      // Encoded (and so checked) before anything moves: a refused entry leaves no trace.
      encodeEntryHeaderInto(this.buf, this.len, header, S, entry.inline);
      if (this.len + S + size <= this.buf.length) {
        if (size > 0) {
          if (body === undefined) this.buf.fill(0, this.len + S, this.len + S + size);
          else if (typeof body === "function") body(this.buf, this.len + S, size, 0);
          else this.buf.set(body, this.len + S);
        }
        this.len += S + size;
        this.count += 1;
        return undefined;
      }
      this.len += S;
      return this.appendData(size, body);
    }
    return this.appendData(size, body, header, entry.inline);
  }

  /**
   * Writes the superblock declaring `count` entries (default: all appended), after every
   * byte appended so far has been written.
   */
  async writeSuper(count = this.count): Promise<void> {
    await this.drain();
    const block = encodeSuper({ nrEntries: BigInt(count), sectorSize: this.sectorSize, padding: this.superPadding });
    try {
      for (let done = 0; done < block.length; ) done += writeSync(this.fd, block, done, block.length - done, done);
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** Resolves when every byte appended so far has been written to the file (not synced). */
  async drain(): Promise<void> {
    this.usable();
    this.waiting = true;
    try {
      if (this.len > 0) this.issue();
      await Promise.all(this.busy);
    } finally {
      this.waiting = false;
    }
    this.usable();
  }

  /** Drains and closes the file (the superblock is not rewritten: call `writeSuper` first). */
  async close(): Promise<void> {
    try {
      await this.drain();
    } finally {
      await this.abort();
    }
  }

  /** Closes the file without writing what is buffered, once the writes in flight settle. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.busy);
    closeSync(this.fd);
  }

  /** Checks an ordinary entry's numbers and returns the bytes of data it carries. */
  private plainSize(sector: number, nrSectors: number, flags: number): number {
    if (!isU53(sector) || !isU53(nrSectors) || !isU53(flags)) {
      throw new LogRangeError(ErrorCodes.RANGE, `sector ${sector}, nr_sectors ${nrSectors} and flags ${flags} must be safe whole numbers (append takes bigints)`, {
        file: this.path,
        entry: this.count,
      });
    }
    const size = ((flags % TWO_32) & DISCARD_BIT) !== 0 ? 0 : nrSectors * this.sectorSize;
    if (!Number.isSafeInteger(size)) {
      throw new LogRangeError(ErrorCodes.RANGE, `nr_sectors ${nrSectors} × ${this.sectorSize} bytes of data is beyond 2^53`, { file: this.path, entry: this.count });
    }
    return size;
  }

  /** The header block of an ordinary entry at `at` of the buffer being filled (S bytes free there). */
  private putPlainHeader(at: number, sector: number, nrSectors: number, flags: number): void {
    this.buf.fill(0, at, at + this.sectorSize);
    const v = this.view;
    v.setUint32(at + ENTRY_FIELDS.sector, sector % TWO_32, true);
    v.setUint32(at + ENTRY_FIELDS.sector + 4, Math.floor(sector / TWO_32), true);
    v.setUint32(at + ENTRY_FIELDS.nrSectors, nrSectors % TWO_32, true);
    v.setUint32(at + ENTRY_FIELDS.nrSectors + 4, Math.floor(nrSectors / TWO_32), true);
    v.setUint32(at + ENTRY_FIELDS.flags, flags % TWO_32, true);
    v.setUint32(at + ENTRY_FIELDS.flags + 4, Math.floor(flags / TWO_32), true);
  }

  /**
   * The data of the entry whose header was just laid out, put in place by `copy`: the
   * buffered bytes are sent to be written, `copy` fills the `size` bytes after them, and the
   * next buffer is filled from there. A failed copy leaves the writer failed.
   */
  private copyData(size: number, copy: DataCopy): Promise<void> | undefined {
    const position = this.bufStart + this.len;
    try {
      if (this.len <= SYNC_WRITE) {
        // A few headers (the usual case between copied entries): one synchronous write, and
        // the same buffer goes on, rather than a trip to the thread pool per entry.
        for (let done = 0; done < this.len; ) done += writeSync(this.fd, this.buf, done, this.len - done, this.bufStart + done);
        this.len = 0;
      } else {
        this.issue();
      }
      copy(this.fd, position, size);
    } catch (err) {
      throw this.fail(err);
    }
    this.bufStart = position + size;
    this.count += 1;
    const pending = this.busy[this.cur];
    if (pending === undefined) return undefined;
    this.waiting = true;
    return pending.then(() => {
      this.waiting = false;
      if (this.failure !== undefined) throw this.failure;
    });
  }

  /** Throws when the entry's data does not match its size. */
  private checkData(size: number, nrSectors: number, data: Uint8Array | DataSource | undefined): void {
    const given = data === undefined ? 0 : typeof data === "function" ? size : data.length;
    if (given !== size) {
      throw new LogRangeError(ErrorCodes.RANGE, `entry data is ${given} bytes but nr_sectors ${nrSectors} × ${this.sectorSize} needs ${size}`, {
        file: this.path,
        entry: this.count,
      });
    }
  }

  /**
   * The general path: the header block (unless already laid out), then the data (or zeros)
   * across as many buffers as it takes. A failure half-way leaves the writer failed.
   */
  private async appendData(size: number, data: Uint8Array | DataSource | undefined, header?: EntryToAppend["header"], inline?: Uint8Array): Promise<void> {
    this.waiting = true;
    try {
      const S = this.sectorSize;
      if (header !== undefined) {
        await this.next();
        encodeEntryHeaderInto(this.buf, this.len, header, S, inline);
        this.len += S;
      }
      for (let done = 0; done < size; ) {
        if (this.len === this.buf.length) await this.next();
        const n = Math.min(size - done, this.buf.length - this.len);
        if (data === undefined) this.buf.fill(0, this.len, this.len + n);
        else if (typeof data === "function") data(this.buf, this.len, n, done);
        else this.buf.set(data.subarray(done, done + n), this.len);
        this.len += n;
        done += n;
      }
      this.count += 1;
    } catch (err) {
      throw this.fail(err);
    } finally {
      this.waiting = false;
    }
  }

  /** Sends the buffer being filled to be written and waits until the next one is free. */
  private async next(): Promise<void> {
    this.issue();
    await this.busy[this.cur];
    if (this.failure !== undefined) throw this.failure;
  }

  /** Starts writing the buffer being filled and moves on to the next buffer of the pool. */
  private issue(): void {
    const buf = this.buf;
    const n = this.len;
    const position = this.bufStart;
    this.busy[this.cur] = new Promise<void>((resolve) => {
      const step = (done: number): void => {
        if (done === n || this.failure !== undefined) {
          resolve();
          return;
        }
        write(this.fd, buf, done, n - done, position + done, (err, written) => {
          if (err !== null || written === 0) {
            this.fail(err ?? new Error("no byte written"));
            resolve();
          } else step(done + written);
        });
      };
      step(0);
    });
    this.bufStart = position + n;
    this.len = 0;
    this.cur = (this.cur + 1) % this.pool.length;
    this.buf = this.pool[this.cur]!;
    this.view = this.views[this.cur]!;
  }

  private fail(err: unknown): LwlogError {
    this.failure ??= err instanceof LwlogError ? err : ioError(err, this.path, "write the log");
    return this.failure;
  }

  private usable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new LwlogError(ErrorCodes.IO, "the log writer is closed", { file: this.path });
    if (this.waiting) throw new Error("LogBatchWriter: a call's promise was not awaited before the next call");
  }
}

function isU53(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

