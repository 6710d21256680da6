import { fstatSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { ENTRY_HEADER_SIZE, LogFlags } from "./constants.js";
import { encodeEntryHeaderInto, type EntryHeader } from "./entry.js";
import { ErrorCodes, LogFormatError, LogRangeError, LwlogError, ioError } from "./errors.js";
import { isValidSectorSize, maxMarkLength, toSafeNumber } from "./numbers.js";
import { LogFile } from "./reader.js";
import { encodeSuper } from "./super.js";

/**
 * When the writer rewrites the superblock on its own, after appending an entry.
 * `close()` always rewrites it. The kernel's policy is `{ onFua: true, onMark: true }`,
 * QEMU's is `{ onFlush: true, every: 4096 }`.
 */
export interface SuperPolicy {
  /** After every FLUSH entry. */
  onFlush?: boolean;
  /** After every FUA entry. */
  onFua?: boolean;
  /** After every MARK entry. */
  onMark?: boolean;
  /** After every N-th entry (N counts entries appended, 1-based, as QEMU's interval). */
  every?: number;
}

/** Options of `LogWriter.create`. */
export interface CreateOptions {
  /** Log sector size S: a power of two from 32 B to 8 MiB. */
  sectorSize: number;
  superPolicy?: SuperPolicy;
  /** Replace an existing file (default: refuse with `LWLOG_EXISTS`). */
  overwrite?: boolean;
  /** Bytes buffered before a write is issued (default 4 MiB). */
  bufferSize?: number;
  /** Value for the 4 superblock bytes after `sectorsize` (default 0), to rebuild kernel logs exactly. */
  superPadding?: number;
}

/** Options of `LogWriter.append`. */
export interface AppendOptions {
  superPolicy?: SuperPolicy;
  bufferSize?: number;
  /** Sector size for a file that is empty or missing (default 512, as QEMU). */
  sectorSize?: number;
  /**
   * Keep the valid entries past the declared count and append after them (default true).
   * QEMU's `log-append` overwrites them instead.
   */
  keepTail?: boolean;
}

/** What to append: a header, and the data or inline bytes that go with it. */
export interface EntryToAppend {
  header: EntryHeader;
  /** The data after the header block: exactly `nrSectors × S` bytes, none for a discard. */
  data?: Uint8Array;
  /** Bytes stored in the header block after the fields (a mark's name). */
  inline?: Uint8Array;
  /**
   * The data is `nrSectors × S` zero bytes (instead of `data`): they are written from one
   * shared zero buffer, so a write-zeroes entry of any size costs no memory.
   */
  zeros?: boolean;
}

const DEFAULT_BUFFER = 4 << 20;
/** Data at least this large (or half the buffer, if less) is written from the caller's bytes, not copied. */
const DIRECT_DATA = 64 << 10;
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (err: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Whoever gathered bytes awaits this; a batch nobody awaits must not be an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Shared, never written to: the source of every large run of zeros. */
const ZERO_CHUNK = new Uint8Array(1 << 20);

/**
 * Appends entries to a log, in order, with positional writes.
 *
 * Invariants:
 * - `offset` is where the next header block goes; `count` is how many entries precede it.
 *   Both move when an entry is appended (synchronously), so concurrent callers get distinct
 *   slots in call order.
 * - Bytes not yet written sit in `buf` (file bytes `[bufStart, bufStart + bufLen)`), or in
 *   `batch` (buffer chunks and large entries' data, handed over, contiguous from `batchStart`
 *   up to `bufStart`), issued as one writev soon. Writes issued run several at once: they
 *   cover disjoint byte ranges, so their order does not matter (a run of zeros is written
 *   chunk after chunk). `inflight` holds every write issued and not yet settled.
 * - A superblock write starts only after every write issued before it has settled (earlier
 *   superblock writes included), so it never declares an entry whose bytes are not in the
 *   file, and superblocks land in the order they were written.
 * - Header blocks are zero-padded to S.
 */
export class LogWriter {
  readonly path: string;
  readonly sectorSize: number;
  private readonly fh: FileHandle;
  private readonly policy: SuperPolicy;
  private readonly superPadding: number;
  private readonly bufferSize: number;
  private readonly initialSize: number;
  private buf: Uint8Array;
  private bufStart: number;
  private bufLen = 0;
  /** Writes issued and not yet settled; each of these promises resolves, never rejects. */
  private readonly inflight = new Set<Promise<void>>();
  /** Bytes handed over for the next writev: file bytes `[batchStart, batchStart + batchBytes)`. */
  private batch: Uint8Array[] = [];
  private batchStart = 0;
  private batchBytes = 0;
  private batchDone: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | undefined;
  private batchTimer: NodeJS.Immediate | undefined;
  private queued = 0;
  private failure: unknown;
  private count: number;
  private declaredCount: number;
  private closed = false;
  private nextOffset: number;

  private constructor(path: string, fh: FileHandle, init: {
    sectorSize: number;
    policy: SuperPolicy;
    superPadding: number;
    bufferSize: number;
    offset: number;
    count: number;
    declared: number;
    initialSize: number;
  }) {
    this.path = path;
    this.fh = fh;
    this.sectorSize = init.sectorSize;
    this.policy = init.policy;
    this.superPadding = init.superPadding;
    this.bufferSize = Math.max(init.bufferSize, init.sectorSize);
    this.buf = new Uint8Array(this.bufferSize);
    this.nextOffset = init.offset;
    this.bufStart = init.offset;
    this.count = init.count;
    this.declaredCount = init.declared;
    this.initialSize = init.initialSize;
  }

  /** Refuses a policy it cannot follow, before any file is opened or created. */
  private static checkPolicy(policy: SuperPolicy | undefined, path: string): void {
    const every = policy?.every;
    if (every !== undefined && (!Number.isInteger(every) || every < 1)) {
      throw new LogRangeError(ErrorCodes.RANGE, `superblock interval must be a whole number ≥ 1, not ${every}`, { file: path });
    }
  }

  /** Creates a new log with an empty superblock (declaring 0 entries) already on disk. */
  static async create(path: string, options: CreateOptions): Promise<LogWriter> {
    if (!isValidSectorSize(options.sectorSize)) {
      throw new LogRangeError(
        ErrorCodes.BAD_SECTOR_SIZE,
        `invalid sector size ${options.sectorSize}: it must be a power of two from 32 to 8388608`,
        { file: path },
      );
    }
    LogWriter.checkPolicy(options.superPolicy, path);
    let fh: FileHandle;
    try {
      fh = await open(path, options.overwrite ? "w" : "wx");
    } catch (err) {
      // A block device cannot be opened with "w" semantics of a new file; write it in place.
      if ((err as NodeJS.ErrnoException).code === "EEXIST" || !options.overwrite) throw ioError(err, path, "create the log");
      try {
        fh = await open(path, "r+");
      } catch (err2) {
        throw ioError(err2, path, "create the log");
      }
    }
    const w = new LogWriter(path, fh, {
      sectorSize: options.sectorSize,
      policy: options.superPolicy ?? {},
      superPadding: options.superPadding ?? 0,
      bufferSize: options.bufferSize ?? DEFAULT_BUFFER,
      offset: options.sectorSize,
      count: 0,
      declared: 0,
      initialSize: 0,
    });
    try {
      await w.writeSuper();
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    return w;
  }

  /**
   * Opens an existing log to append to it: its declared entries (and, with `keepTail`,
   * the valid entries after them) are kept, new entries go after them. A missing or
   * empty file becomes a new log of `sectorSize` (512 by default).
   */
  static async append(path: string, options: AppendOptions = {}): Promise<LogWriter> {
    LogWriter.checkPolicy(options.superPolicy, path);
    let size = -1;
    try {
      const probe = await open(path, "r");
      try {
        size = fstatSync(probe.fd).size;
      } finally {
        await probe.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw ioError(err, path, "open the log");
    }
    if (size <= 0) {
      const create: CreateOptions = { sectorSize: options.sectorSize ?? 512, overwrite: size === 0 };
      if (options.superPolicy) create.superPolicy = options.superPolicy;
      if (options.bufferSize) create.bufferSize = options.bufferSize;
      return LogWriter.create(path, create);
    }
    const log = LogFile.openSync(path);
    let end: number;
    let count: number;
    const declared = log.declared;
    try {
      const cursor = log.cursor({ tail: options.keepTail ?? true });
      while (cursor.next() !== undefined);
      end = cursor.end!.offset;
      count = cursor.end!.index;
    } finally {
      log.close();
    }
    let fh: FileHandle;
    try {
      fh = await open(path, "r+");
    } catch (err) {
      throw ioError(err, path, "open the log for writing");
    }
    return new LogWriter(path, fh, {
      sectorSize: log.sectorSize,
      policy: options.superPolicy ?? {},
      superPadding: log.super.padding,
      bufferSize: options.bufferSize ?? DEFAULT_BUFFER,
      offset: end,
      count,
      declared: Math.min(declared, count),
      initialSize: log.size,
    });
  }

  /** Entries in the log so far (kept ones included). */
  get entries(): number {
    return this.count;
  }

  /** Entries the superblock declares, as last written. */
  get declared(): number {
    return this.declaredCount;
  }

  /** Byte offset where the next entry's header block goes (the log's length so far). */
  get offset(): number {
    return this.nextOffset;
  }

  /**
   * Appends one entry and returns its index. The header and inline bytes are checked
   * against S; `data` must be exactly the bytes the entry carries. The bytes are copied
   * (or, for large data, written before the promise settles), so the caller may reuse them.
   */
  async append(entry: EntryToAppend): Promise<number> {
    this.usable();
    const S = this.sectorSize;
    const { header } = entry;
    const isDiscard = (header.flags & LogFlags.DISCARD) !== 0n;
    const expected = isDiscard ? 0n : header.nrSectors * BigInt(S);
    if (entry.zeros === true && (entry.data !== undefined || isDiscard)) {
      throw new LogRangeError(ErrorCodes.RANGE, `an entry of zeros carries no data and cannot be a discard`, {
        file: this.path,
        entry: this.count,
      });
    }
    const zeroBytes = entry.zeros === true ? toSafeNumber(expected, "bytes of zeros") : 0;
    const dataLength = entry.data?.length ?? zeroBytes;
    if (BigInt(dataLength) !== expected) {
      throw new LogRangeError(
        ErrorCodes.RANGE,
        `entry data is ${dataLength} bytes but nr_sectors ${header.nrSectors} × ${S} needs ${expected}`,
        { file: this.path, entry: this.count },
      );
    }
    // The header goes straight into the buffer: no block is allocated per entry.
    if (this.buf.length - this.bufLen < S) this.flushBuffer();
    encodeEntryHeaderInto(this.buf, this.bufLen, header, S, entry.inline);
    const index = this.count;
    this.count += 1;
    this.nextOffset += S + dataLength;
    this.bufLen += S;
    let direct: Promise<void> | undefined;
    if (zeroBytes > 0) {
      direct = this.putZeros(zeroBytes);
    } else if (entry.data !== undefined && dataLength > 0) {
      if (dataLength >= Math.min(this.bufferSize / 2, DIRECT_DATA)) {
        // Large data is not copied: the buffered bytes (this entry's header last) and the
        // data go out in one positional writev.
        const start = this.bufStart;
        const head = this.takeBuffer();
        direct = this.gather(head.length > 0 ? [head, entry.data] : [entry.data], start);
        this.bufStart = start + head.length + dataLength;
      } else {
        this.put(entry.data);
      }
    }
    if (this.wantsSuper(header.flags, this.count)) await this.writeSuper();
    if (direct) await direct;
    if (this.queued > this.bufferSize * 2) await this.settled();
    this.usable();
    return index;
  }

  /** Appends a write of `data` (a whole number of sectors) at `sector`. */
  write(sector: bigint, data: Uint8Array, options: { flags?: bigint; dataLen?: bigint } = {}): Promise<number> {
    if (data.length % this.sectorSize !== 0) {
      throw new LogRangeError(ErrorCodes.RANGE, `a write of ${data.length} bytes is not a whole number of ${this.sectorSize}-byte sectors`, {
        file: this.path,
      });
    }
    const flags = (options.flags ?? 0n) & ~(LogFlags.DISCARD | LogFlags.MARK);
    return this.append({
      header: { sector, nrSectors: BigInt(data.length / this.sectorSize), flags, dataLen: options.dataLen ?? 0n },
      data,
    });
  }

  /** Appends a discard of `nrSectors` sectors at `sector` (no data in the log). */
  discard(sector: bigint, nrSectors: bigint, flags = 0n): Promise<number> {
    return this.append({ header: { sector, nrSectors, flags: flags | LogFlags.DISCARD, dataLen: 0n } });
  }

  /** Appends a flush (FLUSH, plus any extra `flags` such as the kernel's FUA|METADATA). */
  flush(flags = 0n, sector = 0n): Promise<number> {
    return this.append({ header: { sector, nrSectors: 0n, flags: flags | LogFlags.FLUSH, dataLen: 0n } });
  }

  /**
   * Appends a mark. Names longer than S−33 bytes are refused (the kernel keeps at most
   * that, so one zero always follows); `allowFull` permits S−32, as pre-2018 kernels wrote.
   */
  mark(name: string | Uint8Array, options: { flags?: bigint; allowFull?: boolean } = {}): Promise<number> {
    const bytes = typeof name === "string" ? new TextEncoder().encode(name) : name;
    const max = options.allowFull ? this.sectorSize - ENTRY_HEADER_SIZE : maxMarkLength(this.sectorSize);
    if (bytes.length > max) {
      throw new LogRangeError(
        ErrorCodes.BAD_MARK,
        `mark name of ${bytes.length} bytes is too long for ${this.sectorSize}-byte sectors (at most ${max})`,
        { file: this.path },
      );
    }
    return this.append({
      header: { sector: 0n, nrSectors: 0n, flags: (options.flags ?? 0n) | LogFlags.MARK, dataLen: BigInt(bytes.length) },
      inline: bytes,
    });
  }

  /**
   * Writes the superblock declaring every entry appended so far (or `count`), after all
   * their bytes have been issued. Resolves once the superblock is written (not synced).
   */
  async writeSuper(count = this.count): Promise<void> {
    this.usable();
    this.flushBuffer();
    const block = encodeSuper({ nrEntries: BigInt(count), sectorSize: this.sectorSize, padding: this.superPadding });
    await this.enqueue(block, 0, this.settled());
    this.declaredCount = count;
  }

  /** Resolves when every byte appended so far has been written to the file (not synced). */
  async drain(): Promise<void> {
    this.flushBuffer();
    await this.settled();
    this.usable();
  }

  /** Drains, then makes the file's data durable (`fdatasync`). */
  async sync(): Promise<void> {
    await this.drain();
    try {
      await this.fh.datasync();
    } catch (err) {
      throw ioError(err, this.path, "sync the log");
    }
  }

  /**
   * Finishes the log: writes the superblock (unless `super: false`), zeroes the header
   * block after the last entry when stale bytes follow it (so they cannot pass for a tail),
   * syncs (unless `sync: false`) and closes the file.
   */
  async close(options: { super?: boolean; sync?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    try {
      if (this.failure === undefined) {
        if (options.super ?? true) await this.writeSuper();
        if (this.initialSize > this.nextOffset) {
          const n = Math.min(this.sectorSize, this.initialSize - this.nextOffset);
          this.flushBuffer();
          await this.enqueue(new Uint8Array(n), this.nextOffset);
        }
        if (options.sync ?? true) await this.sync();
        else await this.drain();
      }
    } finally {
      this.closed = true;
      await this.fh.close();
    }
  }

  private wantsSuper(flags: bigint, seq: number): boolean {
    const p = this.policy;
    return (
      (p.onFlush === true && (flags & LogFlags.FLUSH) !== 0n) ||
      (p.onFua === true && (flags & LogFlags.FUA) !== 0n) ||
      (p.onMark === true && (flags & LogFlags.MARK) !== 0n) ||
      (p.every !== undefined && seq % p.every === 0)
    );
  }

  private put(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      if (this.bufLen === this.buf.length) this.flushBuffer();
      const n = Math.min(bytes.length - from, this.buf.length - this.bufLen);
      this.buf.set(bytes.subarray(from, from + n), this.bufLen);
      this.bufLen += n;
      from += n;
    }
  }

  /** Queues `n` zero bytes after the buffered ones; large runs are written from `ZERO_CHUNK`. */
  private putZeros(n: number): Promise<void> | undefined {
    if (n < this.bufferSize / 2) {
      this.put(new Uint8Array(n));
      return undefined;
    }
    this.flushBuffer();
    this.issueBatch(); // the zeros are written on their own, after the gathered bytes
    // One chunk after another (not a thousand writes at once); all of them count as in flight now.
    let last: Promise<void> | undefined;
    for (let done = 0; done < n; done += ZERO_CHUNK.length) {
      // Only the last write is awaited: a failure is recorded in `failure` and every later write rethrows it.
      last?.catch(() => undefined);
      last = this.enqueue(ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, n - done)), this.bufStart + done, last);
    }
    this.bufStart += n;
    return last;
  }

  private flushBuffer(): void {
    if (this.bufLen === 0) return;
    const start = this.bufStart;
    const chunk = this.takeBuffer();
    void this.gather([chunk], start).catch(() => undefined);
    this.bufStart += chunk.length;
  }

  /**
   * Adds bytes that follow the gathered ones in the file to the next writev, and resolves when
   * it is written. The writev goes out when it holds `bufferSize` bytes or 512 parts, at the
   * next turn of the event loop, or before a superblock, a sync or a run of zeros: entries that
   * complete together share one system call.
   */
  private gather(parts: Uint8Array[], position: number): Promise<void> {
    if (this.batch.length > 0 && position !== this.batchStart + this.batchBytes) this.issueBatch();
    if (this.batch.length === 0) this.batchStart = position;
    for (const part of parts) {
      this.batch.push(part);
      this.batchBytes += part.length;
    }
    this.batchDone ??= deferred<void>();
    const done = this.batchDone.promise;
    if (this.batchBytes >= this.bufferSize || this.batch.length >= 512) this.issueBatch();
    else this.batchTimer ??= setImmediate(() => this.issueBatch());
    return done;
  }

  /** Issues the gathered bytes now. */
  private issueBatch(): void {
    if (this.batchTimer !== undefined) clearImmediate(this.batchTimer);
    this.batchTimer = undefined;
    if (this.batch.length === 0) return;
    const parts = this.batch;
    const done = this.batchDone!;
    const start = this.batchStart;
    this.batch = [];
    this.batchBytes = 0;
    this.batchDone = undefined;
    this.enqueue(parts, start).then(done.resolve, done.reject);
  }

  /** The buffered bytes, handed over to be written (`bufStart` is the caller's to move). */
  private takeBuffer(): Uint8Array {
    if (this.bufLen === 0) return this.buf.subarray(0, 0);
    let chunk: Uint8Array;
    if (this.bufLen < this.bufferSize / 2) {
      // A few headers before a large entry: copy them out and keep the buffer.
      chunk = new Uint8Array(this.buf.subarray(0, this.bufLen)); // a copy
    } else {
      chunk = this.buf.subarray(0, this.bufLen);
      // Every byte of a buffer is written by `put` before it is issued, so it need not be zeroed.
      this.buf = new Uint8Array(Buffer.allocUnsafeSlow(this.bufferSize).buffer, 0, this.bufferSize);
    }
    this.bufLen = 0;
    return chunk;
  }

  /** Resolves when every write issued so far (the gathered bytes issued now) has settled. */
  private settled(): Promise<void> {
    this.issueBatch();
    return Promise.all([...this.inflight]).then(() => undefined);
  }

  /**
   * Issues a positional write of `bytes` (one buffer, or several written with one writev):
   * now, or once `after` has settled.
   */
  private enqueue(bytes: Uint8Array | Uint8Array[], position: number, after?: Promise<unknown>): Promise<void> {
    const parts = Array.isArray(bytes) ? bytes : [bytes];
    const total = parts.reduce((n, b) => n + b.length, 0);
    this.queued += total;
    const run = async (): Promise<void> => {
      if (this.failure !== undefined) throw this.failure;
      try {
        let done = 0;
        if (parts.length > 1) done = (await this.fh.writev(parts, position)).bytesWritten;
        // A short writev (or a single buffer) is finished part by part.
        let at = 0;
        for (const part of parts) {
          const from = Math.max(0, done - at);
          for (let off = from; off < part.length; ) {
            const { bytesWritten } = await this.fh.write(part, off, part.length - off, position + at + off);
            off += bytesWritten;
          }
          at += part.length;
        }
      } catch (err) {
        this.failure = err instanceof LwlogError ? err : ioError(err, this.path, "write the log");
        throw this.failure;
      } finally {
        this.queued -= total;
      }
    };
    const p = after ? after.then(run, run) : run();
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
    return p;
  }

  private usable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new LogFormatError(ErrorCodes.IO, "the log writer is closed", { file: this.path });
  }
}
