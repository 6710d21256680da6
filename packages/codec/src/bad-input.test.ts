import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, testDataDir } from "@lwlog/testkit";
import { afterAll, describe, expect, it } from "vitest";
import {
  ErrorCodes,
  LogFile,
  LogFormatError,
  LogIndex,
  LogIoError,
  LogWriter,
  readLog,
  type LogEntry,
  type LwlogError,
  type ReadOptions,
} from "./index.js";
import { caught, rejected } from "./test-util.js";

// Every way a log can be bad, each on its own: a typed error with its LWLOG_ code, the
// file, and where it applies the entry index and byte offset. The logs are the committed
// fixtures in test-data/bad (see test-data/README.md).

const bad = (name: string) => join(testDataDir, "bad", `${name}.log`);
const tmp = makeTempDir("lwlog-bad-");
afterAll(() => tmp.cleanup());

/** The error opening `path` (sync and async open must agree), checked to be a `cls` naming the file. */
async function openError(path: string, cls: typeof LogFormatError | typeof LogIoError): Promise<LwlogError> {
  const sync = caught(() => LogFile.openSync(path));
  const async_ = await rejected(LogFile.open(path));
  const viaReadLog = await rejected(readLog(path).next());
  for (const e of [sync, async_, viaReadLog]) {
    expect(e).toBeInstanceOf(cls);
    expect(e.file).toBe(path);
    expect(e.code).toBe(sync.code);
    expect(e.message).toBe(sync.message);
  }
  return sync;
}

/** The error reading the entries of `path` (the superblock is fine). */
function readError(path: string, options: ReadOptions = {}): LwlogError {
  const log = LogFile.openSync(path);
  try {
    const c = log.cursor(options);
    const e = caught(() => {
      while (c.next() !== undefined);
    });
    expect(e).toBeInstanceOf(LogFormatError);
    expect(e.file).toBe(path);
    // The same through the index.
    expect(caught(() => LogIndex.build(log)).code).toBe(e.code);
    return e;
  } finally {
    log.close();
  }
}

function readAll(path: string, options: ReadOptions = {}): { entries: LogEntry[]; end: NonNullable<ReturnType<LogFile["cursor"]>["end"]> } {
  const log = LogFile.openSync(path);
  try {
    const c = log.cursor(options);
    const entries: LogEntry[] = [];
    for (let e = c.next(); e !== undefined; e = c.next()) entries.push(e);
    return { entries, end: c.end! };
  } finally {
    log.close();
  }
}

