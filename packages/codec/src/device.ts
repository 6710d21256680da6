import { readFileSync, type Stats } from "node:fs";

/**
 * Size in bytes of an open file or block device. `fstat` reports 0 for a block device,
 * so its size comes from sysfs (`/sys/dev/block/MAJ:MIN/size`, in 512-byte units).
 */
export function sizeOf(stat: Stats): number {
  if (stat.isBlockDevice()) {
    const major = Math.floor(stat.rdev / 256) & 0xfff;
    const minor = (stat.rdev & 0xff) | ((stat.rdev >> 12) & 0xfff00);
    const text = readFileSync(`/sys/dev/block/${major}:${minor}/size`, "utf8");
    return Number(text.trim()) * 512;
  }
  return stat.size;
}
