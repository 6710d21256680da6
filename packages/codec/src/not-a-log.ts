import { firstNonZero, viewOf } from "./bytes.js";
import { ENTRY_FIELDS, ENTRY_HEADER_SIZE, LOG_MAGIC, SUPER_STRUCT_SIZE } from "./constants.js";

/**
 * What a file whose first bytes are not a log's superblock is, told from its first bytes, so
 * that `lwlog info disk.img` says "a disk image with an ext4 filesystem" rather than quoting
 * a magic number. The first 128 KiB are enough for every signature here (btrfs's is the
 * farthest, at 64 KiB + 64).
 */
export const NOT_A_LOG_PROBE = 128 * 1024;

/** A format recognised by bytes at a fixed place. */
interface Signature {
  at: number;
  bytes: string | number[];
  /** What the file is, after "it looks like". */
  what: string | ((b: Uint8Array) => string);
  /** What to do about it. */
  next?: string;
}

const IMAGE = "a disk image: give the log the workload was recorded into, not the disk";
const COMPRESSED = (tool: string) => `decompress it first (${tool}) and give the log inside`;

// Ordered: a filesystem before the partition-table signature it may also carry.
const SIGNATURES: Signature[] = [
  { at: 1024 + 56, bytes: [0x53, 0xef], what: extName, next: IMAGE },
  { at: 0, bytes: "XFSB", what: "an XFS filesystem (superblock magic \"XFSB\" at byte 0)", next: IMAGE },
  { at: 65536 + 64, bytes: "_BHRfS_M", what: "a btrfs filesystem (superblock magic \"_BHRfS_M\" at byte 65600)", next: IMAGE },
  { at: 1024, bytes: [0x10, 0x20, 0xf5, 0xf2], what: "an F2FS filesystem (magic 0xf2f52010 at byte 1024)", next: IMAGE },
  { at: 0, bytes: "hsqs", what: "a squashfs filesystem (magic \"hsqs\" at byte 0)", next: IMAGE },
  { at: 32769, bytes: "CD001", what: "an ISO 9660 filesystem (\"CD001\" at byte 32769)", next: IMAGE },
  { at: 3, bytes: "NTFS    ", what: "an NTFS filesystem (\"NTFS\" at byte 3)", next: IMAGE },
  { at: 82, bytes: "FAT32   ", what: "a FAT32 filesystem (\"FAT32\" at byte 82)", next: IMAGE },
  { at: 54, bytes: "FAT1", what: "a FAT filesystem (\"FAT1\" at byte 54)", next: IMAGE },
  { at: 4096 - 10, bytes: "SWAPSPACE2", what: "a Linux swap area (\"SWAPSPACE2\" at byte 4086)", next: IMAGE },
  { at: 0, bytes: "LUKS\xba\xbe", what: "a LUKS encrypted volume (magic \"LUKS\" at byte 0)", next: IMAGE },
  { at: 0, bytes: "QFI\xfb", what: "a qcow2 disk image (magic \"QFI\\xfb\" at byte 0)", next: "give the log the workload was recorded into, not the disk (qemu-img convert -O raw makes a raw image of it)" },
  { at: 0, bytes: "KDMV", what: "a VMDK disk image (magic \"KDMV\" at byte 0)", next: IMAGE },
  { at: 0, bytes: "vhdxfile", what: "a VHDX disk image (\"vhdxfile\" at byte 0)", next: IMAGE },
  { at: 64, bytes: [0x7f, 0x10, 0xda, 0xbe], what: "a VirtualBox VDI disk image (magic 0xbeda107f at byte 64)", next: IMAGE },
  { at: 512, bytes: "EFI PART", what: "a disk with a GPT partition table (\"EFI PART\" at byte 512)", next: IMAGE },
  { at: 4096, bytes: "EFI PART", what: "a disk with a GPT partition table (\"EFI PART\" at byte 4096)", next: IMAGE },
  { at: 0, bytes: [0x1f, 0x8b], what: "a gzip-compressed file", next: COMPRESSED("gunzip") },
  { at: 0, bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: "an xz-compressed file", next: COMPRESSED("unxz") },
  { at: 0, bytes: [0x28, 0xb5, 0x2f, 0xfd], what: "a zstd-compressed file", next: COMPRESSED("unzstd") },
  { at: 0, bytes: "BZh", what: "a bzip2-compressed file", next: COMPRESSED("bunzip2") },
  { at: 257, bytes: "ustar", what: "a tar archive", next: "extract the log from it first (tar -xf)" },
  { at: 0, bytes: "\x7fELF", what: "an ELF executable or library" },
  { at: 0, bytes: '{"type":"super"', what: "an lwlog NDJSON export", next: "lwlog import turns an export made with --data base64 back into the log" },
  { at: 0, bytes: '{"super":', what: "an lwlog JSON export", next: "lwlog import turns an export made with --data base64 back into the log" },
  { at: 0, bytes: "index,offset,kind,", what: "an lwlog CSV export", next: "lwlog import turns an export made with --data base64 back into the log" },
  { at: 0, bytes: "fio version 2 iolog", what: "a fio iolog (lwlog export --format fio-iolog)" },
];

