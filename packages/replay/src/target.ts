import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, rmSync, statSync, statfsSync, writeSync, type Stats } from "node:fs";
import { ErrorCodes, ioError, LogFormatError, LogRangeError, LwlogError, sameFile, sharesStorage, sizeOf, type EntryKind, type LogFile } from "@lwlog/codec/core";
import { native, type CopyState, type LinuxIo } from "@lwlog/native";
import { ReplayErrorCodes, TargetError } from "./errors.js";
import { describeLimit, fileSizeLimit, type FileSizeLimit } from "./limits.js";

/** What a discard entry does on the target: `zero` (the range reads back as zeros) or `skip` (ignored). */
export type DiscardMode = "zero" | "skip";

/** Options of `ImageTarget.open`. */
export interface TargetOptions {
  /**
   * Size in bytes of a regular-file target: a missing file is created with this size, a
   * smaller one is grown to it (with zeros). A larger file is never shrunk. Not allowed
   * for a block device, whose size is fixed.
   */
  size?: number;
  /**
   * Empty an existing regular file first (to `size`, or to its old size, of zeros), so the
   * replay starts from a blank image. Without it an existing file's bytes are kept.
   */
  truncate?: boolean;
  /** Let a write past the end grow a regular file instead of failing with `LWLOG_TARGET_TOO_SMALL`. */
  grow?: boolean;
  /** The log's path: a target that is the same file (inode) or device is refused. */
  log?: string;
  /** Open for reading only (`read`, no writes). */
  readOnly?: boolean;
  /**
   * A block device opened for writing is held with `O_EXCL` (default true), so that nothing
   * mounts it under the replay. False still refuses a device in use (a mounted file system)
   * at `open`, then lets go: a checker run on the target (replay-log's `--fsck`: `e2fsck`
   * opens the device `O_EXCL` itself) can open it while the replay holds it.
   */
  exclusive?: boolean;
  /**
   * Bytes the target must hold (after `size` and `truncate`): a smaller one is refused with
   * `LWLOG_TARGET_TOO_SMALL` before a missing file is created or an existing one changed.
   */
  require?: number;
  /**
   * The I/O primitives (default: `@lwlog/native`'s `native`, the addon's where it is built).
   * Tests pass `fallback` to check the paths taken without the addon.
   */
  io?: LinuxIo;
  /**
   * How a write's data the caller does not hold goes from the log to the target: `kernel`
   * (copy_file_range, with the addon), `buffer` (read into one reused 4 MiB buffer, then
   * written), or `auto` (the default): `kernel` for a file on tmpfs, `buffer` elsewhere.
   * Measured with 1 MiB writes: on ext4 copy_file_range (a splice through a pipe, as ext4
   * cannot share extents) took 0.68–0.82 s a GiB where read and write took 0.52–0.59 s; on
   * tmpfs 0.62–0.73 s against 0.79–0.85 s.
   */
  copy?: "kernel" | "buffer" | "auto";
}

/** statfs(2) f_type of tmpfs. */
const TMPFS_MAGIC = 0x01021994;

