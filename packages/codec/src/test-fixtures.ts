/**
 * The generator of the small fixture logs in `test-data/samples/` (good logs) and
 * `test-data/bad/` (broken and edge-case logs), and of the expected JSON beside each.
 * `fixtures.test.ts` regenerates every fixture and compares it, byte for byte, with the
 * committed file, and compares what the codec reads from it with the committed JSON.
 * `npm run fixtures -w @lwlog/codec` rewrites them (then review the diff).
 *
 * Samples are written with the codec's own `LogWriter` (so a writer change shows up as a
 * fixture change); bad logs are laid out by hand from `encodeSuper` / `encodeEntryHeader`
 * plus the byte edits that make them bad. Not built into dist (`test-*.ts`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, randomBytes, sha256, testDataDir } from "@lwlog/testkit";
import {
  LOG_MAGIC,
  LogFile,
  LogFlags,
  LogWriter,
  LwlogError,
  SUPER_FIELDS,
  encodeEntryHeader,
  encodeSuper,
  entryToJson,
  superToJson,
  type CreateOptions,
  type EntryHeader,
  type LogEntry,
  type ReadEnd,
  type ReadOptions,
} from "./index.js";

/** One fixture log. */
export interface Fixture {
  /** `samples` (good logs) or `bad` (broken or edge-case logs). */
  dir: "samples" | "bad";
  /** File name, `<name>.log`; the expected JSON is `<name>.json`. */
  name: string;
  /** One line: what the log holds and what a reader must make of it. */
  about: string;
  bytes(): Promise<Uint8Array> | Uint8Array;
}

const { FLUSH, FUA, MARK, METADATA } = LogFlags;

