import { NativeRangeError } from "./errors.js";

/**
 * The Linux I/O primitives lwlog needs and Node.js 20 lacks. Two implementations: the
 * addon's (`available: true`) and pure-JS fallbacks (`available: false`) that give the same
 * results more slowly, or report "not supported" where only the kernel can do the job
 * (`punchHole` and the block-device calls return `false`, and callers write zeros instead).
 *
 * Every position and length is a safe non-negative integer `number` (a bigint is refused:
 * some Node 20 fs calls silently ignore a bigint position). Failed system calls throw
 * `NativeIoError` (`code` `LWLOG_IO`, `errno` `EBADF`…), bad arguments `NativeRangeError`
 * (`LWLOG_RANGE`); a bad file descriptor or range never crashes the process.
 */
export interface LinuxIo {
  /** True for the addon's functions, false for the pure-JS fallbacks. */
  readonly available: boolean;
  /** Why the addon is not in use (`undefined` when it is). */
  readonly reason: string | undefined;
  /**
   * True when `mapRange` really maps the file (the addon is loaded and `LWLOG_NO_MMAP` is
   * not set); false when it reads a copy, and then a reader is better off with its own reads.
   */
  readonly maps: boolean;
  /** The system's page size, where mappings start (4096 in the fallbacks, which do not map). */
  readonly pageSize: number;

  /**
   * A read-only view of `length` bytes of the file at `offset`: an `mmap(PROT_READ,
   * MAP_SHARED)` of the range, advised sequential (or, without mapping, a copy read from the
   * file). The range must lie within the file or device (else `NativeRangeError`); at most
   * 1 GiB: map windows, not whole files. Release it with `unmap` as soon as it is no longer
   * needed (a finalizer unmaps it after garbage collection otherwise).
   *
   * SIGBUS: if another process truncates the file while it is mapped, touching a page past
   * the new end kills the process with SIGBUS; no JS error can be thrown for that. Set
   * `LWLOG_NO_MMAP=1` to read copies instead when files may shrink under lwlog.
   */
  mapRange(fd: number, offset: number, length: number): Uint8Array;
  /**
   * Releases a view `mapRange` returned: its buffer is detached at once (every view of it
   * then has length 0, so no stale byte can be read) and the range unmapped. False when it
   * was already released (or is empty); `NativeRangeError` for a view `mapRange` did not return.
   */
  unmap(view: Uint8Array): boolean;
  /**
   * Copies `length` bytes from `fdIn` at `offsetIn` to `fdOut` at `offsetOut` without
   * passing them through JS: copy_file_range(2), and pread/pwrite through one reused buffer
   * where the kernel cannot (another file system, a block device, EXDEV, ENOSYS, EINVAL,
   * EOPNOTSUPP). Returns the bytes copied: fewer than `length` only when the input ends
   * first. The two ranges must not overlap when they are in the same file. With `state`, the
   * kernel is not asked while `state.kernel` is false, and `state.kernel` turns false when it
   * refuses (so that many copies between the same two files ask it once).
   */
  copyFileRange(fdIn: number, offsetIn: number, fdOut: number, offsetOut: number, length: number, state?: CopyState): number;
  /**
   * Copies many ranges from `fdIn` to `fdOut` in one call: `ranges` holds `count` triples
   * `[dst, src, len]` (`len` bytes of `fdIn` at `src` go to `fdOut` at `dst`; `src` -1 writes
   * `len` zeros). Given in ascending `dst` order, ranges that follow each other on the output
   * are written together (the addon: one `pwritev` of up to 8 MiB; the fallback: one write of
   * its buffer), and input ranges that lie close together forward are read with one read.
   * Ranges of 1 MiB or more go through copy_file_range while `state.kernel` is true (the
   * addon only), and `state.kernel` turns false when the kernel refuses (EXDEV, EOPNOTSUPP…),
   * so later calls do not ask again. Returns `count`, or fewer when the input ends before a
   * range's end: the ranges before the returned index have been written, those from it on not,
   * or only partly.
   */
  copyRanges(fdIn: number, fdOut: number, ranges: Float64Array, count: number, state?: CopyState): number;
  /**
   * Deallocates the range of a file so it reads as zeros (fallocate PUNCH_HOLE|KEEP_SIZE;
   * the size is kept). False when the file system or kernel cannot: then write zeros.
   */
  punchHole(fd: number, offset: number, length: number): boolean;
  /**
   * Makes the range read as zeros, allocated (fallocate ZERO_RANGE; a range past the end of
   * a file grows it). False when the file system or kernel cannot: then write zeros.
   */
  zeroRange(fd: number, offset: number, length: number): boolean;
  /**
   * Zeroes a block device's range (ioctl BLKZEROOUT; offset and length multiples of 512,
   * within the device). False when the device, range or kernel does not allow it, or `fd`
   * is not a block device.
   */
  blockZeroOut(fd: number, offset: number, length: number): boolean;
  /**
   * Discards a block device's range (ioctl BLKDISCARD). What the range reads as afterwards
   * depends on the device: use `blockZeroOut` to get zeros. False as for `blockZeroOut`.
   */
  blockDiscard(fd: number, offset: number, length: number): boolean;
  /**
   * The first byte of data at or after `offset` (lseek SEEK_DATA), or -1 when only a hole or
   * the end follows. With `seekHole`, it walks a sparse file's allocated ranges. The fallback
   * (and a file system without SEEK_DATA) treats the whole file as data: `offset` itself
   * while it is before the end of the file.
   */
  seekData(fd: number, offset: number): number;
  /**
   * The first byte of a hole at or after `offset` (lseek SEEK_HOLE; the end of the file
   * counts as one), or -1 when `offset` is past the end. The fallback returns the file's size.
   */
  seekHole(fd: number, offset: number): number;
  /** Size in bytes of the block device open as `fd` (BLKGETSIZE64); `NativeIoError` ENOTTY for anything else. */
  blockDeviceSize(fd: number): number;
  /**
   * What the loop device open as `fd` is bound to (LOOP_GET_STATUS64): the backing file's
   * device and inode, and the window of it the loop shows (`sizeLimit` 0: to its end); `null`
   * for a block device that is not a loop device or has nothing bound. The fallback reads
   * sysfs (`loop/backing_file`, a path: `undefined` inode when that path is gone or names
   * another file now), so prefer the addon.
   */
  loopBacking(fd: number): LoopBacking | null;
  /**
   * XXH64 (as the xxHash specification defines it, equal to xxhash-wasm's `h64`) of `data`
   * with the seed `seedHi·2^32 + seedLo`, written without allocating to `out[2·index]` (low
   * 32 bits) and `out[2·index + 1]` (high 32 bits). Not I/O, but there for the same reason:
   * compiled C hashes the bytes where they lie (1.5–1.9× as fast as WebAssembly on 4 KiB
   * pieces, which it must first copy into its own memory). `undefined` in the fallbacks: callers hash with
   * xxhash-wasm then, or plain JavaScript where WebAssembly cannot be instantiated (`@lwlog/diff`). A bad argument throws a RangeError with code `LWLOG_RANGE`.
   */
  readonly xxh64Into: ((data: Uint8Array, seedLo: number, seedHi: number, out: Uint32Array, index: number) => void) | undefined;
}

