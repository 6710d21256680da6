import { open } from "node:fs/promises";
import type { FsKind } from "./verdict.js";

/** Where each file system's primary superblock says what it is. */
const MAGICS: { fs: FsKind; offset: number; bytes: Uint8Array }[] = [
  // ext2/3/4: s_magic 0xEF53 (little endian) at byte 56 of the superblock at 1024.
  { fs: "ext4", offset: 1024 + 56, bytes: Uint8Array.of(0x53, 0xef) },
  // xfs: sb_magicnum "XFSB" at byte 0 of the superblock at 0.
  { fs: "xfs", offset: 0, bytes: new TextEncoder().encode("XFSB") },
  // btrfs: magic "_BHRfS_M" at byte 64 of the superblock at 64 KiB.
  { fs: "btrfs", offset: 65536 + 64, bytes: new TextEncoder().encode("_BHRfS_M") },
];

/**
 * The file systems whose primary superblock magic is in the image (usually one; none before
 * mkfs has written it; several when an older one's superblock survived). Read without
 * blocking the event loop: the image may be a view this process serves.
 */
export async function detectFileSystems(image: string): Promise<FsKind[]> {
  const file = await open(image, "r");
  try {
    const found: FsKind[] = [];
    for (const m of MAGICS) {
      const buf = new Uint8Array(m.bytes.length);
      const { bytesRead } = await file.read(buf, 0, buf.length, m.offset);
      if (bytesRead === buf.length && Buffer.compare(buf, m.bytes) === 0) found.push(m.fs);
    }
    return found;
  } finally {
    await file.close();
  }
}

/** ext4's superblock `s_state` (byte 58 of the superblock at 1024): bit 2 is EXT2_ERROR_FS. */
export async function ext4HasErrors(image: string): Promise<boolean> {
  const file = await open(image, "r");
  try {
    const buf = new Uint8Array(2);
    const { bytesRead } = await file.read(buf, 0, 2, 1024 + 58);
    return bytesRead === 2 && ((buf[0]! | (buf[1]! << 8)) & 0x0002) !== 0;
  } finally {
    await file.close();
  }
}
