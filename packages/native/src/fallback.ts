import { fstatSync, readFileSync, statSync, readSync, writeSync, type Stats } from "node:fs";
import { NativeIoError, NativeRangeError, toNativeError } from "./errors.js";
import { MAX_MAP_LENGTH, checkCopy, checkFd, checkRange, checkRanges, type LinuxIo, type LoopBacking } from "./io.js";

/** Bytes `copyFileRange` moves at a time through its one buffer. */
const COPY_CHUNK = 1 << 20;
let copyBuffer: Uint8Array | undefined;
/** Bytes `copyRanges` gathers before each write, and how far apart two inputs may be and still be read at once. */
const GATHER_BYTES = 4 << 20;
const READ_GAP = 64 << 10;
let gatherBuffer: Uint8Array | undefined;
/** The copies `mapRange` handed out and `unmap` has not released (only these may be detached). */
const copies = new WeakSet<ArrayBuffer>();

/** fstat, with Node's error turned into a `NativeIoError`. */
function stat(op: string, fd: number): Stats {
  try {
    return fstatSync(fd);
  } catch (err) {
    throw toNativeError(err, op);
  }
}

/** A block device's size from sysfs (`/sys/dev/block/MAJ:MIN/size`, in 512-byte units). */
function sysfsDeviceSize(op: string, st: Stats): number {
  const major = Math.floor(st.rdev / 256) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  try {
    return Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, "utf8").trim()) * 512;
  } catch (err) {
    throw toNativeError(err, op);
  }
}

/**
 * `loopBacking` from sysfs: `loop/backing_file` is a path, as it was when the file was bound
 * (" (deleted)" once unlinked), so the inode is that of whatever the path names now when its
 * device matches, else unknown.
 */
function sysfsLoopBacking(st: Stats): LoopBacking | null {
  const major = Math.floor(st.rdev / 256) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  const dir = `/sys/dev/block/${major}:${minor}/loop`;
  let path: string;
  let offset: number;
  let sizeLimit: number;
  try {
    path = readFileSync(`${dir}/backing_file`, "utf8").replace(/\n$/, "");
    offset = Number(readFileSync(`${dir}/offset`, "utf8").trim());
    sizeLimit = Number(readFileSync(`${dir}/sizelimit`, "utf8").trim());
  } catch {
    return null; // not a loop device, or nothing bound to it
  }
  const unknown: LoopBacking = { major: 0, minor: 0, inode: undefined, offset, sizeLimit };
  if (path.endsWith(" (deleted)")) return unknown;
  try {
    const b = statSync(path, { bigint: true });
    const out: LoopBacking = { ...majorMinor(Number(b.dev)), inode: b.ino, offset, sizeLimit };
    if (b.isBlockDevice() || b.isCharacterDevice()) out.device = majorMinor(Number(b.rdev));
    return out;
  } catch {
    return unknown;
  }
}

function majorMinor(dev: number): { major: number; minor: number } {
  return { major: Math.floor(dev / 256) & 0xfff, minor: (dev & 0xff) | ((dev >> 12) & 0xfff00) };
}