/** A loop device's backing file, as `loopBacking` reports it. */
export interface LoopBacking {
  /** Major and minor number of the device holding the backing file (its `stat` `dev`). */
  major: number;
  minor: number;
  /** The backing file's inode; `undefined` when it cannot be known (the fallback, a stale path). */
  inode: bigint | undefined;
  /** Where in the backing file the loop device starts, in bytes. */
  offset: number;
  /** How many bytes of it the loop device shows; 0 for all of it (from `offset` to its end). */
  sizeLimit: number;
  /** When the backing file is itself a device node (a loop over a block device): that device. */
  device?: { major: number; minor: number };
}

/**
 * Whether copies may still ask the kernel (copy_file_range) between two files: pass one
 * object to every copy between the same pair; the first refusal clears `kernel`.
 */
export interface CopyState {
  kernel: boolean;
}

/** Checks the arguments of `copyRanges` (the values of the ranges are checked as they are used). */
export function checkRanges(fdIn: unknown, fdOut: unknown, ranges: unknown, count: unknown): void {
  checkFd("copyRanges", fdIn);
  checkFd("copyRanges", fdOut);
  if (!(ranges instanceof Float64Array)) throw new NativeRangeError("copyRanges: ranges must be a Float64Array");
  checkWhole("copyRanges", "count", count);
  if (count > Math.floor(ranges.length / 3)) throw new NativeRangeError(`copyRanges: count ${count} is more than the ${Math.floor(ranges.length / 3)} ranges given`);
}

/** The most one `mapRange` maps: Node 20's typed arrays stop near 4 GiB, and windows are the point. */
export const MAX_MAP_LENGTH = 1 << 30;

/** Throws unless `fd` is a whole number from 0 to 2^31 - 1. */
export function checkFd(op: string, fd: unknown): asserts fd is number {
  if (typeof fd !== "number" || !Number.isInteger(fd) || fd < 0 || fd > 0x7fff_ffff) {
    throw new NativeRangeError(`${op}: the file descriptor must be a whole number from 0, got ${describe(fd)}`);
  }
}

/** Throws unless `value` is a safe non-negative integer `number`. */
export function checkWhole(op: string, what: string, value: unknown): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new NativeRangeError(`${op}: ${what} must be a safe non-negative integer number, got ${describe(value)}`);
  }
}

/** Checks `fd`, `offset` and `length` (and that `offset + length` is safe). */
export function checkRange(op: string, fd: unknown, offset: unknown, length: unknown): void {
  checkFd(op, fd);
  checkWhole(op, "the offset", offset);
  checkWhole(op, "the length", length);
  if (!Number.isSafeInteger(offset + length)) throw new NativeRangeError(`${op}: offset + length (${offset} + ${length}) is beyond 2^53`);
}

/** Checks the arguments of `copyFileRange`, refusing overlapping ranges of one descriptor. */
export function checkCopy(fdIn: unknown, offsetIn: unknown, fdOut: unknown, offsetOut: unknown, length: unknown): void {
  checkRange("copyFileRange", fdIn, offsetIn, length);
  checkRange("copyFileRange", fdOut, offsetOut, length);
  const [a, b, n] = [offsetIn as number, offsetOut as number, length as number];
  if (fdIn === fdOut && n > 0 && a < b + n && b < a + n) {
    throw new NativeRangeError(`copyFileRange: the ranges overlap (${a}+${n} and ${b}+${n} of one file)`);
  }
}

function describe(value: unknown): string {
  if (typeof value === "bigint") return `the bigint ${value}n (pass a number)`;
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}
