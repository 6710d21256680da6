import { readFileSync } from "node:fs";
import { kernelLogs } from "@lwlog/testkit";
import { describe, expect, it } from "vitest";
import {
  ErrorCodes,
  LogFlags,
  LogRangeError,
  decodeEntryHeader,
  decodeMarkName,
  encodeEntryHeader,
  entryDataBytes,
  entryKind,
  formatFlags,
  fromHex,
  inspectHeaderBlock,
  isExactText,
  markNameBytes,
  toHex,
  type EntryHeader,
} from "./index.js";
import { caught } from "./test-util.js";

const { FLUSH, FUA, DISCARD, MARK, METADATA } = LogFlags;

/** A u64 field as little-endian hex. */
function le64(v: bigint): string {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return toHex(b);
}

interface EntryVector {
  name: string;
  /** The 32 header bytes, field by field: sector, nr_sectors, flags, data_len. */
  hex: string;
  /** Bytes right after the fields (a mark's name), hex. */
  inline?: string;
  header: EntryHeader;
  sectorSize: number;
  kind: string;
  flags: string;
}

const vectors: EntryVector[] = [
  {
    name: "a plain write: 8 sectors at sector 8",
    hex: "0800000000000000" + "0800000000000000" + "0000000000000000" + "0000000000000000",
    header: { sector: 8n, nrSectors: 8n, flags: 0n, dataLen: 0n },
    sectorSize: 512,
    kind: "write",
    flags: "NONE",
  },
  {
    name: "FLUSH",
    hex: "0000000000000000" + "0000000000000000" + "0100000000000000" + "0000000000000000",
    header: { sector: 0n, nrSectors: 0n, flags: FLUSH, dataLen: 0n },
    sectorSize: 512,
    kind: "flush",
    flags: "FLUSH",
  },
  {
    name: "a FUA write (raw-512: 8 KiB at 10 MiB)",
    hex: "0050000000000000" + "1000000000000000" + "0200000000000000" + "0000000000000000",
    header: { sector: 20480n, nrSectors: 16n, flags: FUA, dataLen: 0n },
    sectorSize: 512,
    kind: "write",
    flags: "FUA",
  },
  {
    name: "DISCARD (raw-512: 256 KiB at 512 KiB)",
    hex: "0004000000000000" + "0002000000000000" + "0400000000000000" + "0000000000000000",
    header: { sector: 1024n, nrSectors: 512n, flags: DISCARD, dataLen: 0n },
    sectorSize: 512,
    kind: "discard",
    flags: "DISCARD",
  },
  {
    name: "MARK `start` (raw-512 entry 0), the name in the header block",
    hex: "0000000000000000" + "0000000000000000" + "0800000000000000" + "0500000000000000",
    inline: "7374617274",
    header: { sector: 0n, nrSectors: 0n, flags: MARK, dataLen: 5n },
    sectorSize: 512,
    kind: "mark",
    flags: "MARK",
  },
  {
    name: "a METADATA write",
    hex: "0200000000000000" + "0200000000000000" + "1000000000000000" + "0000000000000000",
    header: { sector: 2n, nrSectors: 2n, flags: METADATA, dataLen: 0n },
    sectorSize: 512,
    kind: "write",
    flags: "METADATA",
  },
  {
    name: "the kernel's empty half of a PREFLUSH|FUA write: FLUSH|FUA|METADATA at sector 32802 (ext4-512 entry 119)",
    hex: "2280000000000000" + "0000000000000000" + "1300000000000000" + "0000000000000000",
    header: { sector: 32802n, nrSectors: 0n, flags: FLUSH | FUA | METADATA, dataLen: 0n },
    sectorSize: 512,
    kind: "flush",
    flags: "FLUSH|FUA|METADATA",
  },
  {
    name: "unknown flag bits 0x40 and 2^63 on a write, kept",
    hex: "0500000000000000" + "0100000000000000" + "4000000000000080" + "0000000000000000",
    header: { sector: 5n, nrSectors: 1n, flags: 0x40n | (1n << 63n), dataLen: 0n },
    sectorSize: 512,
    kind: "write",
    flags: "UNKNOWN(0x8000000000000040)",
  },
  {
    name: "a 4096-byte sector: FUA write of 2 sectors at 2560 (raw-4k entry 269)",
    hex: "000a000000000000" + "0200000000000000" + "0200000000000000" + "0000000000000000",
    header: { sector: 2560n, nrSectors: 2n, flags: FUA, dataLen: 0n },
    sectorSize: 4096,
    kind: "write",
    flags: "FUA",
  },
  {
    name: "a DAX-era write: data_len 100 on a 1-sector write",
    hex: "1800000000000000" + "0100000000000000" + "0000000000000000" + "6400000000000000",
    header: { sector: 24n, nrSectors: 1n, flags: 0n, dataLen: 100n },
    sectorSize: 512,
    kind: "write",
    flags: "NONE",
  },
  {
    name: "u64 fields beyond 2^53, exact as bigints",
    hex: le64(2n ** 64n - 1n) + le64(2n ** 53n + 1n) + le64(FLUSH) + le64(2n ** 63n + 7n),
    header: { sector: 2n ** 64n - 1n, nrSectors: 2n ** 53n + 1n, flags: FLUSH, dataLen: 2n ** 63n + 7n },
    sectorSize: 512,
    kind: "write",
    flags: "FLUSH",
  },
];