/** ext2, ext3 or ext4, from the superblock's feature flags. */
function extName(b: Uint8Array): string {
  const v = viewOf(b);
  const compat = b.length >= 1024 + 0x60 ? v.getUint32(1024 + 0x5c, true) : 0;
  const incompat = b.length >= 1024 + 0x64 ? v.getUint32(1024 + 0x60, true) : 0;
  // extents, 64bit, flex_bg: ext4's; has_journal alone: ext3.
  const fs = (incompat & (0x40 | 0x80 | 0x200)) !== 0 ? "ext4" : (compat & 0x4) !== 0 ? "ext3" : "ext2";
  return `an ${fs} filesystem (superblock magic 0xef53 at byte 1080)`;
}

function matches(b: Uint8Array, s: Signature): boolean {
  const want = typeof s.bytes === "string" ? [...s.bytes].map((c) => c.charCodeAt(0)) : s.bytes;
  if (b.length < s.at + want.length) return false;
  return want.every((x, i) => b[s.at + i] === x);
}

/** True when the bytes read as text: UTF-8 without control characters other than tab, CR, LF. */
function isText(b: Uint8Array): boolean {
  const sample = b.subarray(0, Math.min(b.length, 4096));
  if (sample.length === 0) return false;
  for (const x of sample) if ((x < 0x20 && x !== 0x09 && x !== 0x0a && x !== 0x0d) || x === 0x7f) return false;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(sample.subarray(0, lastWholeChar(sample)));
    return true;
  } catch {
    return false;
  }
}

/** Length of `b` without a UTF-8 sequence cut off at its end. */
function lastWholeChar(b: Uint8Array): number {
  let end = b.length;
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const x = b[end - back]!;
    if ((x & 0xc0) !== 0x80) {
      const need = x >= 0xf0 ? 4 : x >= 0xe0 ? 3 : x >= 0xc0 ? 2 : 1;
      return need > back ? end - back : end;
    }
  }
  return end;
}

/**
 * True when an entry header QEMU could have written sits at byte `s` (a power of two from
 * 512): known flags, something logged, the rest of its header block zero. QEMU writes
 * entries before it first writes the superblock, so a log whose writer stopped early has
 * a zero superblock and entries after it.
 */
function entryAt(b: Uint8Array, s: number): boolean {
  if (b.length < s + ENTRY_HEADER_SIZE) return false;
  const v = viewOf(b);
  const flags = v.getBigUint64(s + ENTRY_FIELDS.flags, true);
  const nrSectors = v.getBigUint64(s + ENTRY_FIELDS.nrSectors, true);
  if (flags > 0x1fn || (flags === 0n && nrSectors === 0n)) return false;
  return firstNonZero(b, s + ENTRY_HEADER_SIZE, Math.min(b.length, 2 * s)) < 0;
}

/**
 * Why `bytes` (the first bytes of a file of `fileSize` bytes, up to `NOT_A_LOG_PROBE` of
 * them) are not a log, for the message of `LWLOG_BAD_MAGIC`. Recognised formats are named
 * with what to do; a zero superblock with a QEMU entry after it is explained as QEMU's.
 */
export function notALogMessage(bytes: Uint8Array, fileSize = bytes.length): string {
  const logMagic = `a log starts with the magic 0x${LOG_MAGIC.toString(16).padStart(16, "0")}, "rhswfsj"`;
  for (const s of SIGNATURES) {
    if (!matches(bytes, s)) continue;
    const what = typeof s.what === "string" ? s.what : s.what(bytes);
    return `does not look like a dm-log-writes log: it looks like ${what}${s.next ? `; ${s.next}` : ""}`;
  }
  if (bytes.length >= 512 && bytes[510] === 0x55 && bytes[511] === 0xaa) {
    return `does not look like a dm-log-writes log: it looks like a disk with a DOS (MBR) partition table or a boot sector (0x55 0xaa at byte 510); ${IMAGE}`;
  }
  const superZero = firstNonZero(bytes, 0, Math.min(bytes.length, SUPER_STRUCT_SIZE)) < 0;
  if (superZero && firstNonZero(bytes, 0, bytes.length) < 0) {
    const all = bytes.length >= fileSize ? `the file is all zero bytes (${fileSize})` : `its first ${bytes.length} bytes are all zero`;
    return `does not look like a dm-log-writes log: ${all}, as in an empty or sparse disk image; ${logMagic}`;
  }
  if (superZero) {
    for (let s = 512; s <= 65536; s *= 2) {
      if (entryAt(bytes, s)) {
        return `bad magic: the superblock is all zero bytes, so no superblock was ever written (QEMU writes it only at the first flush or superblock interval); an entry header follows at byte ${s}`;
      }
    }
    return `does not look like a dm-log-writes log: its first ${SUPER_STRUCT_SIZE} bytes are zero and no entry header follows (${logMagic})`;
  }
  if (isText(bytes)) return `does not look like a dm-log-writes log: it is a text file; ${logMagic}`;
  const magic = viewOf(bytes).getBigUint64(0, true);
  return `does not look like a dm-log-writes log: bad magic 0x${magic.toString(16).padStart(16, "0")} (${logMagic})`;
}