/** Whether the file at `path` is on tmpfs (false when that cannot be told). */
function onTmpfs(path: string): boolean {
  try {
    return statfsSync(path).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * What `applyEntry` needs of an entry: a `LogEntry`, or the summary `LogCursor.skim()` returns
 * (sectors as numbers, no `dataOffset`: the data then starts one sector after `offset`).
 */
export interface EntryToApply {
  index: number;
  kind: EntryKind;
  /** Target offset in units of S. */
  sector: bigint | number;
  /** Length in units of S. */
  nrSectors: bigint | number;
  /** Byte offset of the header block in the log. */
  offset: number;
  /** Byte offset of the data in the log (default `offset + S`). */
  dataOffset?: number;
  /** Bytes of data in the log. */
  dataSize: number;
  /** The data, when the reader already holds it. */
  data?: Uint8Array;
}

/** What `applyEntry` did. */
export interface ApplyResult {
  /** `write`: data written; `discard`: range zeroed; `skip`: a discard ignored (`discard: "skip"`); `none`: nothing to apply (flush, mark). */
  action: "write" | "discard" | "skip" | "none";
  /** Target byte offset of the range (0 for `none`). */
  offset: number;
  /** Bytes written or zeroed (0 for `skip` and `none`). */
  bytes: number;
}

/** From this size up, zeroing a range asks the kernel first (punch a hole, BLKZEROOUT) before writing zeros. */
const BULK_ZERO_MIN = 1 << 20;
const ZERO_CHUNK = 1 << 20;
const DATA_CHUNK = 4 << 20;
let zeroChunk: Uint8Array | undefined;

/**
 * A replay target: a regular image file or a block device, written at checked byte
 * positions with synchronous positional I/O. Drive it entry by entry with `applyEntry`
 * (this is what `replayLog` does), or write, zero and read ranges directly.
 *
 * Invariants: `size` is the target's current size in bytes; no write or zeroing ever
 * reaches past it unless the target was opened with `grow` (then a regular file's size
 * follows the highest byte written, and the file on disk is never longer than `size`).
 * Every I/O position is a safe integer `number`. A regular file is never made shorter than
 * it was (only `truncate` at open empties it, as asked), and a size past what its file
 * system or RLIMIT_FSIZE allows is refused before the step that needs it changes anything.
 *
 * A write's data the caller does not hold passes through one reused buffer, or (with the
 * addon, on tmpfs, or when asked: see `TargetOptions.copy`) goes from the log to the target
 * inside the kernel with copy_file_range. Where `@lwlog/native`'s addon is built, large
 * zeroed ranges are punched (files) or zeroed with BLKZEROOUT (devices); without it, zeros
 * are written from one shared buffer. Same bytes either way.
 */
export class ImageTarget {
  readonly path: string;
  /** `file` for a regular file, `device` for a block device. */
  readonly kind: "file" | "device";
  readonly readOnly: boolean;
  /** True when the file did not exist and `open` created it. */
  readonly created: boolean;
  private fd: number;
  private bytes: number;
  private readonly grow: boolean;
  private closed = false;
  private chunk: Uint8Array | undefined;
  private readonly io: LinuxIo;
  /**
   * Whether data may still be copied from the log with copy_file_range (see
   * `TargetOptions.copy`): cleared at the first refusal (EXDEV, EOPNOTSUPP…), so that a
   * replay asks the kernel once, not once a write.
   */
  private readonly copyState: CopyState;
  /** The file size limit where this file is (probed when first needed; `null`: it cannot be told). */
  private limit: FileSizeLimit | null | undefined;

  private constructor(
    path: string,
    fd: number,
    init: { kind: "file" | "device"; size: number; grow: boolean; readOnly: boolean; created: boolean; io: LinuxIo | undefined; copy: TargetOptions["copy"] },
  ) {
    this.path = path;
    this.fd = fd;
    this.kind = init.kind;
    this.bytes = init.size;
    this.grow = init.grow;
    this.readOnly = init.readOnly;
    this.created = init.created;
    this.io = init.io ?? native;
    const copy = init.copy ?? "auto";
    this.copyState = { kernel: this.io.available && (copy === "kernel" || (copy === "auto" && init.kind === "file" && onTmpfs(path))) };
  }

  /**
   * Opens (or creates, with `size`) a target. Every refusal happens here, before any byte is
   * written: the log itself, a read-only file or device, a device in use (opened with
   * `O_EXCL`: a mounted filesystem), a missing file without `size`, `size`/`truncate` on a device.
   */
  static open(path: string, options: TargetOptions = {}): ImageTarget {
    const readOnly = options.readOnly ?? false;
    let stat: Stats | undefined;
    try {
      stat = statSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw ioError(err, path, "open the target");
    }
    if (stat === undefined) {
      if (readOnly) throw ioError(Object.assign(new Error("ENOENT"), { code: "ENOENT" }), path, "open the target");
      if (options.size === undefined) {
        throw new TargetError(ReplayErrorCodes.TARGET_MISSING, "no such file; give a size (--size BYTES or --size auto) to create it", { file: path });
      }
      checkSize(options.size, path);
      if (!options.grow) refuseSmall(path, options.size, options.require, "file");
      refuseLarge(path, Math.max(options.size, options.require ?? 0));
      let fd: number;
      try {
        fd = openSync(path, "wx+");
      } catch (err) {
        throw ioError(err, path, "create the target");
      }
      // A new file is empty already, and on ext4 a truncate to size 0 would arm its
      // "replace by truncate" heuristic (auto_da_alloc): close() would then write back every
      // block the replay wrote before returning (0.37 s of a 0.75 s replay of 1 GiB).
      if (options.size > 0) {
        try {
          ftruncateSync(fd, options.size);
        } catch (err) {
          // A file system whose limit could not be probed: the file is ours, leave none.
          closeSync(fd);
          rmSync(path, { force: true });
          throw ioError(err, path, "size the target");
        }
      }
      return new ImageTarget(path, fd, { kind: "file", size: options.size, grow: options.grow ?? false, readOnly: false, created: true, io: options.io, copy: options.copy });
    }
    const kind = stat.isFile() ? "file" : stat.isBlockDevice() ? "device" : undefined;
    if (kind === undefined) {
      throw new TargetError(ReplayErrorCodes.TARGET_KIND, "is neither a regular file nor a block device", { file: path });
    }
    if (options.log !== undefined) refuseLog(path, stat, options.log);
    if (kind === "device" && (options.size !== undefined || options.truncate)) {
      throw new TargetError(ReplayErrorCodes.TARGET_KIND, `is a block device: its size is fixed (${sizeOf(stat)} bytes), so --size and --truncate do not apply`, {
        file: path,
      });
    }
    if (!readOnly && kind === "file" && (stat.mode & 0o222) === 0) {
      // root may write a 0444 file anyway; the mode says its owner does not want that.
      throw new TargetError(ReplayErrorCodes.TARGET_READ_ONLY, `is read-only (mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}); make it writable to replay onto it`, {
        file: path,
      });
    }
    if (!readOnly && kind === "device" && deviceIsReadOnly(stat)) {
      throw new TargetError(ReplayErrorCodes.TARGET_READ_ONLY, "is a read-only block device", { file: path });
    }
    if (options.size !== undefined) checkSize(options.size, path);
    let fd: number;
    try {
      const flags = readOnly ? constants.O_RDONLY : constants.O_RDWR | (kind === "device" ? constants.O_EXCL : 0);
      fd = openSync(path, flags);
      if (kind === "device" && !readOnly && options.exclusive === false) {
        // Refused above if in use; now held as replay-log holds it, without O_EXCL.
        let shared: number;
        try {
          shared = openSync(path, constants.O_RDWR);
        } finally {
          closeSync(fd);
        }
        fd = shared;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EROFS" || code === "EACCES" || code === "EPERM") {
        throw new TargetError(ReplayErrorCodes.TARGET_READ_ONLY, `cannot be opened for writing (${code}: read-only ${kind === "device" ? "device" : "file system or no permission"})`, {
          file: path,
          cause: err,
        });
      }
      if (code === "EBUSY") {
        throw new TargetError(ReplayErrorCodes.TARGET_IN_USE, "is in use (a mounted file system?); refusing to write under it", { file: path, cause: err });
      }
      throw ioError(err, path, "open the target");
    }
    try {
      let size = sizeOf(fstatSync(fd), fd);
      const will = kind === "device" ? size : options.truncate ? (options.size ?? size) : Math.max(size, options.size ?? 0);
      if (!readOnly && !(options.grow && kind === "file")) refuseSmall(path, will, options.require, kind);
      if (kind === "file" && !readOnly) {
        if (Math.max(will, options.require ?? 0) > size) refuseLarge(path, Math.max(will, options.require ?? 0));
        if (options.truncate) {
          const keep = options.size ?? size;
          // Grown first: a size the file system refuses fails here, with the file as it was.
          if (keep > size) ftruncateSync(fd, keep);
          ftruncateSync(fd, 0);
          ftruncateSync(fd, keep);
          size = keep;
        } else if (options.size !== undefined && options.size > size) {
          ftruncateSync(fd, options.size);
          size = options.size;
        }
      }
      return new ImageTarget(path, fd, { kind, size, grow: (options.grow ?? false) && kind === "file", readOnly, created: false, io: options.io, copy: options.copy });
    } catch (err) {
      closeSync(fd);
      if (err instanceof LwlogError) throw err;
      throw ioError(err, path, "size the target");
    }
  }

  /** Current size in bytes. */
  get size(): number {
    return this.bytes;
  }

  /** Grows a regular file to at least `bytes` (zeros); never shrinks it. */
  growTo(bytes: number): void {
    if (this.kind !== "file" || bytes <= this.bytes) return;
    checkPosition(bytes, 0, this.path);
    this.refuseLarge(bytes, `growing it to ${bytes} bytes is`);
    try {
      ftruncateSync(this.fd, bytes);
    } catch (err) {
      throw ioError(err, this.path, "size the target");
    }
    this.bytes = bytes;
  }

  /**
   * Throws `LWLOG_TARGET_TOO_SMALL` unless the target holds `bytes` bytes (or may grow), and
   * `LWLOG_FILE_TOO_LARGE` when a file that may grow could not be that long: both before any
   * write, so that a replay refused for its size leaves the target as it was.
   */
  require(bytes: number): void {
    if (!this.grow) refuseSmall(this.path, this.bytes, bytes, this.kind);
    else if (bytes > this.bytes) this.refuseLarge(bytes, `the replay writes or zeroes up to byte ${bytes - 1},`, "refused before anything was written");
  }

  /**
   * Applies one entry of `log`: a write's data goes to `sector × S` (taken from `entry.data` /
   * `data` when the caller already holds it, else streamed from the log in chunks, or copied
   * in the kernel: see `TargetOptions.copy`); a discard zeroes its range (or is skipped with
   * `discard: "skip"`); flushes and marks change nothing.
   */
  applyEntry(entry: EntryToApply, log: LogFile, options: { discard?: DiscardMode; data?: Uint8Array } = {}): ApplyResult {
    const S = log.sectorSize;
    if (entry.kind === "write") {
      const offset = targetBytes(entry.sector, S, entry, "target byte offset", log);
      const length = entry.dataSize;
      const dataOffset = entry.dataOffset ?? entry.offset + S;
      this.ensureRoom(offset, length, entry);
      const have = options.data ?? entry.data;
      if (have !== undefined && have.length === length) {
        this.write(offset, have);
      } else if (this.copyState.kernel) {
        this.copyFrom(log, dataOffset, offset, length);
      } else {
        // Streamed through one reused buffer: an entry of any size costs at most 4 MiB.
        const buf = (this.chunk ??= new Uint8Array(DATA_CHUNK));
        for (let done = 0; done < length; ) {
          const n = Math.min(buf.length, length - done);
          const view = n === buf.length ? buf : buf.subarray(0, n);
          log.readAt(view, dataOffset + done);
          this.write(offset + done, view);
          done += n;
        }
      }
      return { action: "write", offset, bytes: length };
    }
    if (entry.kind === "discard") {
      // An empty discard touches no byte: its sector (any u64) is never a position.
      if (Number(entry.nrSectors) === 0) return { action: (options.discard ?? "zero") === "skip" ? "skip" : "discard", offset: 0, bytes: 0 };
      const offset = targetBytes(entry.sector, S, entry, "target byte offset", log);
      const length = targetBytes(entry.nrSectors, S, entry, "target byte length", log);
      if ((options.discard ?? "zero") === "skip") return { action: "skip", offset, bytes: 0 };
      this.zero(offset, length, entry);
      return { action: "discard", offset, bytes: length };
    }
    return { action: "none", offset: 0, bytes: 0 };
  }

  /** Writes `data` at byte `offset`. */
  write(offset: number, data: Uint8Array): void {
    this.ensureRoom(offset, data.length);
    let done = 0;
    while (done < data.length) {
      let n: number;
      try {
        n = writeSync(this.fd, data, done, data.length - done, offset + done);
      } catch (err) {
        throw ioError(err, this.path, `write ${data.length} bytes at offset ${offset} of the target`);
      }
      done += n;
    }
  }

  /**
   * Copies `length` bytes of `log` at `from` to the target at `offset`, without passing them
   * through JS (copy_file_range, or pread/pwrite in the addon).
   */
  private copyFrom(log: LogFile, from: number, offset: number, length: number): void {
    this.ensureRoom(offset, length);
    let copied: number;
    try {
      copied = this.io.copyFileRange(log.fd, from, this.fd, offset, length, this.copyState);
    } catch (err) {
      throw ioError(err, this.path, `copy ${length} bytes from ${log.path} (offset ${from}) to offset ${offset} of the target`);
    }
    if (copied < length) {
      throw new LogFormatError(ErrorCodes.TRUNCATED_HEADER, `unexpected end of file at offset ${from + copied}`, { file: log.path, offset: from + copied });
    }
  }

  /**
   * Copies many ranges of `log` to the target in one call: `ranges` holds `count` triples
   * `[dst, src, len]` in ascending `dst` order (`len` bytes of the log at `src` to byte `dst`
   * of the target; `src` -1 for zeros), written as a few large writes (`LinuxIo.copyRanges`).
   * What the survivors of a compacted replay need.
   */
  copyRanges(log: LogFile, ranges: Float64Array, count: number): void {
    if (count === 0) return;
    const first = ranges[0]!;
    const last = ranges[3 * (count - 1)]! + ranges[3 * (count - 1) + 2]!;
    this.ensureRoom(first, last - first);
    let done: number;
    try {
      done = this.io.copyRanges(log.fd, this.fd, ranges, count, this.copyState);
    } catch (err) {
      throw ioError(err, this.path, `write ${count} ranges from ${log.path} to bytes ${first}..${last - 1} of the target`);
    }
    if (done < count) {
      const at = ranges[3 * done + 1]!;
      throw new LogFormatError(ErrorCodes.TRUNCATED_HEADER, `unexpected end of file reading ${ranges[3 * done + 2]} bytes at offset ${at} (the log shrank?)`, { file: log.path, offset: at });
    }
  }

  /**
   * Makes `[offset, offset + length)` read back as zeros, whatever its size. A regular
   * file's range that reaches its end becomes a hole (the file grown first, then the old
   * bytes punched out, or cut off and regrown where punching is not supported); from 1 MiB up, a
   * range in the middle of a file is punched (fallocate PUNCH_HOLE, else ZERO_RANGE) and
   * on a device zeroed with BLKZEROOUT; anything else, or what the kernel or file system
   * cannot do, is written with zeros in 1 MiB chunks from one shared buffer, so no size
   * allocates its size (and a large range of a file is read first: chunks that are zeros
   * already, holes included, are not written).
   */
  zero(offset: number, length: number, entry?: EntryToApply): void {
    const before = this.bytes;
    this.ensureRoom(offset, length, entry);
    if (length === 0) return;
    if (this.kind === "file" && offset + length >= this.bytes) {
      try {
        if (this.zeroToEnd(offset, offset + length)) return;
      } catch (err) {
        this.bytes = before;
        throw ioError(err, this.path, `zero ${length} bytes at offset ${offset} of the target`);
      }
    }
    if (length >= BULK_ZERO_MIN && this.bulkZero(offset, length)) return;
    const zeros = (zeroChunk ??= new Uint8Array(ZERO_CHUNK));
    // A large range of a file the kernel would not punch: chunks that already read as zeros
    // are left alone, so the holes of a sparse image stay holes (a 64 GiB discard must not
    // allocate 64 GiB).
    const seen = this.kind === "file" && length >= BULK_ZERO_MIN ? (this.chunk ??= new Uint8Array(DATA_CHUNK)).subarray(0, ZERO_CHUNK) : undefined;
    for (let done = 0; done < length; ) {
      const n = Math.min(zeros.length, length - done);
      if (seen !== undefined) {
        const view = seen.subarray(0, n);
        this.readInto(view, offset + done);
        if (Buffer.compare(view, zeros.subarray(0, n)) === 0) {
          done += n;
          continue;
        }
      }
      this.write(offset + done, n === zeros.length ? zeros : zeros.subarray(0, n));
      done += n;
    }
  }

  /** Reads `length` bytes at `offset` (bytes past the end of the target read as zeros). */
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(out, offset);
    return out;
  }

  /** Fills `target` with the bytes at `offset` (bytes past the end read as zeros). */
  readInto(target: Uint8Array, offset: number): void {
    checkPosition(offset, target.length, this.path);
    let done = 0;
    while (done < target.length) {
      let n: number;
      try {
        n = readSync(this.fd, target, done, target.length - done, offset + done);
      } catch (err) {
        throw ioError(err, this.path, `read the target at offset ${offset + done}`);
      }
      if (n === 0) {
        target.fill(0, done);
        return;
      }
      done += n;
    }
  }

  /** Flushes the target's written data to stable storage (`fsync`). */
  sync(): void {
    try {
      fsyncSync(this.fd);
    } catch (err) {
      throw ioError(err, this.path, "sync the target");
    }
  }

  /** Closes the target (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /**
   * Zeroes `[offset, end)` of a regular file whose size is at most `end` (so the range runs
   * to its end); false when the file is larger (then the range is in its middle). The file
   * is grown to `end` first, so a size the file system refuses fails before anything changed;
   * the bytes that held data are then punched out, or, where punching is not supported, cut
   * off and regrown to the size the file just had. A file is never left shorter.
   */
  private zeroToEnd(offset: number, end: number): boolean {
    const had = fstatSync(this.fd).size;
    if (had > end) return false;
    if (had < end) ftruncateSync(this.fd, end);
    if (had <= offset) return true; // the range was past the old end: zeros already
    if (this.io.punchHole(this.fd, offset, had - offset)) return true;
    ftruncateSync(this.fd, offset);
    ftruncateSync(this.fd, end);
    return true;
  }

  /** Throws `LWLOG_FILE_TOO_LARGE` when a regular file cannot be `bytes` long; `what` says who needs it. */
  private refuseLarge(bytes: number, what: string, left = "nothing of it was written"): void {
    if (this.kind !== "file") return;
    if (this.limit === undefined) this.limit = fileSizeLimit(this.path) ?? null;
    if (this.limit === null || bytes <= this.limit.bytes) return;
    throw new TargetError(ReplayErrorCodes.FILE_TOO_LARGE, `${what} ${describeLimit(this.limit)}; ${left}`, { file: this.path });
  }

  private ensureRoom(offset: number, length: number, entry?: EntryToApply): void {
    if (this.readOnly) throw new TargetError(ReplayErrorCodes.TARGET_READ_ONLY, "was opened read-only", { file: this.path });
    checkPosition(offset, length, this.path);
    const end = offset + length;
    if (end <= this.bytes) return;
    const what = entry ? `entry ${entry.index} ${entry.kind === "discard" ? "discards" : "writes"} bytes` : "bytes";
    if (this.grow) {
      this.refuseLarge(end, `${what} ${offset}..${end - 1}${entry ? ` (log offset ${entry.offset})` : ""}:`);
      this.bytes = end;
      return;
    }
    throw new TargetError(
      ReplayErrorCodes.TARGET_TOO_SMALL,
      `is too small: ${what} ${offset}..${end - 1}, the target has ${this.bytes} bytes${this.kind === "file" ? " (give --size to grow it)" : ""}`,
      { file: this.path },
    );
  }

  /** Zeroes the range in the kernel: true when done, false when it cannot (then write zeros). */
  private bulkZero(offset: number, length: number): boolean {
    try {
      if (this.kind === "file") return this.io.punchHole(this.fd, offset, length) || this.io.zeroRange(this.fd, offset, length);
      return this.io.blockZeroOut(this.fd, offset, length);
    } catch (err) {
      throw ioError(err, this.path, `zero ${length} bytes at offset ${offset} of the target`);
    }
  }
}

/** `units × S` as a checked byte count (`sector` or `nrSectors` of an entry, bigint or number); past 2^53 an error naming the log, entry and offset. */
function targetBytes(units: bigint | number, S: number, entry: EntryToApply, what: string, log: LogFile): number {
  const bytes = typeof units === "bigint" ? units * BigInt(S) : units * S;
  const ok = typeof bytes === "bigint" ? bytes >= 0n && bytes <= MAX_SAFE : Number.isSafeInteger(units) && (units as number) >= 0 && Number.isSafeInteger(bytes);
  if (!ok) {
    throw new LogRangeError(ErrorCodes.RANGE, `the ${entry.kind}'s ${what} (${units} × ${S}) is beyond 2^53 and cannot be used`, { file: log.path, entry: entry.index, offset: entry.offset });
  }
  return Number(bytes);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Refuses a target that is the log: the same inode, the same block device, or a loop device or partition over it. */
function refuseLog(path: string, stat: Stats, logPath: string): void {
  let logStat: Stats;
  try {
    logStat = statSync(logPath);
  } catch {
    return; // the log's own open reports that
  }
  if (sharesStorage(stat, logStat)) {
    const what = sameFile(stat, logStat) ? `is the log itself (${logPath})` : `shares its storage with the log (${logPath}: a loop device or a partition over it)`;
    throw new TargetError(ReplayErrorCodes.TARGET_IS_LOG, `${what}; replaying onto it would destroy the log`, { file: path });
  }
}

/** A block device's read-only flag, from sysfs (`/sys/dev/block/MAJ:MIN/ro`): Node has no BLKROGET. */
function deviceIsReadOnly(stat: Stats): boolean {
  const major = Math.floor(stat.rdev / 256) & 0xfff;
  const minor = (stat.rdev & 0xff) | ((stat.rdev >> 12) & 0xfff00);
  try {
    return readFileSync(`/sys/dev/block/${major}:${minor}/ro`, "utf8").trim() === "1";
  } catch {
    return false; // no sysfs entry: the open or the first write reports it
  }
}

/** Refuses (`LWLOG_FILE_TOO_LARGE`) a regular file of `bytes` bytes where the file system or RLIMIT_FSIZE does not allow one. */
function refuseLarge(path: string, bytes: number): void {
  const limit = bytes > 0 ? fileSizeLimit(path) : undefined;
  if (limit === undefined || bytes <= limit.bytes) return;
  throw new TargetError(ReplayErrorCodes.FILE_TOO_LARGE, `a ${bytes}-byte image is ${describeLimit(limit)}; nothing was created or changed`, { file: path });
}

function refuseSmall(path: string, size: number, need: number | undefined, kind: "file" | "device"): void {
  if (need === undefined || need <= size) return;
  throw new TargetError(
    ReplayErrorCodes.TARGET_TOO_SMALL,
    `is too small: the replay writes up to byte ${need - 1}, the target has ${size} bytes${kind === "file" ? " (give --size BYTES or --size auto to grow it)" : ""}`,
    { file: path },
  );
}

function checkSize(size: number, path: string): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new TargetError(ReplayErrorCodes.TARGET_KIND, `size ${size} is not a whole number of bytes`, { file: path });
  }
}

function checkPosition(offset: number, length: number, path: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || !Number.isSafeInteger(offset + length)) {
    throw new TargetError(ReplayErrorCodes.TARGET_TOO_SMALL, `position ${offset}+${length} is not a safe byte range`, { file: path });
  }
}
