import { firstNonZero, viewOf } from "./bytes.js";
import {
  LOG_MAGIC,
  LOG_VERSION,
  MAX_SECTOR_SIZE,
  MIN_SECTOR_SIZE,
  SUPER_FIELDS,
  SUPER_FIELDS_SIZE,
  SUPER_STRUCT_SIZE,
} from "./constants.js";
import { ErrorCodes, LogFormatError, LogRangeError } from "./errors.js";
import { isValidSectorSize } from "./numbers.js";
import { notALogMessage } from "./not-a-log.js";

/** The superblock of a log: the first sector, `S` bytes at offset 0. */
export interface LogSuper {
  /** Always `LOG_MAGIC` once decoded. */
  magic: bigint;
  /** Always `1n` once decoded. */
  version: bigint;
  /** Entries the writer declared valid when it last rewrote the superblock. */
  nrEntries: bigint;
  /** `S`: bytes per log sector, the unit of every entry's `sector` and `nrSectors`. */
  sectorSize: number;
  /** The four bytes after `sectorsize` as a u32; the kernel leaves stack garbage there. Ignored. */
  padding: number;
}

/** Where the decoder found the superblock's problems, for messages that name a file. */
export interface DecodeContext {
  file?: string;
  /** The file's size, when `bytes` may be less than all of it (for the bad-magic message). */
  fileSize?: number;
}

/**
 * Decodes a superblock from the first bytes of a log (at least 28; pass the whole first
 * sector when you have it). Throws `LogFormatError` with `LWLOG_BAD_MAGIC`,
 * `LWLOG_BAD_VERSION`, `LWLOG_BAD_SECTOR_SIZE` or `LWLOG_TRUNCATED_SUPER`.
 */
export function decodeSuper(bytes: Uint8Array, ctx: DecodeContext = {}): LogSuper {
  const file = ctx.file;
  if (bytes.length === 0) {
    throw new LogFormatError(ErrorCodes.EMPTY_FILE, "the file is empty: no superblock", { file, offset: 0 });
  }
  const v = viewOf(bytes);
  if (bytes.length >= 8) {
    const magic = v.getBigUint64(SUPER_FIELDS.magic, true);
    if (magic !== LOG_MAGIC) {
      // Say what the file is instead (a disk image given by mistake, an export, a log whose
      // writer, QEMU, never wrote its superblock) rather than just "bad magic 0x0".
      throw new LogFormatError(ErrorCodes.BAD_MAGIC, notALogMessage(bytes, ctx.fileSize), { file, offset: SUPER_FIELDS.magic });
    }
  }
  if (bytes.length < SUPER_FIELDS_SIZE) {
    throw new LogFormatError(
      ErrorCodes.TRUNCATED_SUPER,
      `truncated superblock: ${bytes.length} bytes, need at least ${SUPER_FIELDS_SIZE}`,
      { file, offset: 0 },
    );
  }
  const version = v.getBigUint64(SUPER_FIELDS.version, true);
  if (version !== LOG_VERSION) {
    throw new LogFormatError(ErrorCodes.BAD_VERSION, `unsupported log version ${version} (only version 1 exists)`, {
      file,
      offset: SUPER_FIELDS.version,
    });
  }
  const sectorSize = v.getUint32(SUPER_FIELDS.sectorSize, true);
  if (!isValidSectorSize(sectorSize)) {
    throw new LogFormatError(
      ErrorCodes.BAD_SECTOR_SIZE,
      `invalid sector size ${sectorSize}: it must be a power of two from ${MIN_SECTOR_SIZE} to ${MAX_SECTOR_SIZE}`,
      { file, offset: SUPER_FIELDS.sectorSize },
    );
  }
  const padding = bytes.length >= SUPER_STRUCT_SIZE ? v.getUint32(SUPER_FIELDS.padding, true) : 0;
  return { magic: LOG_MAGIC, version, nrEntries: v.getBigUint64(SUPER_FIELDS.nrEntries, true), sectorSize, padding };
}

/**
 * Encodes a superblock as one full sector (`sectorSize` bytes): the fields, then zeros.
 * `padding` is written as given (0 by default), so a kernel superblock can be rebuilt byte for byte.
 */
export function encodeSuper(sup: { nrEntries: bigint; sectorSize: number; padding?: number }): Uint8Array {
  if (!isValidSectorSize(sup.sectorSize)) {
    throw new LogRangeError(ErrorCodes.BAD_SECTOR_SIZE, `invalid sector size ${sup.sectorSize}`);
  }
  if (sup.nrEntries < 0n || sup.nrEntries >= 1n << 64n) {
    throw new LogRangeError(ErrorCodes.RANGE, `nr_entries ${sup.nrEntries} does not fit a u64`);
  }
  const out = new Uint8Array(sup.sectorSize);
  const v = viewOf(out);
  v.setBigUint64(SUPER_FIELDS.magic, LOG_MAGIC, true);
  v.setBigUint64(SUPER_FIELDS.version, LOG_VERSION, true);
  v.setBigUint64(SUPER_FIELDS.nrEntries, sup.nrEntries, true);
  v.setUint32(SUPER_FIELDS.sectorSize, sup.sectorSize, true);
  v.setUint32(SUPER_FIELDS.padding, sup.padding ?? 0, true);
  return out;
}

/**
 * Offset of the first non-zero byte after the superblock struct in its sector, or -1.
 * Writers zero this area; a non-zero byte suggests the file is not what it claims.
 */
export function superPaddingProblem(block: Uint8Array): number {
  return firstNonZero(block, SUPER_STRUCT_SIZE, block.length);
}
