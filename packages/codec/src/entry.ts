import { firstNonZero, viewOf } from "./bytes.js";
import { ENTRY_FIELDS, ENTRY_HEADER_SIZE, KNOWN_FLAGS, LogFlags, U64_MAX } from "./constants.js";
import { ErrorCodes, LogRangeError } from "./errors.js";
import { isValidSectorSize } from "./numbers.js";

/** The four u64 fields at the start of every entry's header block. */
export interface EntryHeader {
  /** Target offset in units of the log's sector size `S`. */
  sector: bigint;
  /** Length in units of `S`: the data that follows the header (none for a discard). */
  nrSectors: bigint;
  /** Raw flag bits; unknown bits are kept. */
  flags: bigint;
  /** Bytes of private data: a mark's name length, or a DAX entry's inline byte count. */
  dataLen: bigint;
}

/**
 * What an entry does, from its flags and length:
 * - `mark`: the MARK bit (a name in the header block, no effect on data);
 * - `discard`: the DISCARD bit (a range, no data in the log);
 * - `write`: `nrSectors > 0` (data follows the header block), FUA and METADATA writes included;
 * - `flush`: the FLUSH bit with no data;
 * - `noop`: other flags with no data (no writer emits it; harmless).
 */
export type EntryKind = "write" | "discard" | "flush" | "mark" | "noop";

/** Decodes the 32 header bytes at `at` in `block`. */
export function decodeEntryHeader(block: Uint8Array, at = 0): EntryHeader {
  if (block.length < at + ENTRY_HEADER_SIZE) throw new RangeError("need 32 bytes for an entry header");
  const v = viewOf(block);
  return {
    sector: v.getBigUint64(at + ENTRY_FIELDS.sector, true),
    nrSectors: v.getBigUint64(at + ENTRY_FIELDS.nrSectors, true),
    flags: v.getBigUint64(at + ENTRY_FIELDS.flags, true),
    dataLen: v.getBigUint64(at + ENTRY_FIELDS.dataLen, true),
  };
}

/**
 * Encodes an entry's header block: the four fields, then `inline` bytes (a mark's name)
 * at offset 32, then zeros to the end of the sector. The result is exactly `sectorSize` bytes.
 */
export function encodeEntryHeader(header: EntryHeader, sectorSize: number, inline?: Uint8Array): Uint8Array {
  const out = new Uint8Array(sectorSize);
  encodeEntryHeaderInto(out, 0, header, sectorSize, inline);
  return out;
}

/**
 * Encodes an entry's header block into `target` at `at` (the `sectorSize` bytes from there
 * are overwritten: fields, `inline`, zeros), without allocating. The same checks as
 * `encodeEntryHeader`.
 */
export function encodeEntryHeaderInto(target: Uint8Array, at: number, header: EntryHeader, sectorSize: number, inline?: Uint8Array): void {
  if (!isValidSectorSize(sectorSize)) throw new LogRangeError(ErrorCodes.BAD_SECTOR_SIZE, `invalid sector size ${sectorSize}`);
  checkU64("sector", header.sector);
  checkU64("nrSectors", header.nrSectors);
  checkU64("flags", header.flags);
  checkU64("dataLen", header.dataLen);
  if (inline !== undefined && inline.length > sectorSize - ENTRY_HEADER_SIZE) {
    throw new LogRangeError(
      ErrorCodes.BAD_MARK,
      `inline data of ${inline.length} bytes does not fit a ${sectorSize}-byte header block (at most ${sectorSize - ENTRY_HEADER_SIZE})`,
    );
  }
  if (at < 0 || at + sectorSize > target.length) throw new RangeError(`a ${sectorSize}-byte header block does not fit at ${at}`);
  target.fill(0, at, at + sectorSize);
  const v = viewOf(target);
  v.setBigUint64(at + ENTRY_FIELDS.sector, header.sector, true);
  v.setBigUint64(at + ENTRY_FIELDS.nrSectors, header.nrSectors, true);
  v.setBigUint64(at + ENTRY_FIELDS.flags, header.flags, true);
  v.setBigUint64(at + ENTRY_FIELDS.dataLen, header.dataLen, true);
  if (inline !== undefined) target.set(inline, at + ENTRY_HEADER_SIZE);
}

function checkU64(name: keyof EntryHeader, value: bigint): void {
  if (value < 0n || value > U64_MAX) throw new LogRangeError(ErrorCodes.RANGE, `${name} ${value} does not fit a u64`);
}

/** The kind of an entry (see `EntryKind`). */
export function entryKind(header: EntryHeader): EntryKind {
  if ((header.flags & LogFlags.MARK) !== 0n) return "mark";
  if ((header.flags & LogFlags.DISCARD) !== 0n) return "discard";
  if (header.nrSectors > 0n) return "write";
  if ((header.flags & LogFlags.FLUSH) !== 0n) return "flush";
  return "noop";
}

