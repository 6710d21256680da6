import { readdirSync } from "node:fs";
import { join } from "node:path";
import { kernelLogs, makeTempDir, randomBytes, run, sha256, testDataDir } from "@lwlog/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogFile, LogFlags, LogIndex, LogWriter, readLog, type LogEntry, type ReadEnd, type ReadOptions } from "./index.js";

const tmp = makeTempDir("lwlog-reader-");
afterAll(() => tmp.cleanup());

function readAll(path: string, options: ReadOptions = {}): { entries: LogEntry[]; end: ReadEnd } {
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

/** Entries with their data as a sha256 (vitest's deep compare of big arrays is slow). */
function hashed(entries: LogEntry[]): unknown[] {
  return entries.map(({ data, ...rest }) => ({ ...rest, data: data === undefined ? undefined : sha256(data) }));
}

// A log whose entries alternate between big (64 KiB, 1 MiB) and small ones, so the cursor
// switches between whole windows and lone header reads.
const mixed = join(tmp.path, "mixed.log");
beforeAll(async () => {
  const w = await LogWriter.create(mixed, { sectorSize: 512 });
  for (let i = 0; i < 60; i++) {
    const big = i % 10 === 9 ? 1 << 20 : 64 << 10;
    await w.write(BigInt(i * 4096), randomBytes(i % 3 === 0 ? big : 1024, i + 1));
    if (i % 4 === 0) await w.flush();
    if (i % 7 === 0) await w.mark(`m${i}`);
    if (i % 5 === 0) await w.discard(BigInt(i), 8n);
  }
  await w.close();
});

describe("LogCursor", () => {
  const logs = [...kernelLogs().map((k) => k.path), mixed, ...readdirSync(join(testDataDir, "samples")).filter((f) => f.endsWith(".log")).map((f) => join(testDataDir, "samples", f))];

  it("reads the same entries whatever its window size (1 byte, one sector, 4 KiB, default, 4 MiB)", () => {
    for (const path of logs) {
      const want = hashed(readAll(path, { tail: true, data: true }).entries);
      for (const blockSize of [1, 512, 4096, 4 << 20]) {
        expect(hashed(readAll(path, { tail: true, data: true, blockSize }).entries), `${path} blockSize ${blockSize}`).toEqual(want);
      }
      // Headers only: the same entries minus the data.
      expect(hashed(readAll(path, { tail: true }).entries)).toEqual(want.map((e) => ({ ...(e as object), data: undefined })));
    }
  });

  it("skim() walks exactly as next() does", () => {
    for (const path of logs) {
      const { entries, end } = readAll(path, { tail: true });
      const log = LogFile.openSync(path);
      try {
        const c = log.cursor({ tail: true });
        const seen: unknown[] = [];
        for (let s = c.skim(); s !== undefined; s = c.skim()) {
          seen.push([s.index, s.offset, s.nextOffset, s.dataSize, s.kind, s.tail, s.knownFlags, s.unknownFlags, s.entry?.mark]);
          if (s.kind === "mark") expect(s.entry).toEqual(entries[s.index]);
        }
        expect(seen).toEqual(entries.map((e) => [e.index, e.offset, e.nextOffset, e.dataSize, e.kind, e.tail, Number(e.flags & 0x1fn), e.flags > 0x1fn, e.mark]));
        expect(c.end).toEqual(end);
      } finally {
        log.close();
      }
    }
  });

  it("starts from an entry's offset and index, as an index hands them out", () => {
    const path = kernelLogs()[0]!.path;
    const { entries } = readAll(path);
    const log = LogFile.openSync(path);
    try {
      const from = entries[200]!;
      const c = log.cursor({ start: { index: 200, offset: from.offset } });
      expect(c.next()).toEqual(from);
      expect([c.nextIndex, c.nextOffset]).toEqual([201, entries[201]!.offset]);
      const index = LogIndex.build(log);
      const rest: LogEntry[] = [];
      const at = index.cursorAt(370);
      for (let e = at.next(); e !== undefined; e = at.next()) rest.push(e);
      expect(rest).toEqual(entries.slice(370));
      expect(index.cursorAt(index.length).next()).toBeUndefined();
    } finally {
      log.close();
    }
  });

  it("reads data whole, in chunks, and as part of the walk, identically", () => {
    const log = LogFile.openSync(mixed);
    try {
      const c = log.cursor({ data: true });
      for (let e = c.next(); e !== undefined; e = c.next()) {
        if (e.dataSize === 0) continue;
        const whole = log.readData(e);
        expect(sha256(whole)).toBe(sha256(e.data!));
        // Each chunk is valid until the next is asked for: copy it before asking.
        const chunks: Buffer[] = [];
        for (const x of log.dataChunks(e, 100_000)) chunks.push(Buffer.from(x));
        expect(sha256(Buffer.concat(chunks))).toBe(sha256(whole));
        expect(chunks.every((x) => x.length <= 100_000)).toBe(true);
      }
    } finally {
      log.close();
    }
  });

  it("the async readLog closes the file, also when the caller stops early, and returns how reading ended", async () => {
    const fds = () => readdirSync("/proc/self/fd").length;
    const before = fds();
    for await (const e of readLog(mixed)) if (e.index === 3) break;
    expect(fds()).toBe(before);
    const it = readLog(mixed, { tail: true });
    let r = await it.next();
    while (!r.done) r = await it.next();
    expect(r.value).toMatchObject({ reason: "eof" });
    expect(fds()).toBe(before);
  });
});

describe("LogIndex", () => {
  it("finds entries by flag, marks by name or bytes, and knows each entry's kind", () => {
    const k = kernelLogs().find((x) => x.file === "ext4-512.log")!;
    const { entries } = readAll(k.path);
    const log = LogFile.openSync(k.path);
    try {
      const index = LogIndex.build(log);
      for (const e of entries) {
        expect(index.kindOf(e.index)).toBe(e.kind);
        for (const f of Object.values(LogFlags)) expect(index.has(e.index, f)).toBe((e.flags & f) === f);
      }
      const fua = entries.filter((e) => (e.flags & LogFlags.FUA) !== 0n).map((e) => e.index);
      expect(index.findNext(LogFlags.FUA)).toBe(fua[0]);
      expect(index.findNext(LogFlags.FUA, fua[0]! + 1)).toBe(fua[1]);
      expect(index.findNext(LogFlags.FUA | LogFlags.FLUSH | LogFlags.METADATA)).toBe(119);
      expect(index.findMark("files")).toBe(366);
      expect(index.findMark(new TextEncoder().encode("rm"))).toBe(429);
      expect(index.findMark("mkfs", 101)).toBe(-1);
      expect(index.findMark("nope")).toBe(-1);
    } finally {
      log.close();
    }
  });
});

describe("block devices", () => {
  it("reads a log on a block device (a loop device over a kernel log), sized from sysfs", () => {
    const k = kernelLogs().find((x) => x.file === "xfs-4k.log")!;
    const dev = run("losetup", ["--find", "--show", "--read-only", k.path]).stdout.trim();
    try {
      const log = LogFile.openSync(dev);
      try {
        expect(log.size).toBe(k.log_file_bytes);
        const index = LogIndex.build(log);
        expect([index.length, index.marks.map((m) => m.name)]).toEqual([k.entries, k.marks.map((m) => m.name)]);
      } finally {
        log.close();
      }
    } finally {
      run("losetup", ["--detach", dev]);
    }
  });
});