describe("files that cannot be read as logs", () => {
  it("an empty file: LWLOG_EMPTY_FILE", async () => {
    const e = await openError(bad("empty-file"), LogFormatError);
    expect([e.code, e.offset]).toEqual([ErrorCodes.EMPTY_FILE, 0]);
    expect(e.describe()).toBe(`${bad("empty-file")}: offset 0: the file is empty: no superblock`);
  });

  it("a directory: LWLOG_IS_DIRECTORY", async () => {
    const dir = join(tmp.path, "a-directory.log");
    mkdirSync(dir);
    const e = await openError(dir, LogIoError);
    expect(e.code).toBe(ErrorCodes.IS_DIRECTORY);
    expect(e.describe()).toBe(`${dir}: is a directory, not a log`);
  });

  it("a missing file: LWLOG_NOT_FOUND", async () => {
    const path = join(tmp.path, "no-such.log");
    const e = await openError(path, LogIoError);
    expect(e.code).toBe(ErrorCodes.NOT_FOUND);
    expect(e.describe()).toBe(`${path}: no such file`);
  });

  it("no read permission: LWLOG_PERMISSION (as root, the check runs with the effective uid of nobody)", async () => {
    // Root reads a mode-000 file regardless, so the test drops its effective uid to 65534
    // (nobody) around the open: the kernel then really denies it (EACCES).
    const dir = join(tmp.path, "perm");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const path = join(dir, "secret.log");
    writeFileSync(path, new Uint8Array(512));
    chmodSync(path, 0o000);
    const asRoot = process.geteuid!() === 0;
    if (asRoot) process.seteuid!(65534);
    let e: LwlogError;
    try {
      expect(process.geteuid!()).not.toBe(0);
      e = await openError(path, LogIoError);
      // The writer maps it the same way.
      const w = await rejected(LogWriter.append(path));
      expect([w.code, w.file]).toEqual([ErrorCodes.PERMISSION, path]);
    } finally {
      if (asRoot) process.seteuid!(0);
    }
    expect(e.code).toBe(ErrorCodes.PERMISSION);
    expect(e.message).toMatch(/permission denied/);
    expect((e.cause as NodeJS.ErrnoException).code).toBe("EACCES");
  });

  it("a pipe with no writer, a character device: LWLOG_NOT_A_FILE at once (no hang, not \"empty\")", async () => {
    const fifo = join(tmp.path, "a-pipe.log");
    execFileSync("mkfifo", [fifo]);
    for (const [path, what] of [
      ["/dev/zero", "a character device"],
      // Without the check, opening it would block the whole process: it comes second.
      [fifo, "a pipe (FIFO)"],
    ] as const) {
      const e = await openError(path, LogIoError);
      expect(e.code).toBe(ErrorCodes.NOT_A_FILE);
      expect(e.describe()).toBe(`${path}: is ${what}, not a regular file or block device: a log is read at offsets, which only those allow`);
    }
  }, 10_000);

  it("a read that fails on the open descriptor: LWLOG_IO naming the file", () => {
    // EBADF, provoked by closing the descriptor under the reader.
    const path = bad("garbage-after-last-entry");
    const log = LogFile.openSync(path);
    closeSync(log.fd);
    const e = caught(() => log.cursor().next());
    expect(e).toBeInstanceOf(LogIoError);
    expect([e.code, e.file]).toEqual([ErrorCodes.IO, path]);
    expect(e.message).toMatch(/cannot read the log/);
    expect((e.cause as NodeJS.ErrnoException).code).toBe("EBADF");
  });
});

describe("bad superblocks", () => {
  it("wrong magic: LWLOG_BAD_MAGIC at offset 0", async () => {
    const e = await openError(bad("bad-magic"), LogFormatError);
    expect([e.code, e.offset]).toEqual([ErrorCodes.BAD_MAGIC, 0]);
    expect(e.message).toContain("0x00004a5346575348");
  });

  it("wrong version: LWLOG_BAD_VERSION at offset 8", async () => {
    const e = await openError(bad("bad-version"), LogFormatError);
    expect([e.code, e.offset]).toEqual([ErrorCodes.BAD_VERSION, 8]);
    expect(e.message).toBe("unsupported log version 2 (only version 1 exists)");
  });

  it("sector size 0: LWLOG_BAD_SECTOR_SIZE at offset 24", async () => {
    const e = await openError(bad("sector-size-0"), LogFormatError);
    expect([e.code, e.offset]).toEqual([ErrorCodes.BAD_SECTOR_SIZE, 24]);
    expect(e.message).toMatch(/^invalid sector size 0:/);
  });

  it("sector size not a power of two (1000): LWLOG_BAD_SECTOR_SIZE", async () => {
    const e = await openError(bad("sector-size-1000"), LogFormatError);
    expect([e.code, e.offset]).toEqual([ErrorCodes.BAD_SECTOR_SIZE, 24]);
  });

  it("sector size below 32 (16): LWLOG_BAD_SECTOR_SIZE", async () => {
    expect((await openError(bad("sector-size-16"), LogFormatError)).code).toBe(ErrorCodes.BAD_SECTOR_SIZE);
  });

  it("sector size 16 MiB: LWLOG_BAD_SECTOR_SIZE, without reading or allocating 16 MiB", async () => {
    const before = process.memoryUsage().arrayBuffers;
    const e = await openError(bad("sector-size-16mib"), LogFormatError);
    expect([e.code, e.offset]).toEqual([ErrorCodes.BAD_SECTOR_SIZE, 24]);
    expect(e.message).toContain("16777216");
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });

  it("truncated superblock (20 bytes): LWLOG_TRUNCATED_SUPER", async () => {
    const e = await openError(bad("truncated-super"), LogFormatError);
    expect([e.code, e.offset]).toEqual([ErrorCodes.TRUNCATED_SUPER, 0]);
  });

  it("truncated superblock sector (fields whole, sector cut at 300 of 512 bytes): LWLOG_TRUNCATED_SUPER", async () => {
    const e = await openError(bad("truncated-super-sector"), LogFormatError);
    expect([e.code, e.offset]).toEqual([ErrorCodes.TRUNCATED_SUPER, 0]);
    expect(e.message).toBe("truncated superblock: the file has 300 bytes, the superblock sector is 512");
  });
});