/** Reads exactly `target.length` bytes at `position`; false when the input ends first. */
function readFully(op: string, fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    let n: number;
    try {
      n = readSync(fd, target, done, target.length - done, position + done);
    } catch (err) {
      throw toNativeError(err, op);
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

function writeFully(op: string, fd: number, source: Uint8Array, position: number): void {
  for (let done = 0; done < source.length; ) {
    try {
      done += writeSync(fd, source, done, source.length - done, position + done);
    } catch (err) {
      throw toNativeError(err, op);
    }
  }
}

/**
 * `fd` checked to be open (EBADF like the addon's calls), for the functions that only the
 * kernel can do and so report "not supported" here.
 */
function unsupported(op: string, fd: number, offset: number, length: number): false {
  checkRange(op, fd, offset, length);
  stat(op, fd);
  return false;
}

/**
 * The pure-JS implementations: the same results as the addon's, through `readSync` and
 * `writeSync` (no mapping: `mapRange` reads a copy), and `false` ("not supported") from
 * `punchHole`, `zeroRange`, `blockZeroOut` and `blockDiscard`.
 */
export function fallbackIo(reason: string | undefined): LinuxIo {
  return {
    available: false,
    reason,
    maps: false,
    pageSize: 4096,
    mapRange: mapCopy,
    unmap: releaseCopy,
    copyFileRange(fdIn, offsetIn, fdOut, offsetOut, length, state) {
      checkCopy(fdIn, offsetIn, fdOut, offsetOut, length);
      if (state !== undefined) state.kernel = false;
      const buf = (copyBuffer ??= new Uint8Array(COPY_CHUNK));
      let done = 0;
      while (done < length) {
        const view = buf.subarray(0, Math.min(buf.length, length - done));
        const got = readFully("copyFileRange", fdIn, view, offsetIn + done);
        writeFully("copyFileRange", fdOut, view.subarray(0, got), offsetOut + done);
        done += got;
        if (got < view.length) break;
      }
      return done;
    },
    copyRanges(fdIn, fdOut, ranges, count, state) {
      checkRanges(fdIn, fdOut, ranges, count);
      if (state !== undefined) state.kernel = false;
      return copyRangesJs(fdIn, fdOut, ranges, count);
    },
    punchHole: (fd, offset, length) => unsupported("punchHole", fd, offset, length),
    zeroRange: (fd, offset, length) => unsupported("zeroRange", fd, offset, length),
    blockZeroOut: (fd, offset, length) => unsupported("blockZeroOut", fd, offset, length),
    blockDiscard: (fd, offset, length) => unsupported("blockDiscard", fd, offset, length),
    seekData(fd, offset) {
      checkRange("seekData", fd, offset, 0);
      return offset < sizeOf("seekData", fd) ? offset : -1;
    },
    seekHole(fd, offset) {
      checkRange("seekHole", fd, offset, 0);
      const size = sizeOf("seekHole", fd);
      return offset <= size ? size : -1;
    },
    blockDeviceSize(fd) {
      checkFd("blockDeviceSize", fd);
      const st = stat("blockDeviceSize", fd);
      if (!st.isBlockDevice()) {
        throw new NativeIoError("blockDeviceSize: ioctl(BLKGETSIZE64) failed: ENOTTY (not a block device)", "ENOTTY", "ioctl(BLKGETSIZE64)");
      }
      return sysfsDeviceSize("blockDeviceSize", st);
    },
    loopBacking(fd) {
      checkFd("loopBacking", fd);
      const st = stat("loopBacking", fd);
      return st.isBlockDevice() ? sysfsLoopBacking(st) : null;
    },
    xxh64Into: undefined,
  };
}

/** Size of a regular file or block device open as `fd` (0 for anything else). */
function sizeOf(op: string, fd: number): number {
  const st = stat(op, fd);
  return st.isFile() ? st.size : st.isBlockDevice() ? sysfsDeviceSize(op, st) : 0;
}

/** `mapRange` without mapping: a copy of the range, with the same checks. */
export function mapCopy(fd: number, offset: number, length: number): Uint8Array {
  checkRange("mapRange", fd, offset, length);
  if (length > MAX_MAP_LENGTH) throw new NativeRangeError(`mapRange: length ${length} is more than ${MAX_MAP_LENGTH} (map windows, not whole files)`);
  const st = stat("mapRange", fd);
  const size = st.isFile() ? st.size : st.isBlockDevice() ? sysfsDeviceSize("mapRange", st) : -1;
  if (size < 0) throw new NativeIoError("mapRange: mmap failed: ENODEV (neither a regular file nor a block device)", "ENODEV", "mmap");
  if (offset + length > size) throw new NativeRangeError(`mapRange: the range ${offset}+${length} ends past the end of the file (${size} bytes)`);
  const out = new Uint8Array(length);
  if (readFully("mapRange", fd, out, offset) < length) {
    throw new NativeRangeError(`mapRange: the file ended before ${offset + length} (it shrank)`);
  }
  if (length > 0) copies.add(out.buffer);
  return out;
}

/** `unmap` of a copy: detaches its buffer (as the addon does) so no stale view lives on. */
export function releaseCopy(view: Uint8Array): boolean {
  if (!(view instanceof Uint8Array)) throw new NativeRangeError("unmap: not a Uint8Array");
  const buf = view.buffer as ArrayBuffer;
  if (view.byteLength === 0 && !copies.has(buf)) return false;
  if (!copies.has(buf)) throw new NativeRangeError("unmap: not a view mapRange returned");
  copies.delete(buf);
  structuredClone(buf, { transfer: [buf] });
  return true;
}

/** Throws unless the range's numbers are whole byte counts below 2^53 (`src` -1 for zeros). */
function checkTriple(i: number, dst: number, src: number, len: number): void {
  const whole = (v: number) => Number.isSafeInteger(v) && v >= 0;
  if (!whole(dst) || !(src === -1 || whole(src)) || !whole(len) || !Number.isSafeInteger(dst + len) || (src >= 0 && !Number.isSafeInteger(src + len))) {
    throw new NativeRangeError(`copyRanges: range ${i} is not whole numbers of bytes below 2^53 (src -1 for zeros)`);
  }
}

/**
 * `copyRanges` in JS, the addon's way: output ranges that follow each other gathered in one
 * buffer and written at once, inputs that lie close together forward read at once (the gap
 * read too, then left out). Invariants: the buffer's `[0, used)` holds the run that starts at
 * output byte `runDst`; the pending read `[spanSrc, spanEnd)` goes to `spanAt` of a second
 * buffer region and is copied into the run when it closes.
 */
function copyRangesJs(fdIn: number, fdOut: number, ranges: Float64Array, count: number): number {
  for (let i = 0; i < count; i++) checkTriple(i, ranges[3 * i]!, ranges[3 * i + 1]!, ranges[3 * i + 2]!);
  const buf = (gatherBuffer ??= new Uint8Array(GATHER_BYTES));
  let used = 0;
  let runDst = 0;
  const flush = () => {
    if (used > 0) writeFully("copyRanges", fdOut, buf.subarray(0, used), runDst);
    used = 0;
  };
  for (let i = 0; i < count; i++) {
    let dst = ranges[3 * i]!;
    let src = ranges[3 * i + 1]!;
    let len = ranges[3 * i + 2]!;
    while (len > 0) {
      if (used > 0 && (dst !== runDst + used || used === buf.length)) flush();
      if (used === 0) runDst = dst;
      const take = Math.min(len, buf.length - used);
      const view = buf.subarray(used, used + take);
      if (src < 0) view.fill(0);
      else {
        // Input that follows on closely (the next ranges' too) is read in this one read when it fits.
        let end = src + take;
        let j = i + 1;
        while (j < count && ranges[3 * j + 1]! >= end && ranges[3 * j + 1]! - end <= READ_GAP && ranges[3 * j]! === ranges[3 * (j - 1)]! + ranges[3 * (j - 1) + 2]!) {
          const next = ranges[3 * j + 1]! + ranges[3 * j + 2]!;
          if (used + (next - src) > buf.length) break;
          end = next;
          j++;
        }
        if (j === i + 1 || take < len) {
          if (readFully("copyRanges", fdIn, view, src) < take) {
            flush();
            return i;
          }
        } else {
          // Read [src, end) at `used`, then move each range's bytes down over the gaps.
          const span = buf.subarray(used, used + (end - src));
          const got = readFully("copyRanges", fdIn, span, src);
          let at = used;
          for (let k = i; k < j; k++) {
            // Range i may be what is left of it after the buffer filled up.
            const s = k === i ? src : ranges[3 * k + 1]!;
            const n = k === i ? len : ranges[3 * k + 2]!;
            if (s + n - src > got) {
              used = at;
              flush();
              return k;
            }
            buf.copyWithin(at, used + (s - src), used + (s - src) + n);
            at += n;
          }
          used = at;
          i = j - 1;
          break;
        }
      }
      used += take;
      dst += take;
      src = src < 0 ? src : src + take;
      len -= take;
    }
  }
  flush();
  return count;
}
