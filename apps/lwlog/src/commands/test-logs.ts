/**
 * Logs for the inspector tests: a small sample log written with the codec's writer, and
 * the broken variants of it that the bad-input tests need (test-only: not built).
 */
import { chmodSync, closeSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ENTRY_FIELDS, LogWriter, SUPER_FIELDS } from "@lwlog/codec";
import { randomBytes } from "@lwlog/testkit";

/** The sample log: S = 512, six entries (see `SAMPLE`). */
export const S = 512;

/**
 * What `sampleLog` writes, with the byte offset of each header block:
 * 0 write 2 sectors at 8 (offset 512, data 1024..2047), 1 flush (2048), 2 mark "one" (2560),
 * 3 discard 16 sectors at 100 (3072), 4 FUA write 1 sector at 0 (3584, data 4096..4607),
 * 5 mark "two" (4608); the file ends at 5120.
 */
export const SAMPLE = {
  offsets: [512, 2048, 2560, 3072, 3584, 4608],
  size: 5120,
  entries: 6,
} as const;

/** Writes the sample log to `dir/name` and returns its path. */
export async function sampleLog(dir: string, name = "sample.log"): Promise<string> {
  const path = join(dir, name);
  const w = await LogWriter.create(path, { sectorSize: S, overwrite: true });
  await w.write(8n, randomBytes(2 * S, 7));
  await w.flush();
  await w.mark("one");
  await w.discard(100n, 16n);
  await w.write(0n, randomBytes(S, 9), { flags: 2n });
  await w.mark("two");
  await w.close();
  return path;
}

/** Overwrites bytes of a file at `offset`. */
export function patch(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** A little-endian u64. */
export function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

/** A little-endian u32. */
export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

/** A broken or odd log, and where its problem is. */
export interface BadLog {
  path: string;
  /** The error (or warning) code the problem has. */
  code: string;
  /** Entry index and byte offset the message must name (when the problem has them). */
  entry?: number;
  offset?: number;
}

/** Every broken variant of the sample log the bad-input tests use, made in `dir`. */
export const badLogs = {
  async empty(dir: string): Promise<BadLog> {
    const path = join(dir, "empty.log");
    writeFileSync(path, new Uint8Array(0));
    return { path, code: "LWLOG_EMPTY_FILE", offset: 0 };
  },
  async wrongMagic(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "magic.log");
    patch(path, SUPER_FIELDS.magic, new TextEncoder().encode("XFSB"));
    return { path, code: "LWLOG_BAD_MAGIC", offset: 0 };
  },
  async wrongVersion(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "version.log");
    patch(path, SUPER_FIELDS.version, u64(2n));
    return { path, code: "LWLOG_BAD_VERSION", offset: 8 };
  },
  async sectorSize(dir: string, size: number): Promise<BadLog> {
    const path = await sampleLog(dir, `sector-${size}.log`);
    patch(path, SUPER_FIELDS.sectorSize, u32(size));
    return { path, code: "LWLOG_BAD_SECTOR_SIZE", offset: 24 };
  },
  /** The magic and half the fields: 20 bytes. */
  async truncatedSuperFields(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "super-20.log");
    truncateSync(path, 20);
    return { path, code: "LWLOG_TRUNCATED_SUPER", offset: 0 };
  },
  /** Every field, but not the whole 512-byte superblock sector. */
  async truncatedSuperSector(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "super-300.log");
    truncateSync(path, 300);
    return { path, code: "LWLOG_TRUNCATED_SUPER", offset: 0 };
  },
  /** The last entry's header block cut to 100 bytes. */
  async headerCutShort(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "header-cut.log");
    truncateSync(path, SAMPLE.offsets[5] + 100);
    return { path, code: "LWLOG_TRUNCATED_HEADER", entry: 5, offset: SAMPLE.offsets[5] };
  },
  /** Entry 4's data cut short: the file ends 200 bytes into it. */
  async dataPastEof(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "data-cut.log");
    truncateSync(path, SAMPLE.offsets[4] + S + 200);
    return { path, code: "LWLOG_DATA_PAST_EOF", entry: 4, offset: SAMPLE.offsets[4] };
  },
  /** Entry 0 claims 2^63 sectors of data. */
  async hugeNrSectors(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "huge.log");
    patch(path, SAMPLE.offsets[0] + ENTRY_FIELDS.nrSectors, u64(1n << 63n));
    return { path, code: "LWLOG_DATA_PAST_EOF", entry: 0, offset: SAMPLE.offsets[0] };
  },
  /** The superblock declares 9 entries; the file holds 6. */
  async overDeclared(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "over.log");
    patch(path, SUPER_FIELDS.nrEntries, u64(9n));
    return { path, code: "LWLOG_MISSING_ENTRIES", entry: 6, offset: SAMPLE.size };
  },
  /** A non-zero byte in the padding of entry 1's (a flush) header block. */
  async dirtyPadding(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "padding.log");
    patch(path, SAMPLE.offsets[1] + 100, new Uint8Array([0x5a]));
    return { path, code: "LWLOG_MALFORMED_ENTRY", entry: 1, offset: SAMPLE.offsets[1] };
  },
  /** A 480-byte mark name (S − 32: no zero after it), as kernels before 2018 wrote. */
  async fullMark(dir: string): Promise<BadLog & { name: string }> {
    const path = join(dir, "full-mark.log");
    const name = "m".repeat(S - 32);
    const w = await LogWriter.create(path, { sectorSize: S, overwrite: true });
    await w.write(0n, randomBytes(S, 3));
    await w.mark(name, { allowFull: true });
    await w.close();
    return { path, code: "LWLOG_MARK_NO_NUL", entry: 1, offset: 3 * S, name };
  },
  /** 700 bytes of random garbage after the last entry. */
  async garbageTail(dir: string): Promise<BadLog> {
    const path = await sampleLog(dir, "garbage.log");
    writeFileSync(path, randomBytes(700, 11), { flag: "a" });
    return { path, code: "LWLOG_TRAILING_GARBAGE", entry: 6, offset: SAMPLE.size };
  },
};

/** A copy of a file's bytes. */
export function bytesOf(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

/** Makes `path` unreadable by anyone but root (root still reads it: see `asNobody`). */
export function makeUnreadable(path: string): void {
  chmodSync(path, 0o000);
}