describe("bad entries", () => {
  it("header cut short: LWLOG_TRUNCATED_HEADER at entry 1, offset 5120", () => {
    const e = readError(bad("header-cut-short"));
    expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.TRUNCATED_HEADER, 1, 5120]);
    expect(e.describe()).toBe(
      `${bad("header-cut-short")}: entry 1: offset 5120: header block cut short: 200 of 512 bytes before the end of the file; the superblock declares 2 entries but the log holds only 1`,
    );
  });

  it("data running past the end of the file: LWLOG_DATA_PAST_EOF at entry 1, offset 1024", () => {
    const e = readError(bad("data-past-eof"));
    expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.DATA_PAST_EOF, 1, 1024]);
    expect(e.message).toBe("data runs past the end of the file: 4096 bytes at offset 1536, the file has 2560");
  });

  it("nr_sectors of 2^63: LWLOG_DATA_PAST_EOF at entry 0, an error and not an allocation", () => {
    const before = process.memoryUsage().arrayBuffers;
    for (const options of [{}, { data: true }, { data: true, tail: true, lenient: true }]) {
      const log = LogFile.openSync(bad("nr-sectors-2p63"));
      try {
        const c = log.cursor(options);
        if (options.lenient) {
          expect(c.next()).toBeUndefined();
          expect(c.end!.error).toMatchObject({ code: ErrorCodes.DATA_PAST_EOF, entry: 0, offset: 512 });
        } else {
          const e = caught(() => c.next());
          expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.DATA_PAST_EOF, 0, 512]);
          expect(e.message).toContain(String((1n << 63n) * 512n));
        }
      } finally {
        log.close();
      }
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });

  it("a superblock declaring more entries than the file holds: LWLOG_MISSING_ENTRIES at entry 2, offset 5632", () => {
    const e = readError(bad("more-entries-declared"));
    expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.MISSING_ENTRIES, 2, 5632]);
    expect(e.message).toBe("the superblock declares 5 entries but the log holds only 2");
  });

  it("a superblock declaring 2^64-1 entries: clamped to what the file can hold, then LWLOG_MISSING_ENTRIES", () => {
    const log = LogFile.openSync(bad("nr-entries-huge"));
    expect(log.declared).toBe(11); // (5632 - 512) / 512 + 1: one more than the file could hold
    log.close();
    const e = readError(bad("nr-entries-huge"));
    expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.MISSING_ENTRIES, 2, 5632]);
  });

  it("a zero header block inside the declared entries: LWLOG_EMPTY_ENTRY at entry 2, offset 5632", () => {
    const e = readError(bad("zero-header-declared"));
    expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.EMPTY_ENTRY, 2, 5632]);
  });

  it("non-zero bytes in the padding of a non-mark header (xfstests: malformed entry): LWLOG_MALFORMED_ENTRY at entry 1, offset 5120", () => {
    const e = readError(bad("padding-not-zero"));
    expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.MALFORMED_ENTRY, 1, 5120]);
    expect(e.message).toContain("at byte 100");
    // Leniently (lwlog check) it is a problem of that entry and the walk goes on.
    const { entries, end } = readAll(bad("padding-not-zero"), { lenient: true, tail: true });
    expect(entries.map((x) => x.problems.map((p) => p.code))).toEqual([[], [ErrorCodes.MALFORMED_ENTRY], []]);
    expect(end.reason).toBe("eof");
  });

  it("a mark longer than its header block: LWLOG_BAD_MARK at entry 1", () => {
    const e = readError(bad("mark-too-long"));
    expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.BAD_MARK, 1, 1536]);
  });

  it("data_len larger than the entry's data: LWLOG_BAD_DATA_LEN at entry 0", () => {
    const e = readError(bad("data-len-too-big"));
    expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.BAD_DATA_LEN, 0, 512]);
  });

  it("data too large to hold when asked for it: LWLOG_ENTRY_TOO_LARGE (read it in chunks instead)", () => {
    const log = LogFile.openSync(join(testDataDir, "samples/one-write.log"));
    try {
      const e = caught(() => log.cursor({ data: true, maxDataBytes: 1024 }).next());
      expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.ENTRY_TOO_LARGE, 0, 512]);
      const entry = log.cursor().next()!;
      expect([...log.dataChunks(entry, 1024)].length).toBe(4);
    } finally {
      log.close();
    }
  });

  it("an entry asked for at an offset where there is none: LWLOG_NO_SUCH_ENTRY", () => {
    const log = LogFile.openSync(join(testDataDir, "samples/one-write.log"));
    try {
      // Inside the data, read as a tail entry: no valid header there.
      const e = caught(() => log.entryAt(5, 1024));
      expect([e.code, e.entry, e.offset]).toEqual([ErrorCodes.NO_SUCH_ENTRY, 5, 1024]);
      // Read as a declared entry, the same bytes are a broken entry (strict).
      expect(caught(() => log.entryAt(0, 1024))).toBeInstanceOf(LogFormatError);
      const index = LogIndex.build(log);
      expect(caught(() => index.entry(1)).code).toBe(ErrorCodes.NO_SUCH_ENTRY);
    } finally {
      log.close();
    }
  });
});