/**
 * Bytes of data that follow the header block in the log: `nrSectors × S`, except for a
 * discard, which carries none. This, and never `dataLen`, sizes the data region.
 */
export function entryDataBytes(header: EntryHeader, sectorSize: number): bigint {
  if ((header.flags & LogFlags.DISCARD) !== 0n) return 0n;
  return header.nrSectors * BigInt(sectorSize);
}

/** How serious a problem with an entry is. */
export type ProblemSeverity = "error" | "warning";

/** One thing wrong (or odd) about an entry. */
export interface EntryProblem {
  code: string;
  severity: ProblemSeverity;
  message: string;
}

/**
 * Checks a whole header block (`S` bytes) against what writers produce, without
 * looking at the file around it. Errors: an all-zero header, non-zero bytes after the
 * header of a non-mark entry (xfstests' "malformed entry"), a mark longer than its block,
 * a `dataLen` larger than the data. Warnings: unknown flag bits, odd combinations, a mark
 * that fills its block with no terminating zero.
 */
export function inspectHeaderBlock(header: EntryHeader, block: Uint8Array, sectorSize: number): EntryProblem[] {
  const problems: EntryProblem[] = [];
  const isMark = (header.flags & LogFlags.MARK) !== 0n;
  const isDiscard = (header.flags & LogFlags.DISCARD) !== 0n;
  if (header.flags === 0n && header.nrSectors === 0n) {
    problems.push({
      code: ErrorCodes.EMPTY_ENTRY,
      severity: "error",
      message: "empty entry: flags 0 and nr_sectors 0 (nothing was written here)",
    });
    return problems;
  }
  const unknown = header.flags & ~KNOWN_FLAGS;
  if (unknown !== 0n) {
    problems.push({
      code: ErrorCodes.UNKNOWN_FLAGS,
      severity: "warning",
      message: `unknown flag bits 0x${unknown.toString(16)} (kept as they are)`,
    });
  }
  const room = sectorSize - ENTRY_HEADER_SIZE;
  if (isMark) {
    if (header.dataLen > BigInt(room)) {
      problems.push({
        code: ErrorCodes.BAD_MARK,
        severity: "error",
        message: `mark name length ${header.dataLen} is longer than its header block allows (${room} bytes)`,
      });
    } else {
      const len = Number(header.dataLen);
      // At S = 32 there is no room for a name: an empty mark is all a writer can leave.
      if (len === room && room > 0) {
        problems.push({
          code: ErrorCodes.MARK_NO_NUL,
          severity: "warning",
          message: `mark name fills its whole header block (${len} bytes) with no terminating zero; kernels since 2018 keep at most ${room - 1}`,
        });
      }
      const bad = firstNonZero(block, ENTRY_HEADER_SIZE + len, sectorSize);
      if (bad >= 0) {
        problems.push({
          code: ErrorCodes.MALFORMED_ENTRY,
          severity: "warning",
          message: `non-zero byte after the mark name at header byte ${bad}`,
        });
      }
    }
    if (header.nrSectors !== 0n || header.sector !== 0n || isDiscard) {
      const what = isDiscard ? "the DISCARD flag" : header.nrSectors !== 0n ? `nr_sectors ${header.nrSectors}` : `sector ${header.sector}`;
      problems.push({
        code: ErrorCodes.ODD_ENTRY,
        severity: "warning",
        message: `mark with ${what} (writers emit marks at sector 0, with no length and no DISCARD flag)`,
      });
    }
    return problems;
  }
  const bad = firstNonZero(block, ENTRY_HEADER_SIZE, sectorSize);
  if (bad >= 0) {
    problems.push({
      code: ErrorCodes.MALFORMED_ENTRY,
      severity: "error",
      message: `malformed entry: non-zero byte in the header block's padding at byte ${bad} (writers zero it; xfstests rejects it)`,
    });
  }
  if (header.dataLen !== 0n) {
    const dataBytes = isDiscard ? 0n : header.nrSectors * BigInt(sectorSize);
    if (header.dataLen > dataBytes) {
      problems.push({
        code: ErrorCodes.BAD_DATA_LEN,
        severity: "error",
        message: `data_len ${header.dataLen} is larger than the ${dataBytes} data bytes the entry carries`,
      });
    }
  }
  return problems;
}

/** The raw bytes of a mark's name (clamped to the header block). */
export function markNameBytes(header: EntryHeader, block: Uint8Array, sectorSize: number): Uint8Array {
  const room = sectorSize - ENTRY_HEADER_SIZE;
  const len = header.dataLen > BigInt(room) ? room : Number(header.dataLen);
  return block.slice(ENTRY_HEADER_SIZE, ENTRY_HEADER_SIZE + len);
}

const utf8 = new TextDecoder("utf-8", { fatal: false });
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/** A mark name as text (UTF-8; invalid bytes become U+FFFD, see `isExactText`). */
export function decodeMarkName(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** True when `bytes` are valid UTF-8 without NULs, so the text form round-trips exactly. */
export function isExactText(bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false;
  try {
    utf8Strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
