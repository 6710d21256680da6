/** `WRITE_LOG_MAGIC`: the bytes `"rhswfsj\0"` read as a little-endian u64. */
export const LOG_MAGIC = 0x6a736677736872n;

/** `WRITE_LOG_VERSION`: the only version any writer has produced. */
export const LOG_VERSION = 1n;

/** Smallest sector size that holds a superblock and an entry header (QEMU's rule). */
export const MIN_SECTOR_SIZE = 32;

/** Largest sector size any writer accepts: QEMU requires `S < 2^24`, and S is a power of two. */
export const MAX_SECTOR_SIZE = 8 * 1024 * 1024;

/** Byte offsets of the superblock fields (all little-endian). */
export const SUPER_FIELDS = {
  magic: 0,
  version: 8,
  nrEntries: 16,
  sectorSize: 24,
  /** Four bytes of struct padding: the kernel copies uninitialised stack bytes here. */
  padding: 28,
} as const;

/** Bytes of the superblock that carry fields (`sizeof` of QEMU's packed struct). */
export const SUPER_FIELDS_SIZE = 28;

/** Bytes the kernel's `struct log_write_super` occupies with its padding. */
export const SUPER_STRUCT_SIZE = 32;

/** Byte offsets of the entry header fields (all little-endian u64). */
export const ENTRY_FIELDS = {
  sector: 0,
  nrSectors: 8,
  flags: 16,
  dataLen: 24,
} as const;

/** Bytes of the entry header fields; a mark's name starts right after them. */
export const ENTRY_HEADER_SIZE = 32;

/** Flag bits of an entry, as defined by the kernel, QEMU and xfstests. */
export const LogFlags = {
  FLUSH: 1n << 0n,
  FUA: 1n << 1n,
  DISCARD: 1n << 2n,
  MARK: 1n << 3n,
  METADATA: 1n << 4n,
} as const;

/** Name of one known flag bit. */
export type LogFlagName = keyof typeof LogFlags;

/** Every flag bit a known writer sets. */
export const KNOWN_FLAGS = LogFlags.FLUSH | LogFlags.FUA | LogFlags.DISCARD | LogFlags.MARK | LogFlags.METADATA;

/** The bits QEMU's `log-append=on` accepts (`LOG_FLAG_MASK`); METADATA is rejected there. */
export const QEMU_FLAG_MASK = LogFlags.FLUSH | LogFlags.FUA | LogFlags.DISCARD | LogFlags.MARK;

/** Largest value of an on-disk u64. */
export const U64_MAX = (1n << 64n) - 1n;