describe("edge cases that are valid", () => {
  it("a mark name filling its whole header block (S-32): valid, with a warning", () => {
    const { entries, end } = readAll(bad("mark-fills-block"), { tail: true });
    const mark = entries[1]!;
    expect(mark.mark).toBe("F".repeat(480));
    expect(mark.problems.map((p) => [p.code, p.severity])).toEqual([[ErrorCodes.MARK_NO_NUL, "warning"]]);
    expect(end.reason).toBe("eof");
  });

  it("unknown flag bits: kept exactly and reported", () => {
    const { entries } = readAll(bad("unknown-flag-bits"));
    expect(entries.map((e) => e.flags)).toEqual([0x40n, 1n | (1n << 63n)]);
    expect(entries.map((e) => e.kind)).toEqual(["write", "flush"]);
    expect(entries.map((e) => e.problems.map((p) => p.code))).toEqual([[ErrorCodes.UNKNOWN_FLAGS], [ErrorCodes.UNKNOWN_FLAGS]]);
    const log = LogFile.openSync(bad("unknown-flag-bits"));
    try {
      const c = log.cursor();
      expect(c.skim()).toMatchObject({ knownFlags: 0, unknownFlags: true });
      expect(c.skim()).toMatchObject({ knownFlags: 1, unknownFlags: true });
    } finally {
      log.close();
    }
  });

  it("garbage after the last entry: a tail, not an error", () => {
    const strict = readAll(bad("garbage-after-last-entry"));
    expect([strict.entries.length, strict.end.reason]).toEqual([2, "declared"]);
    const tail = readAll(bad("garbage-after-last-entry"), { tail: true });
    expect([tail.entries.length, tail.end.reason, tail.end.offset]).toEqual([2, "invalid", 5632]);
  });

  it("a superblock with a non-zero byte after its fields opens, and says where", () => {
    const path = join(tmp.path, "super-junk.log");
    const b = new Uint8Array(readFileSync(join(testDataDir, "samples/empty.log")));
    b[300] = 7;
    writeFileSync(path, b);
    const log = LogFile.openSync(path);
    expect([log.superPadding, log.declared]).toEqual([300, 0]);
    log.close();
  });
});
