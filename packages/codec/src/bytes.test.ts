import { describe, expect, it } from "vitest";
import { firstNonZero, fromHex, toHex, viewOf } from "./index.js";

describe("byte helpers", () => {
  it("viewOf respects a Buffer's offset in its pool", () => {
    const b = Buffer.from("00112233445566778899", "hex").subarray(2);
    expect(b.byteOffset).toBeGreaterThan(0);
    expect(viewOf(b).getUint8(0)).toBe(0x22);
    expect(viewOf(b).byteLength).toBe(8);
  });

  it("firstNonZero finds the first non-zero byte at any alignment and length", () => {
    const buf = new Uint8Array(1000);
    expect(firstNonZero(buf)).toBe(-1);
    for (const at of [0, 1, 7, 8, 63, 64, 65, 500, 999]) {
      buf.fill(0);
      buf[at] = 1;
      expect(firstNonZero(buf)).toBe(at);
      expect(firstNonZero(buf.subarray(3), 0), `at ${at}`).toBe(at >= 3 ? at - 3 : -1);
      expect(firstNonZero(buf, at + 1)).toBe(-1);
      expect(firstNonZero(buf, 0, at)).toBe(-1);
    }
  });

  it("hex both ways", () => {
    expect(toHex(Uint8Array.of(0, 0xab, 0x0f))).toBe("00ab0f");
    expect(fromHex("00 AB\n0f")).toEqual(Uint8Array.of(0, 0xab, 0x0f));
    expect(() => fromHex("abc")).toThrow(RangeError);
    expect(() => fromHex("zz")).toThrow(RangeError);
  });
});
