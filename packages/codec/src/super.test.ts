import { readFileSync } from "node:fs";
import { kernelLogs } from "@lwlog/testkit";
import { describe, expect, it } from "vitest";
import {
  ErrorCodes,
  LOG_MAGIC,
  LogFormatError,
  LogRangeError,
  decodeSuper,
  encodeSuper,
  fromHex,
  toHex,
  type LogSuper,
} from "./index.js";
import { caught } from "./test-util.js";

// Golden vectors: the first 32 bytes of a superblock sector, in hex, field by field. The
// rest of the sector is zero in every one of them.
const MAGIC = "7268737766736a00"; // "rhswfsj\0" = 0x006a736677736872 little-endian
const V1 = "0100000000000000";

interface SuperVector {
  name: string;
  /** The 32 bytes of fields and padding. */
  hex: string;
  sectorSize: number;
  decoded: Omit<LogSuper, "magic" | "version" | "sectorSize">;
}

const vectors: SuperVector[] = [
  {
    name: "QEMU, S=512, 3 entries, zero padding",
    hex: MAGIC + V1 + "0300000000000000" + "00020000" + "00000000",
    sectorSize: 512,
    decoded: { nrEntries: 3n, padding: 0 },
  },
  {
    name: "a 4096-byte sector, 389 entries (raw-4k.log)",
    hex: MAGIC + V1 + "8501000000000000" + "00100000" + "00000000",
    sectorSize: 4096,
    decoded: { nrEntries: 389n, padding: 0 },
  },
  {
    name: "kernel, garbage in the 4 bytes after sectorsize (ignored, kept)",
    hex: MAGIC + V1 + "8601000000000000" + "00020000" + "efbeadde",
    sectorSize: 512,
    decoded: { nrEntries: 390n, padding: 0xdeadbeef },
  },
  {
    name: "nr_entries 2^53 + 1, beyond a double's exact integers",
    hex: MAGIC + V1 + "0100000000002000" + "00020000" + "00000000",
    sectorSize: 512,
    decoded: { nrEntries: 2n ** 53n + 1n, padding: 0 },
  },
  {
    name: "nr_entries 2^64 - 1",
    hex: MAGIC + V1 + "ffffffffffffffff" + "00020000" + "00000000",
    sectorSize: 512,
    decoded: { nrEntries: 2n ** 64n - 1n, padding: 0 },
  },
  {
    name: "the smallest sector, 32 bytes",
    hex: MAGIC + V1 + "0000000000000000" + "20000000" + "00000000",
    sectorSize: 32,
    decoded: { nrEntries: 0n, padding: 0 },
  },
  {
    name: "the largest sector, 8 MiB",
    hex: MAGIC + V1 + "0700000000000000" + "00008000" + "00000000",
    sectorSize: 8 << 20,
    decoded: { nrEntries: 7n, padding: 0 },
  },
];

function sector(hex: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(fromHex(hex));
  return out;
}

describe("superblock golden vectors", () => {
  for (const v of vectors) {
    it(`decodes and re-encodes: ${v.name}`, () => {
      const bytes = sector(v.hex, v.sectorSize);
      const sup = decodeSuper(bytes);
      expect(sup).toEqual({ magic: LOG_MAGIC, version: 1n, sectorSize: v.sectorSize, ...v.decoded });
      expect(typeof sup.nrEntries).toBe("bigint");
      const again = encodeSuper(sup);
      expect(again.length).toBe(v.sectorSize);
      expect(toHex(again.subarray(0, 32))).toBe(v.hex);
      expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    });
  }

  it("encodes a superblock from scratch as the vector says, padding 0 by default", () => {
    expect(toHex(encodeSuper({ nrEntries: 3n, sectorSize: 512 }).subarray(0, 32))).toBe(vectors[0]!.hex);
  });

  it("decodes from the 28 field bytes alone (QEMU's packed struct); padding then reads as 0", () => {
    const sup = decodeSuper(fromHex(vectors[2]!.hex).subarray(0, 28));
    expect(sup.nrEntries).toBe(390n);
    expect(sup.padding).toBe(0);
  });

  it("decodes every real kernel superblock and re-encodes it byte for byte", () => {
    for (const k of kernelLogs()) {
      const first = new Uint8Array(readFileSync(k.path).subarray(0, k.superblock.sectorsize));
      const sup = decodeSuper(first);
      expect(sup.nrEntries).toBe(BigInt(k.superblock.nr_entries));
      expect(sup.sectorSize).toBe(k.superblock.sectorsize);
      expect(Buffer.from(encodeSuper(sup)).equals(Buffer.from(first))).toBe(true);
    }
  });

  it("accepts every power of two from 32 B to 8 MiB as a sector size", () => {
    for (let s = 32; s <= 8 << 20; s *= 2) {
      const bytes = encodeSuper({ nrEntries: 0n, sectorSize: s });
      expect(decodeSuper(bytes.subarray(0, 32)).sectorSize).toBe(s);
    }
  });
});

