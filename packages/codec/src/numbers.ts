import { ErrorCodes, LogRangeError } from "./errors.js";
import { MAX_SECTOR_SIZE, MIN_SECTOR_SIZE } from "./constants.js";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Narrows an on-disk u64 to a `number`, the one place where that happens. Throws a
 * `LogRangeError` naming `what` when the value is not a safe integer, so no offset or
 * length is ever silently rounded.
 */
export function toSafeNumber(value: bigint, what: string): number {
  if (value < 0n || value > MAX_SAFE) {
    throw new LogRangeError(ErrorCodes.RANGE, `${what} (${value}) is beyond 2^53 and cannot be used as a byte count or offset`);
  }
  return Number(value);
}

/** True when `n` is a power of two (1, 2, 4, …). */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

/** True when `n` is a sector size a dm-log-writes log can have: a power of two from 32 B to 8 MiB. */
export function isValidSectorSize(n: number): boolean {
  return isPowerOfTwo(n) && n >= MIN_SECTOR_SIZE && n <= MAX_SECTOR_SIZE;
}

/** Largest mark name the kernel stores for sector size `s` (`S - 33`: one NUL always follows). */
export function maxMarkLength(sectorSize: number): number {
  return sectorSize - 33;
}
