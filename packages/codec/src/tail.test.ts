import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kernelLogs, makeTempDir, qemuLog, randomBytes, testDataDir } from "@lwlog/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCodes, LogFile, LogIndex, LogWriter, SUPER_FIELDS, type LogEntry, type ReadEnd, type ReadOptions } from "./index.js";
import { caught } from "./test-util.js";

// nr_entries is what the writer declared, not the truth. The reader returns the declared
// entries, and with `tail` the valid entries after them, up to the first header that is
// not a valid entry.

const tmp = makeTempDir("lwlog-tail-");
afterAll(() => tmp.cleanup());

function read(path: string, options: ReadOptions = {}): { entries: LogEntry[]; end: ReadEnd; declared: number } {
  const log = LogFile.openSync(path);
  try {
    const c = log.cursor(options);
    const entries: LogEntry[] = [];
    for (let e = c.next(); e !== undefined; e = c.next()) entries.push(e);
    return { entries, end: c.end!, declared: log.declared };
  } finally {
    log.close();
  }
}

const raw512 = kernelLogs().find((k) => k.file === "raw-512.log")!;

/** A copy of raw-512.log with `edit` applied to its bytes. */
function editedKernelLog(name: string, edit: (b: Buffer) => Buffer | void): string {
  const path = join(tmp.path, name);
  const b = readFileSync(raw512.path);
  writeFileSync(path, edit(b) ?? b);
  return path;
}

function setNrEntries(b: Buffer, n: number): void {
  b.writeBigUInt64LE(BigInt(n), SUPER_FIELDS.nrEntries);
}