function block(v: EntryVector): Uint8Array {
  const out = new Uint8Array(v.sectorSize);
  out.set(fromHex(v.hex));
  if (v.inline) out.set(fromHex(v.inline), 32);
  return out;
}

describe("entry header golden vectors", () => {
  for (const v of vectors) {
    it(`decodes, classifies and re-encodes: ${v.name}`, () => {
      const bytes = block(v);
      const h = decodeEntryHeader(bytes);
      expect(h).toEqual(v.header);
      for (const f of Object.values(h)) expect(typeof f).toBe("bigint");
      expect(entryKind(h)).toBe(v.kind);
      expect(formatFlags(h.flags)).toBe(v.flags);
      const inline = v.inline ? fromHex(v.inline) : undefined;
      const again = encodeEntryHeader(v.header, v.sectorSize, inline);
      expect(again.length).toBe(v.sectorSize);
      expect(toHex(again.subarray(0, 32))).toBe(v.hex);
      // Encode(decode(x)) == x: every byte, the zero padding included.
      expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    });
  }

  it("decodes a header at an offset inside a larger buffer", () => {
    const big = new Uint8Array(4096);
    big.set(block(vectors[2]!), 1024);
    expect(decodeEntryHeader(big, 1024)).toEqual(vectors[2]!.header);
    expect(() => decodeEntryHeader(big, 4096 - 31)).toThrow(RangeError);
  });

  it("the vectors taken from kernel logs are those logs' bytes", () => {
    const logs = new Map(kernelLogs().map((k) => [k.file, readFileSync(k.path)]));
    const at = (file: string, offset: number, S: number) => new Uint8Array(logs.get(file)!.subarray(offset, offset + S));
    expect(toHex(at("raw-512.log", 512, 512))).toBe(toHex(block(vectors[4]!)));
    expect(toHex(at("raw-4k.log", 2170880, 4096))).toBe(toHex(block(vectors[8]!)));
    expect(toHex(at("ext4-512.log", 8862720, 512))).toBe(toHex(block(vectors[6]!)));
  });

  it("encodeEntryHeader refuses values that do not fit and inline bytes beyond the block", () => {
    const h = vectors[0]!.header;
    expect(caught(() => encodeEntryHeader({ ...h, sector: -1n }, 512)).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => encodeEntryHeader({ ...h, dataLen: 2n ** 64n }, 512)).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => encodeEntryHeader(h, 100)).code).toBe(ErrorCodes.BAD_SECTOR_SIZE);
    expect(encodeEntryHeader(h, 512, new Uint8Array(480)).length).toBe(512);
    const e = caught(() => encodeEntryHeader(h, 512, new Uint8Array(481)));
    expect(e).toBeInstanceOf(LogRangeError);
    expect(e.code).toBe(ErrorCodes.BAD_MARK);
  });
});