/** Deterministic data for a fixture write: `sectors × S` bytes. */
function data(sectors: number, S: number, seed: number): Uint8Array {
  return randomBytes(sectors * S, seed);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function hdr(S: number, h: Partial<EntryHeader>, inline?: Uint8Array): Uint8Array {
  return encodeEntryHeader({ sector: 0n, nrSectors: 0n, flags: 0n, dataLen: 0n, ...h }, S, inline);
}

function sup(S: number, nrEntries: number | bigint, padding = 0): Uint8Array {
  return encodeSuper({ nrEntries: BigInt(nrEntries), sectorSize: S, padding });
}

/** A superblock sector with any field values (for the ones `encodeSuper` refuses). */
function rawSuper(o: { magic?: bigint; version?: bigint; nrEntries?: bigint; sectorSize: number; blockSize?: number }): Uint8Array {
  const out = new Uint8Array(o.blockSize ?? 512);
  const v = new DataView(out.buffer);
  v.setBigUint64(SUPER_FIELDS.magic, o.magic ?? LOG_MAGIC, true);
  v.setBigUint64(SUPER_FIELDS.version, o.version ?? 1n, true);
  v.setBigUint64(SUPER_FIELDS.nrEntries, o.nrEntries ?? 0n, true);
  v.setUint32(SUPER_FIELDS.sectorSize, o.sectorSize >>> 0, true);
  return out;
}

/** A write entry (header + data) laid out by hand. */
function writeEntry(S: number, sector: number, sectors: number, seed: number, flags = 0n): Uint8Array {
  return concat([hdr(S, { sector: BigInt(sector), nrSectors: BigInt(sectors), flags }), data(sectors, S, seed)]);
}

function markEntry(S: number, name: string): Uint8Array {
  const bytes = new TextEncoder().encode(name);
  return hdr(S, { flags: MARK, dataLen: BigInt(bytes.length) }, bytes);
}

/** Runs `fill` on a new `LogWriter` in a temporary file and returns the file's bytes. */
async function written(options: Omit<CreateOptions, "overwrite">, fill: (w: LogWriter) => Promise<void>): Promise<Uint8Array> {
  const tmp = makeTempDir("lwlog-fixture-");
  try {
    const path = join(tmp.path, "f.log");
    const w = await LogWriter.create(path, { ...options, superPolicy: options.superPolicy ?? { onFua: true, onMark: true } });
    await fill(w);
    return new Uint8Array(readFileSync(path));
  } finally {
    tmp.cleanup();
  }
}

/** A good two-entry log (a write and a mark, S = 512) that the bad logs below start from. */
function twoEntries(nrEntries: number | bigint = 2): Uint8Array {
  return concat([sup(512, nrEntries), writeEntry(512, 8, 8, 1), markEntry(512, "one")]);
}

/** Every fixture, in the order `test-data/README.md` lists them. */
export const fixtures: readonly Fixture[] = [
  // ---- samples: good logs ----
  {
    dir: "samples",
    name: "empty",
    about: "S=512, a superblock declaring 0 entries and nothing else: a valid log with no entries",
    bytes: () => written({ sectorSize: 512 }, (w) => w.close()),
  },
  {
    dir: "samples",
    name: "one-write",
    about: "S=512, one 4 KiB write at sector 8 (target byte 4096)",
    bytes: () =>
      written({ sectorSize: 512 }, async (w) => {
        await w.write(8n, data(8, 512, 2));
        await w.close();
      }),
  },
  {
    dir: "samples",
    name: "mark",
    about: "S=512, the worked example of docs/format.md: a 4 KiB write at sector 8, a FLUSH, then the mark `mkfs`",
    bytes: () =>
      written({ sectorSize: 512 }, async (w) => {
        await w.write(8n, data(8, 512, 3));
        await w.flush();
        await w.mark("mkfs");
        await w.close();
      }),
  },
  {
    dir: "samples",
    name: "discard",
    about: "S=512, a 4 KiB write at 0, a DISCARD of those 8 sectors (no data in the log), then a 1-sector write at 100",
    bytes: () =>
      written({ sectorSize: 512 }, async (w) => {
        await w.write(0n, data(8, 512, 4));
        await w.discard(0n, 8n);
        await w.write(100n, data(1, 512, 5));
        await w.close();
      }),
  },
  {
    dir: "samples",
    name: "flush-fua",
    about:
      "S=512, a write, an empty FLUSH, a FUA write, then the kernel's split PREFLUSH|FUA write: FLUSH|FUA|METADATA at sector 64 with nr_sectors 0, then FUA|METADATA at sector 64 with data",
    bytes: () =>
      written({ sectorSize: 512 }, async (w) => {
        await w.write(0n, data(2, 512, 6));
        await w.flush();
        await w.write(16n, data(2, 512, 7), { flags: FUA });
        await w.flush(FUA | METADATA, 64n);
        await w.write(64n, data(1, 512, 8), { flags: FUA | METADATA });
        await w.close();
      }),
  },
  {
    dir: "samples",
    name: "sector-4096",
    about:
      "S=4096 (a 4Kn data device): an 8 KiB write at sector 2 (target byte 8192), a DISCARD of 16 sectors, a FLUSH, and a mark whose name is 4063 bytes (S-33, the most a kernel keeps)",
    bytes: () =>
      written({ sectorSize: 4096 }, async (w) => {
        await w.write(2n, data(2, 4096, 9));
        await w.discard(16n, 16n);
        await w.flush();
        await w.mark("L".repeat(4063));
        await w.close();
      }),
  },
  {
    dir: "samples",
    name: "metadata",
    about: "S=512, METADATA writes as ext4/xfs make them: METADATA, METADATA|FUA, and a plain write between them",
    bytes: () =>
      written({ sectorSize: 512 }, async (w) => {
        await w.write(2n, data(2, 512, 10), { flags: METADATA });
        await w.write(40n, data(1, 512, 11));
        await w.write(4n, data(1, 512, 12), { flags: METADATA | FUA });
        await w.close();
      }),
  },
  {
    dir: "samples",
    name: "dax-write",
    about:
      "S=512, a write as kernels 4.15-5.16 logged DAX writes: nr_sectors 1, data_len 100 (the bytes written), the data zero-padded to the sector; data_len does not size the data",
    bytes: () =>
      written({ sectorSize: 512 }, async (w) => {
        const d = new Uint8Array(512);
        d.set(data(1, 512, 13).subarray(0, 100));
        await w.write(24n, d, { dataLen: 100n });
        await w.mark("after-dax");
        await w.close();
      }),
  },
  {
    dir: "samples",
    name: "kernel-super-padding",
    about:
      "S=512, a write and a mark; the 4 superblock bytes after sectorsize hold 0xdeadbeef, as the kernel's uninitialised struct padding can: ignored, and kept",
    bytes: () =>
      written({ sectorSize: 512, superPadding: 0xdeadbeef }, async (w) => {
        await w.write(0n, data(1, 512, 14));
        await w.mark("padded");
        await w.close();
      }),
  },
  {
    dir: "samples",
    name: "tail-entries",
    about:
      "S=512, the superblock declares 2 entries and 3 more valid entries follow (as QEMU leaves between superblock updates, or a crashed kernel): a tail",
    bytes: () =>
      written({ sectorSize: 512, superPolicy: {} }, async (w) => {
        await w.write(0n, data(1, 512, 15));
        await w.write(1n, data(1, 512, 16));
        await w.writeSuper();
        await w.write(2n, data(1, 512, 17));
        await w.flush();
        await w.write(3n, data(1, 512, 18));
        await w.close({ super: false });
      }),
  },
  {
    dir: "samples",
    name: "sector-32",
    about: "S=32, the smallest sector size QEMU accepts: a 64-byte write and a FLUSH (a header block is just the 32 field bytes)",
    bytes: () =>
      written({ sectorSize: 32 }, async (w) => {
        await w.write(1n, data(2, 32, 19));
        await w.flush();
        await w.close();
      }),
  },

  // ---- bad: broken logs (errors) ----
  { dir: "bad", name: "empty-file", about: "0 bytes: LWLOG_EMPTY_FILE", bytes: () => new Uint8Array(0) },
  {
    dir: "bad",
    name: "truncated-super",
    about: "20 bytes: the magic, the version and half of nr_entries: LWLOG_TRUNCATED_SUPER",
    bytes: () => rawSuper({ sectorSize: 512 }).subarray(0, 20),
  },
  {
    dir: "bad",
    name: "truncated-super-sector",
    about: "300 bytes: every superblock field, but the file ends before the 512-byte superblock sector does: LWLOG_TRUNCATED_SUPER",
    bytes: () => sup(512, 0).subarray(0, 300),
  },
  {
    dir: "bad",
    name: "bad-magic",
    about: "a 512-byte superblock whose magic is `RHSWFSJ\\0` instead of `rhswfsj\\0`, then a valid entry: LWLOG_BAD_MAGIC at offset 0",
    bytes: () => concat([rawSuper({ magic: 0x004a5346575348n, nrEntries: 1n, sectorSize: 512 }), writeEntry(512, 0, 1, 20)]),
  },
  {
    dir: "bad",
    name: "bad-version",
    about: "version 2 (only 1 exists): LWLOG_BAD_VERSION at offset 8",
    bytes: () => concat([rawSuper({ version: 2n, nrEntries: 1n, sectorSize: 512 }), writeEntry(512, 0, 1, 21)]),
  },
  {
    dir: "bad",
    name: "sector-size-0",
    about: "sectorsize 0: LWLOG_BAD_SECTOR_SIZE at offset 24",
    bytes: () => rawSuper({ sectorSize: 0 }),
  },
  {
    dir: "bad",
    name: "sector-size-1000",
    about: "sectorsize 1000, not a power of two: LWLOG_BAD_SECTOR_SIZE",
    bytes: () => concat([rawSuper({ sectorSize: 1000, nrEntries: 0n }), new Uint8Array(488)]),
  },
  {
    dir: "bad",
    name: "sector-size-16",
    about: "sectorsize 16, a power of two but smaller than a 32-byte entry header: LWLOG_BAD_SECTOR_SIZE",
    bytes: () => rawSuper({ sectorSize: 16 }),
  },
  {
    dir: "bad",
    name: "sector-size-16mib",
    about: "sectorsize 16 MiB, above QEMU's limit of 8 MiB (the file is only 512 bytes: nothing that size is allocated): LWLOG_BAD_SECTOR_SIZE",
    bytes: () => rawSuper({ sectorSize: 16 << 20 }),
  },
  {
    dir: "bad",
    name: "header-cut-short",
    about: "declares 2 entries; entry 0 (a 4 KiB write) is whole, entry 1's header block has 200 of its 512 bytes: LWLOG_TRUNCATED_HEADER at entry 1, offset 5120",
    bytes: () => concat([sup(512, 2), writeEntry(512, 8, 8, 22), markEntry(512, "cut").subarray(0, 200)]),
  },
  {
    dir: "bad",
    name: "data-past-eof",
    about: "declares 2 entries; entry 1 is a write of 8 sectors, but only 1024 of its 4096 data bytes are in the file: LWLOG_DATA_PAST_EOF at entry 1, offset 1024",
    bytes: () => concat([sup(512, 2), markEntry(512, "first"), writeEntry(512, 0, 8, 23).subarray(0, 512 + 1024)]),
  },
  {
    dir: "bad",
    name: "nr-sectors-2p63",
    about: "declares 1 entry, a write with nr_sectors 2^63 (9.4e18 sectors; the file is 1536 bytes): LWLOG_DATA_PAST_EOF at entry 0, and no allocation",
    bytes: () => concat([sup(512, 1), hdr(512, { sector: 8n, nrSectors: 1n << 63n }), data(1, 512, 24)]),
  },
  {
    dir: "bad",
    name: "more-entries-declared",
    about: "the superblock declares 5 entries, the file ends after 2: LWLOG_MISSING_ENTRIES at entry 2, offset 5632 (the end of the file)",
    bytes: () => twoEntries(5),
  },
  {
    dir: "bad",
    name: "nr-entries-huge",
    about: "the superblock declares 2^64-1 entries, the file holds 2: LWLOG_MISSING_ENTRIES at entry 2 (the count is clamped to what the file can hold: nothing is allocated for it)",
    bytes: () => twoEntries((1n << 64n) - 1n),
  },
  {
    dir: "bad",
    name: "zero-header-declared",
    about:
      "declares 3 entries, holds 2, then zeros (a log device that was never written further): LWLOG_EMPTY_ENTRY at entry 2, offset 5632",
    bytes: () => concat([twoEntries(3), new Uint8Array(2048)]),
  },
  {
    dir: "bad",
    name: "padding-not-zero",
    about:
      "declares 3 entries; entry 1 (a FLUSH) has a non-zero byte at header byte 100, in the padding a writer zeroes (xfstests: \"Malformed entry\"): LWLOG_MALFORMED_ENTRY at entry 1, offset 5120",
    bytes: () => {
      const flush = hdr(512, { flags: FLUSH });
      flush[100] = 0x5a;
      return concat([sup(512, 3), writeEntry(512, 8, 8, 25), flush, markEntry(512, "after")]);
    },
  },
  {
    dir: "bad",
    name: "mark-too-long",
    about: "a mark whose data_len (481) is longer than its 512-byte header block can hold (480): LWLOG_BAD_MARK at entry 1",
    bytes: () => {
      const name = new Uint8Array(480).fill(0x61);
      return concat([sup(512, 2), writeEntry(512, 0, 1, 26), hdr(512, { flags: MARK, dataLen: 481n }, name)]);
    },
  },
  {
    dir: "bad",
    name: "data-len-too-big",
    about: "a 1-sector write whose data_len (1000) is larger than the 512 data bytes it carries: LWLOG_BAD_DATA_LEN at entry 0",
    bytes: () => concat([sup(512, 1), hdr(512, { sector: 3n, nrSectors: 1n, dataLen: 1000n }), data(1, 512, 27)]),
  },

  // ---- bad: edge cases that are valid (warnings, tails) ----
  {
    dir: "bad",
    name: "mark-fills-block",
    about:
      "a mark whose name is 480 bytes, its whole 512-byte header block (S-32) with no terminating zero, as pre-2018 kernels could write: valid, with the warning LWLOG_MARK_NO_NUL",
    bytes: () => {
      const name = new TextEncoder().encode("F".repeat(480));
      return concat([sup(512, 2), writeEntry(512, 0, 1, 28), hdr(512, { flags: MARK, dataLen: 480n }, name)]);
    },
  },
  {
    dir: "bad",
    name: "unknown-flag-bits",
    about:
      "entries with flag bits nobody defines (0x40 on a write, 2^63 on a FLUSH): valid, the bits kept and reported with the warning LWLOG_UNKNOWN_FLAGS",
    bytes: () =>
      concat([sup(512, 2), writeEntry(512, 5, 1, 29, 0x40n), hdr(512, { flags: FLUSH | (1n << 63n) })]),
  },
  {
    dir: "bad",
    name: "garbage-after-last-entry",
    about:
      "a valid 2-entry log followed by 3 KiB of random bytes: not an error; the tail scan stops at the first header block (end: invalid at offset 5632)",
    bytes: () => concat([twoEntries(2), randomBytes(3072, 30)]),
  },
  {
    dir: "bad",
    name: "partial-block-after-last-entry",
    about: "a valid 2-entry log followed by 100 bytes, less than a header block: not an error (tail end: truncated at offset 5632)",
    bytes: () => concat([twoEntries(2), randomBytes(100, 31)]),
  },
  {
    dir: "bad",
    name: "tail-write-cut-short",
    about:
      "a valid 2-entry log, then a tail write whose data runs past the end of the file (a crash in the middle of logging): the tail ends there (truncated), the declared entries are fine",
    bytes: () => concat([twoEntries(2), writeEntry(512, 40, 8, 32).subarray(0, 512 + 2048)]),
  },
  {
    dir: "bad",
    name: "stale-after-invalid",
    about:
      "2 declared entries, 1 valid tail entry, then an all-zero header block, then 2 valid-looking stale entries from an older run: the tail is 1 entry; the stale ones are not taken",
    bytes: () =>
      concat([twoEntries(2), writeEntry(512, 50, 1, 33), new Uint8Array(512), writeEntry(512, 60, 1, 34), markEntry(512, "stale")]),
  },
];

/** What the codec makes of a log read one way: its entries and how reading ended, or the error. */
export interface ReadOutcome {
  entries?: Record<string, unknown>[];
  end?: Record<string, unknown>;
  error?: ErrorJson;
}

/** An `LwlogError` as JSON. */
export interface ErrorJson {
  name: string;
  code: string;
  entry?: number;
  offset?: number;
  message: string;
}

function errorJson(err: unknown): ErrorJson {
  if (!(err instanceof LwlogError)) throw err;
  const out: ErrorJson = { name: err.name, code: err.code, message: err.message };
  if (err.entry !== undefined) out.entry = err.entry;
  if (err.offset !== undefined) out.offset = err.offset;
  return out;
}

function endJson(end: ReadEnd): Record<string, unknown> {
  const out: Record<string, unknown> = { reason: end.reason, offset: end.offset, index: end.index };
  if (end.detail !== undefined) out.detail = end.detail;
  if (end.error !== undefined) out.error = errorJson(end.error);
  return out;
}

function entryJson(log: LogFile, e: LogEntry): Record<string, unknown> {
  const out = entryToJson(e, log.sectorSize);
  out.dataOffset = e.dataOffset;
  out.dataSize = e.dataSize;
  if (e.dataSize > 0) out.sha256 = sha256(log.readData(e));
  if (e.problems.length > 0) out.problems = e.problems.map((p) => ({ code: p.code, severity: p.severity, message: p.message }));
  return out;
}

function readOutcome(log: LogFile, options: ReadOptions): ReadOutcome {
  const entries: Record<string, unknown>[] = [];
  try {
    const c = log.cursor(options);
    for (let e = c.next(); e !== undefined; e = c.next()) entries.push(entryJson(log, e));
    return { entries, end: endJson(c.end!) };
  } catch (err) {
    return { error: errorJson(err) };
  }
}

/**
 * Everything the codec says about the log at `path`, as the JSON committed beside each
 * fixture: the superblock, then the entries read three ways (declared entries strictly,
 * with the tail, and leniently with the tail), or the error opening it.
 */
export function describeLog(path: string): Record<string, unknown> {
  let log: LogFile;
  try {
    log = LogFile.openSync(path);
  } catch (err) {
    return { open: { error: errorJson(err) } };
  }
  try {
    return {
      super: superToJson(log.super),
      size: log.size,
      declared: log.declared,
      superPadding: log.superPadding,
      strict: readOutcome(log, {}),
      tail: readOutcome(log, { tail: true }),
      lenient: readOutcome(log, { tail: true, lenient: true }),
    };
  } finally {
    log.close();
  }
}

/** `test-data/samples` or `test-data/bad`. */
export function fixtureDir(f: Fixture): string {
  return join(testDataDir, f.dir);
}
