import { closeSync, constants, fstatSync, openSync, readFileSync, realpathSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { native } from "@lwlog/native";

/**
 * Size in bytes of an open file or block device. `fstat` reports 0 for a block device, so
 * its size comes from the device itself (BLKGETSIZE64) when `fd` is given and `@lwlog/native`'s
 * addon is built, else from sysfs (`/sys/dev/block/MAJ:MIN/size`, in 512-byte units).
 */
export function sizeOf(stat: Stats, fd?: number): number {
  if (stat.isBlockDevice()) {
    if (fd !== undefined && native.available) {
      try {
        return native.blockDeviceSize(fd);
      } catch {
        // sysfs below says the same, or fails with the error to report
      }
    }
    const major = Math.floor(stat.rdev / 256) & 0xfff;
    const minor = (stat.rdev & 0xff) | ((stat.rdev >> 12) & 0xfff00);
    const text = readFileSync(`/sys/dev/block/${major}:${minor}/size`, "utf8");
    return Number(text.trim()) * 512;
  }
  return stat.size;
}

/**
 * True when two `stat` results name the same file: the same inode of the same file system
 * (whatever hard or symbolic link led to it), or for device nodes the same device (`rdev`),
 * whichever node names it.
 */
export function sameFile(a: Stats, b: Stats): boolean {
  if ((a.isBlockDevice() && b.isBlockDevice()) || (a.isCharacterDevice() && b.isCharacterDevice())) return a.rdev === b.rdev;
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * True when writing one of the two would change what the other reads: `sameFile`, or a block
 * device whose bytes lie in the other (a loop device over a file, a loop over a loop, a
 * partition of either), found down to the file or disk the bytes are stored on, byte ranges
 * compared (two partitions of one disk do not share storage). Loop devices are read with
 * LOOP_GET_STATUS64 (the backing file's device and inode; sysfs' path when the addon is not
 * built); partitions from sysfs. Device-mapper devices are not looked through (their tables
 * are not in sysfs): docs/cli.md says so.
 */
export function sharesStorage(a: Stats, b: Stats): boolean {
  if (sameFile(a, b)) return true;
  if (!a.isBlockDevice() && !b.isBlockDevice()) return false;
  const x = storageOf(a);
  const y = storageOf(b);
  return x !== undefined && y !== undefined && x.base === y.base && x.start < y.end && y.start < x.end;
}

/** Where a file's or a device's bytes are stored: `base` (a file or a disk) from byte `start` to `end`. */
interface Storage {
  base: string;
  start: number;
  end: number;
}

function storageOf(stat: Stats): Storage | undefined {
  if (stat.isFile()) return fileStorage(stat.dev, stat.ino);
  if (stat.isBlockDevice()) return deviceStorage(major(stat.rdev), minor(stat.rdev), 0);
  return undefined;
}

function fileStorage(dev: number, ino: number): Storage {
  return { base: fileKey(major(dev), minor(dev), ino), start: 0, end: Infinity };
}

function fileKey(maj: number, min: number, ino: number): string {
  return `file ${maj}:${min}:${ino}`;
}

/** A block device's storage: a partition's in its disk's, a loop device's in its backing file's. */
function deviceStorage(maj: number, min: number, depth: number): Storage {
  const itself: Storage = { base: `disk ${maj}:${min}`, start: 0, end: Infinity };
  if (depth > 16) return itself; // a cycle cannot be built, but sysfs is not ours to trust
  const sys = `/sys/dev/block/${maj}:${min}`;
  const partStart = sysNumber(`${sys}/start`);
  if (partStart !== undefined && sysNumber(`${sys}/partition`) !== undefined) {
    const size = sysNumber(`${sys}/size`);
    const parent = sysDevice(`${dirname(safeRealpath(sys) ?? sys)}/dev`);
    if (parent === undefined || size === undefined) return itself;
    return window(deviceStorage(parent.major, parent.minor, depth + 1), partStart * 512, size * 512);
  }
  const loop = loopOf(maj, min);
  if (loop === null || loop === undefined) return itself;
  const below = loop.device !== undefined ? deviceStorage(loop.device.major, loop.device.minor, depth + 1) : loop.inode !== undefined ? { base: fileKey(loop.major, loop.minor, Number(loop.inode)), start: 0, end: Infinity } : undefined;
  if (below === undefined) return itself;
  return window(below, loop.offset, loop.sizeLimit === 0 ? Infinity : loop.sizeLimit);
}

/** The `length` bytes from `offset` of `outer`. */
function window(outer: Storage, offset: number, length: number): Storage {
  const start = outer.start + offset;
  return { base: outer.base, start, end: Math.min(outer.end, start + length) };
}

/** `loopBacking` of the device MAJ:MIN, opened by the name sysfs gives it; `undefined` when it cannot be opened. */
function loopOf(maj: number, min: number): ReturnType<typeof native.loopBacking> | undefined {
  let name: string | undefined;
  try {
    name = /^DEVNAME=(.*)$/m.exec(readFileSync(`/sys/dev/block/${maj}:${min}/uevent`, "utf8"))?.[1];
  } catch {
    return undefined;
  }
  if (name === undefined) return undefined;
  let fd: number;
  try {
    fd = openSync(`/dev/${name}`, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isBlockDevice() || major(st.rdev) !== maj || minor(st.rdev) !== min) return undefined;
    return native.loopBacking(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function sysNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function sysDevice(path: string): { major: number; minor: number } | undefined {
  try {
    const m = /^(\d+):(\d+)$/.exec(readFileSync(path, "utf8").trim());
    return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
  } catch {
    return undefined;
  }
}

function safeRealpath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** glibc's `major()`/`minor()` of a `dev_t` as Node reports it (a number). */
function major(dev: number): number {
  return Math.floor(dev / 256) & 0xfff;
}

function minor(dev: number): number {
  return (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
}