describe("entry kinds and data size", () => {
  const h = (flags: bigint, nrSectors = 0n): EntryHeader => ({ sector: 0n, nrSectors, flags, dataLen: 0n });

  it("classifies by flags first, then by length", () => {
    expect(entryKind(h(MARK | DISCARD, 8n))).toBe("mark");
    expect(entryKind(h(DISCARD | FLUSH, 8n))).toBe("discard");
    expect(entryKind(h(FLUSH, 8n))).toBe("write"); // the kernel's "flush with data, weird" path
    expect(entryKind(h(FLUSH | FUA))).toBe("flush");
    expect(entryKind(h(FUA))).toBe("noop");
    expect(entryKind(h(METADATA))).toBe("noop");
    expect(entryKind(h(0n, 1n))).toBe("write");
  });

  it("sizes the data from nr_sectors (none for a discard), never from data_len, exactly", () => {
    expect(entryDataBytes(h(0n, 8n), 512)).toBe(4096n);
    expect(entryDataBytes(h(DISCARD, 8n), 512)).toBe(0n);
    expect(entryDataBytes(h(MARK), 512)).toBe(0n);
    expect(entryDataBytes({ ...h(0n, 1n), dataLen: 100n }, 512)).toBe(512n);
    expect(entryDataBytes(h(0n, 1n << 63n), 4096)).toBe((1n << 63n) * 4096n);
  });
});