function decodeError(bytes: Uint8Array): LogFormatError {
  const err = caught(() => decodeSuper(bytes, { file: "x.log" }));
  expect(err).toBeInstanceOf(LogFormatError);
  return err;
}

describe("superblock errors", () => {
  const good = vectors[0]!.hex;

  it("no bytes at all: LWLOG_EMPTY_FILE", () => {
    const e = decodeError(new Uint8Array(0));
    expect([e.code, e.offset, e.file]).toEqual([ErrorCodes.EMPTY_FILE, 0, "x.log"]);
  });

  it("fewer than 28 bytes: LWLOG_TRUNCATED_SUPER (after checking the magic when it is there)", () => {
    for (const n of [1, 7, 8, 20, 27]) {
      const e = decodeError(fromHex(good).subarray(0, n));
      expect(e.code).toBe(ErrorCodes.TRUNCATED_SUPER);
      expect(e.describe()).toBe(`x.log: offset 0: truncated superblock: ${n} bytes, need at least 28`);
    }
    // Eight bytes of something else is not a log at all.
    expect(decodeError(fromHex("00000000000000000000")).code).toBe(ErrorCodes.BAD_MAGIC);
  });

  it("wrong magic: LWLOG_BAD_MAGIC at offset 0, naming both values", () => {
    const bytes = fromHex(good);
    bytes[0] = 0x52; // "Rhswfsj"
    const e = decodeError(bytes);
    expect([e.code, e.offset]).toEqual([ErrorCodes.BAD_MAGIC, 0]);
    expect(e.message).toContain("0x006a736677736852");
    expect(e.message).toContain("0x006a736677736872");
    // All zeros: a superblock QEMU has not written yet, said in words.
    const zero = decodeError(new Uint8Array(512));
    expect([zero.code, zero.offset]).toEqual([ErrorCodes.BAD_MAGIC, 0]);
    expect(zero.message).toMatch(/all zero bytes/);
  });

  it("wrong version: LWLOG_BAD_VERSION at offset 8", () => {
    for (const version of ["0000000000000000", "0200000000000000", "ffffffffffffffff"]) {
      const e = decodeError(fromHex(MAGIC + version + "0000000000000000" + "00020000"));
      expect([e.code, e.offset]).toEqual([ErrorCodes.BAD_VERSION, 8]);
    }
  });

  it("sector size 0, not a power of two, below 32 or above 8 MiB: LWLOG_BAD_SECTOR_SIZE at offset 24", () => {
    for (const s of [0, 1, 16, 31, 33, 48, 1000, 3 << 10, 16 << 20, 2 ** 31, 2 ** 32 - 1]) {
      const bytes = fromHex(MAGIC + V1 + "0000000000000000" + "00000000");
      new DataView(bytes.buffer).setUint32(24, s, true);
      const e = decodeError(bytes);
      expect([e.code, e.offset], `sector size ${s}`).toEqual([ErrorCodes.BAD_SECTOR_SIZE, 24]);
      expect(e.message).toContain(String(s));
    }
  });

  it("encodeSuper refuses what cannot be laid out", () => {
    expect(() => encodeSuper({ nrEntries: 0n, sectorSize: 1000 })).toThrow(LogRangeError);
    expect(() => encodeSuper({ nrEntries: -1n, sectorSize: 512 })).toThrow(/does not fit a u64/);
    expect(() => encodeSuper({ nrEntries: 2n ** 64n, sectorSize: 512 })).toThrow(/does not fit a u64/);
    expect(caught(() => encodeSuper({ nrEntries: 0n, sectorSize: 16 << 20 })).code).toBe(ErrorCodes.BAD_SECTOR_SIZE);
  });
});
