import { describe, expect, it } from "vitest";
import {
  ErrorCodes,
  LogRangeError,
  MAX_SECTOR_SIZE,
  MIN_SECTOR_SIZE,
  byteLength,
  byteOffset,
  isPowerOfTwo,
  isValidSectorSize,
  maxMarkLength,
  toSafeNumber,
} from "./index.js";
import { caught } from "./test-util.js";

describe("toSafeNumber, the one checked narrowing from u64 to number", () => {
  it("passes every safe integer through exactly", () => {
    for (const v of [0n, 1n, 4096n, 2n ** 32n, 2n ** 53n - 1n]) expect(toSafeNumber(v, "x")).toBe(Number(v));
    expect(toSafeNumber(2n ** 53n - 1n, "x")).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("refuses 2^53 and beyond, and negatives, naming what it was narrowing", () => {
    for (const v of [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, -1n]) {
      const e = caught(() => toSafeNumber(v, "target byte offset"));
      expect(e).toBeInstanceOf(LogRangeError);
      expect(e.code).toBe(ErrorCodes.RANGE);
      expect(e.message).toContain(`target byte offset (${v})`);
    }
  });

  it("byteOffset and byteLength multiply by S in bigint, then narrow", () => {
    expect(byteOffset({ sector: 2560n }, 4096)).toBe(2560 * 4096);
    expect(byteLength({ nrSectors: 16n }, 512)).toBe(8192);
    expect(caught(() => byteOffset({ sector: 2n ** 44n }, 512)).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => byteLength({ nrSectors: 2n ** 63n }, 512)).code).toBe(ErrorCodes.RANGE);
  });
});

describe("sector sizes", () => {
  it("are the powers of two from 32 B to 8 MiB", () => {
    expect([MIN_SECTOR_SIZE, MAX_SECTOR_SIZE]).toEqual([32, 8 << 20]);
    const valid: number[] = [];
    for (let s = 0; s <= 1 << 24; s = s === 0 ? 1 : s * 2) if (isValidSectorSize(s)) valid.push(s);
    expect(valid).toEqual(Array.from({ length: 19 }, (_, i) => 32 * 2 ** i));
    for (const s of [0, 16, 33, 48, 1000, 513, 1.5, -512, NaN, 16 << 20]) expect(isValidSectorSize(s)).toBe(false);
  });

  it("isPowerOfTwo is exact", () => {
    expect([1, 2, 4, 1024, 2 ** 30].every(isPowerOfTwo)).toBe(true);
    expect([0, 3, 6, -2, 0.5, 2 ** 31].some(isPowerOfTwo)).toBe(false);
  });

  it("a kernel keeps at most S-33 bytes of a mark name", () => {
    expect(maxMarkLength(512)).toBe(479);
    expect(maxMarkLength(4096)).toBe(4063);
  });
});