describe("inspectHeaderBlock", () => {
  const S = 512;
  const problemsOf = (header: EntryHeader, edit?: (b: Uint8Array) => void, inline?: Uint8Array) => {
    const b = encodeEntryHeader(header, S, inline);
    edit?.(b);
    return inspectHeaderBlock(header, b, S).map((p) => `${p.severity}:${p.code}`);
  };
  const write: EntryHeader = { sector: 8n, nrSectors: 8n, flags: 0n, dataLen: 0n };
  const mark = (len: number): EntryHeader => ({ sector: 0n, nrSectors: 0n, flags: MARK, dataLen: BigInt(len) });

  it("finds nothing wrong with what writers produce", () => {
    for (const v of vectors.slice(0, 7)) expect(inspectHeaderBlock(v.header, block(v), v.sectorSize)).toEqual([]);
    expect(problemsOf(mark(479), undefined, new Uint8Array(479).fill(0x41))).toEqual([]);
  });

  it("an all-zero header is an error (nothing was written there)", () => {
    expect(problemsOf({ sector: 0n, nrSectors: 0n, flags: 0n, dataLen: 0n })).toEqual([`error:${ErrorCodes.EMPTY_ENTRY}`]);
  });

  it("a non-zero padding byte in a non-mark header is xfstests' malformed entry, at its byte", () => {
    const b = encodeEntryHeader(write, S);
    b[511] = 1;
    const [p] = inspectHeaderBlock(write, b, S);
    expect(p).toMatchObject({ code: ErrorCodes.MALFORMED_ENTRY, severity: "error" });
    expect(p!.message).toContain("byte 511");
    // MARK|FLUSH needs zero padding after the name like any mark; FLUSH needs it all zero.
    expect(problemsOf({ ...write, flags: FLUSH, nrSectors: 0n }, (x) => (x[32] = 0x20))).toEqual([`error:${ErrorCodes.MALFORMED_ENTRY}`]);
  });

  it("unknown flag bits are reported as a warning and nothing else", () => {
    expect(problemsOf({ ...write, flags: 0x40n })).toEqual([`warning:${ErrorCodes.UNKNOWN_FLAGS}`]);
    const [p] = inspectHeaderBlock({ ...write, flags: 1n << 63n }, encodeEntryHeader(write, S), S);
    expect(p!.message).toContain("0x8000000000000000");
  });

  it("a mark name filling the whole block (S-32) is valid, with a warning", () => {
    expect(problemsOf(mark(480), undefined, new Uint8Array(480).fill(0x46))).toEqual([`warning:${ErrorCodes.MARK_NO_NUL}`]);
  });

  it("at S = 32 an empty mark fills nothing (no 'at most -1 bytes' warning); a 1-byte name there is too long", () => {
    const mark32 = (len: bigint) => ({ sector: 0n, nrSectors: 0n, flags: MARK, dataLen: len });
    expect(inspectHeaderBlock(mark32(0n), encodeEntryHeader(mark32(0n), 32), 32)).toEqual([]);
    expect(inspectHeaderBlock(mark32(1n), encodeEntryHeader(mark32(0n), 32), 32).map((p) => p.code)).toEqual([ErrorCodes.BAD_MARK]);
  });

  it("a mark longer than its block is an error", () => {
    expect(problemsOf(mark(481), undefined, new Uint8Array(480).fill(0x46))).toEqual([`error:${ErrorCodes.BAD_MARK}`]);
    expect(problemsOf(mark(0), (b) => new DataView(b.buffer).setBigUint64(24, 2n ** 64n - 1n, true))).toEqual([]);
    expect(problemsOf({ ...mark(0), dataLen: 2n ** 64n - 1n })).toEqual([`error:${ErrorCodes.BAD_MARK}`]);
  });

  it("bytes after a mark's name, or a mark with data or DISCARD, are odd but not fatal", () => {
    expect(problemsOf(mark(3), (b) => (b[40] = 9), fromHex("616263"))).toEqual([`warning:${ErrorCodes.MALFORMED_ENTRY}`]);
    expect(problemsOf({ ...mark(0), nrSectors: 1n })).toEqual([`warning:${ErrorCodes.ODD_ENTRY}`]);
    expect(problemsOf({ ...mark(0), flags: MARK | DISCARD })).toEqual([`warning:${ErrorCodes.ODD_ENTRY}`]);
    expect(problemsOf({ ...mark(0), sector: 2n ** 64n - 1n })).toEqual([`warning:${ErrorCodes.ODD_ENTRY}`]);
  });

  it("data_len larger than the data the entry carries is an error; within it (DAX) is fine", () => {
    expect(problemsOf({ ...write, nrSectors: 1n, dataLen: 512n })).toEqual([]);
    expect(problemsOf({ ...write, nrSectors: 1n, dataLen: 513n })).toEqual([`error:${ErrorCodes.BAD_DATA_LEN}`]);
    expect(problemsOf({ ...write, flags: DISCARD, dataLen: 1n })).toEqual([`error:${ErrorCodes.BAD_DATA_LEN}`]);
  });
});

describe("mark names", () => {
  it("reads the name's bytes from the block, clamped to it", () => {
    const name = new TextEncoder().encode("mkfs");
    const h: EntryHeader = { sector: 0n, nrSectors: 0n, flags: MARK, dataLen: 4n };
    const b = encodeEntryHeader(h, 512, name);
    expect(decodeMarkName(markNameBytes(h, b, 512))).toBe("mkfs");
    expect(markNameBytes({ ...h, dataLen: 10_000n }, b, 512).length).toBe(480);
  });

  it("tells exact text from bytes that would not round-trip", () => {
    expect(isExactText(new TextEncoder().encode("héllo ✓"))).toBe(true);
    expect(isExactText(fromHex("ff fe"))).toBe(false);
    expect(isExactText(fromHex("61 00 62"))).toBe(false);
    expect(decodeMarkName(fromHex("61ff62"))).toBe("a\uFFFDb");
  });
});
