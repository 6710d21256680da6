import { fstatSync, readFileSync, readSync, writeSync, type Stats } from "node:fs";
import { NativeIoError, NativeRangeError, toNativeError } from "./errors.js";
import { MAX_MAP_LENGTH, checkCopy, checkFd, checkRange, type LinuxIo } from "./io.js";

/** Bytes `copyFileRange` moves at a time through its one buffer. */
const COPY_CHUNK = 1 << 20;
let copyBuffer: Uint8Array | undefined;
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
    copyFileRange(fdIn, offsetIn, fdOut, offsetOut, length) {
      checkCopy(fdIn, offsetIn, fdOut, offsetOut, length);
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