describe("QEMU logs with entries past nr_entries", () => {
  it("QEMU's own log, superblock last updated at entry 4 of 6: 4 declared, 2 tail entries, exactly the writes issued", () => {
    // cache=unsafe drops flushes (so no FLUSH entry updates the superblock, not even at
    // close); the superblock is rewritten every 4 entries only.
    const dir = join(tmp.path, "qemu-interval");
    makeDir(dir);
    const { log } = qemuLog({
      dir,
      cache: "unsafe",
      superInterval: 4,
      commands: ["write -P 0x11 0 4k", "write -P 0x22 8k 1k", "discard 64k 64k", "write -P 0x33 200k 12k", "write -P 0x44 300k 512", "write -P 0x55 400k 2k"],
    });
    const strict = read(log);
    expect(strict.declared).toBe(4);
    expect(strict.entries.length).toBe(4);
    expect(strict.end.reason).toBe("declared");
    const all = read(log, { tail: true, data: true });
    expect(all.end).toEqual({ reason: "eof", offset: readFileSync(log).length, index: 6 });
    const shape = all.entries.map((e) => [e.kind, e.sector, e.nrSectors, e.tail, e.data?.every((x) => x === e.data![0]) ? e.data[0] : e.data]);
    expect(shape).toEqual([
      ["write", 0n, 8n, false, 0x11],
      ["write", 16n, 2n, false, 0x22],
      ["discard", 128n, 128n, false, undefined],
      ["write", 400n, 24n, false, 0x33],
      ["write", 600n, 1n, true, 0x44],
      ["write", 800n, 4n, true, 0x55],
    ]);
    expect(read(log, { tail: true }).entries.slice(0, 4)).toEqual(strict.entries);
    const file = LogFile.openSync(log);
    try {
      const built = LogIndex.build(file);
      expect([built.declared, built.tail, built.length]).toEqual([4, 2, 6]);
      expect(LogIndex.build(file, { tail: false }).length).toBe(4);
    } finally {
      file.close();
    }
  });

  it("QEMU appending to our log with a large superblock interval: every QEMU entry is a tail entry", async () => {
    const dir = join(tmp.path, "qemu-append");
    makeDir(dir);
    const path = join(dir, "qemu.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    await w.write(0n, new Uint8Array(1024).fill(0xa1));
    await w.mark("ours");
    await w.close();
    qemuLog({ dir, append: true, cache: "unsafe", superInterval: 4096, commands: ["write -P 0x66 4k 4k", "discard 1M 8k", "write -P 0x77 2M 512"] });
    const all = read(path, { tail: true });
    expect(all.declared).toBe(2);
    expect(all.entries.map((e) => [e.kind, e.sector, e.nrSectors, e.tail])).toEqual([
      ["write", 0n, 2n, false],
      ["mark", 0n, 0n, false],
      ["write", 8n, 8n, true],
      ["discard", 2048n, 16n, true],
      ["write", 4096n, 1n, true],
    ]);
    expect(all.end.reason).toBe("eof");
  });

  it("a QEMU log whose superblock was never written (no flush, interval not reached) is not a log yet: LWLOG_BAD_MAGIC", () => {
    const dir = join(tmp.path, "qemu-nosuper");
    makeDir(dir);
    const { log } = qemuLog({ dir, cache: "unsafe", superInterval: 4096, commands: ["write -P 0x11 0 4k"] });
    expect(readFileSync(log).subarray(0, 512).every((b) => b === 0)).toBe(true);
    const e = caught(() => LogFile.openSync(log));
    expect([e.code, e.offset, e.file]).toEqual([ErrorCodes.BAD_MAGIC, 0, log]);
    expect(e.message).toMatch(/all zero/);
  });
});

describe("a crashed kernel's log: nr_entries smaller than the entries present", () => {
  const crashed = editedKernelLog("crashed.log", (b) => setNrEntries(b, 300));
  const original = read(raw512.path).entries;

  it("reads 300 declared entries, and the 90 after them as the tail, byte for byte the original ones", () => {
    const strict = read(crashed);
    expect([strict.declared, strict.entries.length, strict.end.reason, strict.end.index]).toEqual([300, 300, "declared", 300]);
    const all = read(crashed, { tail: true });
    expect(all.entries.length).toBe(390);
    expect(all.end).toEqual({ reason: "eof", offset: raw512.log_file_bytes, index: 390 });
    expect(all.entries.map((e) => ({ ...e, tail: false }))).toEqual(original);
    expect(all.entries.filter((e) => e.tail).map((e) => e.index)).toEqual(Array.from({ length: 90 }, (_, i) => 300 + i));
    const marks = all.entries.filter((e) => e.kind === "mark" && e.tail).map((e) => e.mark);
    expect(marks).toEqual(["scattered-64", "overwrite-5x", "last-sector+discard+rewrite", "zeroout-128K", expect.stringMatching(/^long-/), "buffered-sync", "whole-discard", "dm-log-writes-end"]);
  });

  it("an index counts them apart, and finds the tail's marks", () => {
    const log = LogFile.openSync(crashed);
    try {
      const index = LogIndex.build(log);
      expect([index.declared, index.tail, index.length]).toEqual([300, 90, 390]);
      expect(index.findMark("dm-log-writes-end")).toBe(389);
      expect(index.marks.at(-1)).toMatchObject({ name: "dm-log-writes-end", tail: true });
      expect(index.entry(389).tail).toBe(true);
      expect(index.entry(299).tail).toBe(false);
      const declaredOnly = LogIndex.build(log, { tail: false });
      expect([declaredOnly.length, declaredOnly.findMark("dm-log-writes-end")]).toEqual([300, -1]);
    } finally {
      log.close();
    }
  });

  it("nr_entries 0 (the kernel never updated the superblock): everything is tail", () => {
    const path = editedKernelLog("crashed-0.log", (b) => setNrEntries(b, 0));
    expect(read(path).entries).toEqual([]);
    expect(read(path, { tail: true }).entries.length).toBe(390);
  });
});

describe("what ends a tail", () => {
  it("garbage after the last entry is not an error: the tail stops at it", () => {
    const path = editedKernelLog("garbage.log", (b) => Buffer.concat([b, Buffer.from(randomBytes(8192, 99))]));
    expect(read(path).entries.length).toBe(390);
    const all = read(path, { tail: true });
    expect(all.entries.length).toBe(390);
    expect(all.end).toMatchObject({ reason: "invalid", offset: raw512.log_file_bytes, index: 390 });
    expect(all.end.detail).toBeTruthy();
    const lenient = read(path, { tail: true, lenient: true });
    expect(lenient.end).toEqual(all.end);
  });

  it("zeros after the last entry (a log device never written further) end the tail as invalid", () => {
    const path = editedKernelLog("zeros.log", (b) => Buffer.concat([b, Buffer.alloc(64 << 10)]));
    expect(read(path, { tail: true }).end).toMatchObject({ reason: "invalid", offset: raw512.log_file_bytes, detail: expect.stringMatching(/empty entry/) });
  });

  it("stale valid-looking entries after an invalid header are not taken", () => {
    const entries = read(raw512.path).entries;
    for (const [name, reason, spoil] of [
      ["zeroed", "invalid", (b: Buffer, at: number) => b.fill(0, at, at + 512)],
      ["padding", "invalid", (b: Buffer, at: number) => (b[at + 200] = 0xee)],
      // A clean header whose data would run past the end reads as a write cut short.
      ["past-eof", "truncated", (b: Buffer, at: number) => b.writeBigUInt64LE(1n << 40n, at + 8)],
    ] as const) {
      const bad = entries[310]!;
      const path = editedKernelLog(`stale-${name}.log`, (b) => {
        setNrEntries(b, 300);
        spoil(b, bad.offset);
      });
      const all = read(path, { tail: true });
      expect(all.entries.length, name).toBe(310);
      expect(all.end, name).toMatchObject({ reason, offset: bad.offset, index: 310 });
      // Entries 311… are valid headers in the file, but not part of the log.
      const log = LogFile.openSync(path);
      try {
        expect(log.entryAt(311, entries[311]!.offset).sector).toBe(entries[311]!.sector);
        expect(LogIndex.build(log).length).toBe(310);
      } finally {
        log.close();
      }
    }
  });

  it("a tail write cut short by the end of the file ends the tail as truncated", () => {
    const entries = read(raw512.path).entries;
    const cut = entries[5]!; // a write of 8 sectors
    expect(cut.kind).toBe("write");
    const path = editedKernelLog("cut.log", (b) => {
      setNrEntries(b, 3);
      return b.subarray(0, cut.dataOffset + 100);
    });
    const all = read(path, { tail: true });
    expect(all.entries.length).toBe(5);
    expect(all.end).toMatchObject({ reason: "truncated", offset: cut.offset, index: 5 });
    const halfHeader = editedKernelLog("cut-header.log", (b) => {
      setNrEntries(b, 3);
      return b.subarray(0, cut.offset + 100);
    });
    expect(read(halfHeader, { tail: true }).end).toMatchObject({ reason: "truncated", offset: cut.offset, index: 5 });
  });

  it("a mark filling its whole header block still counts in the tail (only a warning)", () => {
    const path = join(tmp.path, "full-mark-tail.log");
    const b = Buffer.from(readFileSync(join(testDataDir, "bad/mark-fills-block.log")));
    setNrEntries(b, 1);
    writeFileSync(path, b);
    const all = read(path, { tail: true });
    expect(all.entries.map((e) => [e.kind, e.tail, e.problems.map((p) => p.code)])).toEqual([
      ["write", false, []],
      ["mark", true, [ErrorCodes.MARK_NO_NUL]],
    ]);
  });
});

function makeDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}
