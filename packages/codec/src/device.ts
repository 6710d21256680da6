import { readFileSync, type Stats } from "node:fs";
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
