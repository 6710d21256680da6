import { describe, expect, it } from "vitest";
import { KNOWN_FLAGS, LogFlags, QEMU_FLAG_MASK, decodeFlags, encodeFlags, flagNames, formatFlags, hasFlag } from "./index.js";

const { FLUSH, FUA, DISCARD, MARK, METADATA } = LogFlags;

describe("flags", () => {
  it("has the bit values every writer and reader defines", () => {
    expect([FLUSH, FUA, DISCARD, MARK, METADATA]).toEqual([1n, 2n, 4n, 8n, 16n]);
    expect(KNOWN_FLAGS).toBe(0x1fn);
    expect(QEMU_FLAG_MASK).toBe(0x0fn);
  });

  it("splits a value into names and unknown bits, keeping every unknown bit", () => {
    expect(decodeFlags(0n)).toEqual({ names: [], unknown: 0n });
    expect(decodeFlags(FLUSH | FUA | METADATA)).toEqual({ names: ["FLUSH", "FUA", "METADATA"], unknown: 0n });
    expect(decodeFlags(0x1fn)).toEqual({ names: ["FLUSH", "FUA", "DISCARD", "MARK", "METADATA"], unknown: 0n });
    const odd = DISCARD | 0x20n | (1n << 40n) | (1n << 63n);
    expect(decodeFlags(odd)).toEqual({ names: ["DISCARD"], unknown: odd & ~DISCARD });
  });

  it("builds a value from names (any case) plus unknown bits, and refuses unknown names", () => {
    expect(encodeFlags(["flush", "FUA", "Metadata"])).toBe(0x13n);
    expect(encodeFlags(["MARK"], 1n << 63n)).toBe(MARK | (1n << 63n));
    expect(() => encodeFlags(["SYNC"])).toThrow(/unknown flag name "SYNC"/);
    for (let v = 0n; v < 64n; v++) {
      const { names, unknown } = decodeFlags(v);
      expect(encodeFlags(names, unknown)).toBe(v);
    }
  });

  it("prints NONE, names, and UNKNOWN(0x…) the way replay-log names them", () => {
    expect(formatFlags(0n)).toBe("NONE");
    expect(formatFlags(FLUSH | FUA | METADATA)).toBe("FLUSH|FUA|METADATA");
    expect(formatFlags(FLUSH | 0x40n)).toBe("FLUSH|UNKNOWN(0x40)");
    expect(flagNames(DISCARD | (1n << 63n))).toEqual(["DISCARD", "UNKNOWN(0x8000000000000000)"]);
    expect(flagNames(0n)).toEqual([]);
  });

  it("tests that every bit of a flag is set", () => {
    expect(hasFlag(FLUSH | FUA, FUA)).toBe(true);
    expect(hasFlag(FLUSH, FLUSH | FUA)).toBe(false);
    expect(hasFlag(1n << 63n, 1n << 63n)).toBe(true);
  });
});
