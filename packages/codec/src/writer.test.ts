import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, qemuLog, randomBytes, testDataDir } from "@lwlog/testkit";
import { afterAll, describe, expect, it } from "vitest";
import {
  ENTRY_HEADER_SIZE,
  ErrorCodes,
  LogFile,
  LogFlags,
  LogWriter,
  SUPER_FIELDS,
  firstNonZero,
  type LogEntry,
  type ReadEnd,
  type SuperPolicy,
} from "./index.js";
import { rejected } from "./test-util.js";

const { FLUSH, FUA, DISCARD, METADATA } = LogFlags;
const tmp = makeTempDir("lwlog-writer-");
afterAll(() => tmp.cleanup());
let n = 0;
const fresh = (name = "w") => join(tmp.path, `${name}-${n++}.log`);

function read(path: string): { entries: LogEntry[]; end: ReadEnd; nrEntries: bigint } {
  const log = LogFile.openSync(path);
  try {
    const c = log.cursor({ tail: true, data: true });
    const entries: LogEntry[] = [];
    for (let e = c.next(); e !== undefined; e = c.next()) entries.push(e);
    return { entries, end: c.end!, nrEntries: log.super.nrEntries };
  } finally {
    log.close();
  }
}

/** Byte equality without vitest's element-by-element deep compare (slow on big arrays). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** nr_entries as the file says right now. */
function nrEntriesOnDisk(path: string): number {
  return Number(readFileSync(path).readBigUInt64LE(SUPER_FIELDS.nrEntries));
}

describe("LogWriter: what it lays out", () => {
  it("zero-pads every header block (and the superblock after its fields)", async () => {
    for (const S of [32, 512, 4096]) {
      const path = fresh();
      const w = await LogWriter.create(path, { sectorSize: S });
      await w.write(3n, randomBytes(2 * S, 1));
      await w.write(9n, randomBytes(S, 2), { flags: FUA | METADATA, dataLen: 7n });
      await w.discard(100n, 50n);
      await w.flush(FUA | METADATA, 77n);
      if (S > 33) await w.mark("m".repeat(S - 33));
      await w.close();
      const bytes = new Uint8Array(readFileSync(path));
      expect(firstNonZero(bytes, 28, S)).toBe(-1);
      const { entries, end } = read(path);
      expect(end).toEqual({ reason: "eof", offset: bytes.length, index: S > 33 ? 5 : 4 });
      for (const e of entries) {
        const used = ENTRY_HEADER_SIZE + (e.kind === "mark" ? Number(e.dataLen) : 0);
        expect(firstNonZero(bytes, e.offset + used, e.offset + S), `S=${S} entry ${e.index}`).toBe(-1);
        expect(e.problems).toEqual([]);
      }
    }
  });

  it("writes what it is given, where it belongs: data at non-zero sectors, flags kept, data_len kept", async () => {
    const path = fresh();
    const w = await LogWriter.create(path, { sectorSize: 512, bufferSize: 4096 });
    const big = randomBytes(64 << 10, 3); // larger than half the buffer: written directly
    expect(await w.write(1000n, randomBytes(512, 4))).toBe(0);
    expect(await w.write(2n ** 40n, big, { flags: METADATA })).toBe(1);
    expect(await w.discard(5n, 2n ** 33n)).toBe(2);
    expect(await w.write(7n, randomBytes(512, 5), { dataLen: 100n, flags: 0x40n })).toBe(3);
    await w.close();
    const { entries } = read(path);
    expect(entries.map((e) => [e.sector, e.nrSectors, e.flags, e.dataLen])).toEqual([
      [1000n, 1n, 0n, 0n],
      [2n ** 40n, 128n, METADATA, 0n],
      [5n, 2n ** 33n, DISCARD, 0n],
      [7n, 1n, 0x40n, 100n],
    ]);
    expect(sameBytes(entries[0]!.data!, randomBytes(512, 4))).toBe(true);
    expect(sameBytes(entries[1]!.data!, big)).toBe(true);
    expect(sameBytes(entries[3]!.data!, randomBytes(512, 5))).toBe(true);
  });

  it("refuses entries it cannot lay out, with typed errors", async () => {
    const path = fresh();
    const w = await LogWriter.create(path, { sectorSize: 512 });
    expect(() => w.write(0n, new Uint8Array(100))).toThrow(expect.objectContaining({ code: ErrorCodes.RANGE }));
    expect((await rejected(w.append({ header: { sector: 0n, nrSectors: 2n, flags: 0n, dataLen: 0n }, data: new Uint8Array(512) }))).code).toBe(ErrorCodes.RANGE);
    expect(() => w.mark("x".repeat(480))).toThrow(expect.objectContaining({ code: ErrorCodes.BAD_MARK }));
    expect(await w.mark("x".repeat(480), { allowFull: true })).toBe(0); // S-32, as pre-2018 kernels
    expect((await rejected(w.append({ header: { sector: -1n, nrSectors: 0n, flags: FLUSH, dataLen: 0n } }))).code).toBe(ErrorCodes.RANGE);
    await w.close();
    expect((await rejected(w.flush())).code).toBe(ErrorCodes.IO);
    expect((await rejected(LogWriter.create(path, { sectorSize: 512 }))).code).toBe(ErrorCodes.EXISTS);
    expect((await rejected(LogWriter.create(fresh(), { sectorSize: 1000 }))).code).toBe(ErrorCodes.BAD_SECTOR_SIZE);
    const never = fresh();
    expect((await rejected(LogWriter.create(never, { sectorSize: 512, superPolicy: { every: 0 } }))).code).toBe(ErrorCodes.RANGE);
    expect(existsSync(never)).toBe(false); // refused before the file was created
    expect((await rejected(LogWriter.append(path, { superPolicy: { every: 1.5 } }))).code).toBe(ErrorCodes.RANGE);
    expect((await rejected(LogWriter.append(join(testDataDir, "bad/bad-magic.log")))).code).toBe(ErrorCodes.BAD_MAGIC);
    const replaced = await LogWriter.create(path, { sectorSize: 4096, overwrite: true });
    await replaced.close();
    expect(read(path).entries).toEqual([]);
  });
});

describe("LogWriter: superblock policies", () => {
  /** nr_entries on disk after each append of `steps`, then after close. */
  async function superAfterEach(policy: SuperPolicy, steps: ((w: LogWriter) => Promise<number>)[]): Promise<number[]> {
    const path = fresh();
    const w = await LogWriter.create(path, { sectorSize: 512, superPolicy: policy });
    const seen: number[] = [nrEntriesOnDisk(path)];
    for (const step of steps) {
      await step(w);
      const now = nrEntriesOnDisk(path);
      seen.push(now);
      // Whatever the superblock declares is on disk, whole: a strict read finds it all.
      const log = LogFile.openSync(path);
      try {
        const c = log.cursor();
        let count = 0;
        while (c.next() !== undefined) count++;
        expect(count).toBe(now);
      } finally {
        log.close();
      }
    }
    await w.close();
    seen.push(nrEntriesOnDisk(path));
    return seen;
  }

  const W = (w: LogWriter) => w.write(0n, new Uint8Array(512));
  const FW = (w: LogWriter) => w.write(0n, new Uint8Array(512), { flags: FUA });
  const F = (w: LogWriter) => w.flush();
  const M = (w: LogWriter) => w.mark("m");

  it("kernel policy (onFua + onMark): rewritten after FUA and MARK entries only, not after FLUSH", async () => {
    expect(await superAfterEach({ onFua: true, onMark: true }, [W, F, FW, W, M, W, F])).toEqual([0, 0, 0, 3, 3, 5, 5, 5, 7]);
  });

  it("QEMU policy (onFlush + every 3): rewritten after FLUSH entries and every 3rd entry", async () => {
    expect(await superAfterEach({ onFlush: true, every: 3 }, [W, W, W, W, F, W, W, W, W])).toEqual([0, 0, 0, 3, 3, 5, 6, 6, 6, 9, 9]);
  });

  it("no policy: only close() writes the superblock (unless told not to)", async () => {
    expect(await superAfterEach({}, [W, F, FW, M])).toEqual([0, 0, 0, 0, 0, 4]);
    const path = fresh();
    const w = await LogWriter.create(path, { sectorSize: 512 });
    await W(w);
    await w.writeSuper();
    await W(w);
    await w.close({ super: false });
    const { entries, nrEntries } = read(path);
    expect([nrEntries, entries.map((e) => e.tail)]).toEqual([1n, [false, true]]);
  });
});

describe("LogWriter.append", () => {
  it("keeps the tail and appends after it (and then declares it)", async () => {
    const path = fresh("append");
    copyFileSync(join(testDataDir, "samples/tail-entries.log"), path);
    const before = read(path).entries;
    const w = await LogWriter.append(path);
    expect([w.entries, w.declared, w.offset]).toEqual([5, 2, before.at(-1)!.nextOffset]);
    expect(await w.mark("appended")).toBe(5);
    await w.close();
    const after = read(path);
    expect(after.nrEntries).toBe(6n);
    expect(after.entries.slice(0, 5)).toEqual(before.map((e) => ({ ...e, tail: false })));
    expect(after.entries[5]!.mark).toBe("appended");
  });

  it("with keepTail: false (as QEMU's log-append), overwrites the tail and leaves no stale entry readable after the new end", async () => {
    const path = fresh("append-notail");
    copyFileSync(join(testDataDir, "samples/tail-entries.log"), path);
    const before = read(path).entries;
    const w = await LogWriter.append(path, { keepTail: false });
    expect([w.entries, w.offset]).toEqual([2, before[2]!.offset]);
    expect(await w.flush()).toBe(2);
    await w.close();
    const after = read(path);
    expect(after.nrEntries).toBe(3n);
    expect(after.entries.map((e) => [e.kind, e.tail])).toEqual([["write", false], ["write", false], ["flush", false]]);
    // The old tail's bytes are still in the file past the new end, but the header block
    // right after the last entry was zeroed, so they cannot pass for a tail.
    expect(after.end).toMatchObject({ reason: "invalid", offset: before[2]!.offset + 512 });
  });

  it("appends over garbage after the last entry, and an empty or missing file becomes a new log", async () => {
    const path = fresh("append-garbage");
    copyFileSync(join(testDataDir, "bad/garbage-after-last-entry.log"), path);
    const w = await LogWriter.append(path);
    expect(w.entries).toBe(2);
    await w.write(1n, randomBytes(512, 9));
    await w.close();
    expect(read(path).entries.map((e) => e.index)).toEqual([0, 1, 2]);

    const empty = fresh("append-empty");
    writeFileSync(empty, new Uint8Array(0));
    const e = await LogWriter.append(empty, { sectorSize: 4096 });
    await e.flush();
    await e.close();
    expect(read(empty)).toMatchObject({ nrEntries: 1n, end: { reason: "eof", offset: 8192 } });
    const missing = await LogWriter.append(fresh("append-missing"));
    expect(missing.sectorSize).toBe(512);
    await missing.close();
  });
});

describe("LogWriter: concurrent appends", () => {
  it("get distinct slots in call order, whatever their sizes", async () => {
    const path = fresh("concurrent");
    const w = await LogWriter.create(path, { sectorSize: 512, bufferSize: 16 << 10, superPolicy: { onFlush: true, every: 7 } });
    const sizes = Array.from({ length: 300 }, (_, i) => [1, 2, 64, 0, 1, 33][i % 6]!);
    const calls = sizes.map((s, i) => {
      if (s === 0) return i % 4 === 0 ? w.flush() : w.mark(`m${i}`);
      return w.write(BigInt(i), randomBytes(s * 512, i + 1));
    });
    expect(await Promise.all(calls)).toEqual(sizes.map((_, i) => i));
    await w.close();
    const { entries, nrEntries, end } = read(path);
    expect([nrEntries, end.reason, entries.length]).toEqual([300n, "eof", 300]);
    for (const [i, e] of entries.entries()) {
      const s = sizes[i]!;
      if (s === 0) expect(e.kind).toBe(i % 4 === 0 ? "flush" : "mark");
      else {
        expect(e.sector).toBe(BigInt(i));
        expect(sameBytes(e.data!, randomBytes(s * 512, i + 1))).toBe(true);
      }
    }
  });
});

describe("QEMU accepts what we write", () => {
  for (const S of [512, 4096]) {
    it(`qemu-io log-append=on appends to a ${S}-byte-sector log made by LogWriter, and we read QEMU's entries after ours, exactly`, async () => {
      const dir = join(tmp.path, `qemu-append-${S}`);
      mkdirSync(dir);
      const path = join(dir, "qemu.log");
      const w = await LogWriter.create(path, { sectorSize: S, superPolicy: { onFua: true, onMark: true } });
      await w.write(8n, randomBytes(2 * S, 11));
      await w.discard(100n, 4n);
      await w.flush();
      await w.mark("ours");
      await w.write(16n, randomBytes(S, 12), { flags: FUA });
      await w.close();
      const ours = read(path).entries;
      // writeback: only the explicit flush and the one at close become FLUSH entries.
      qemuLog({ dir, append: true, cache: "writeback", commands: ["write -P 0x5a 64k 8k", "discard 1M 64k", "flush", "write -P 0x6b 2M 4k"] });
      const after = read(path);
      expect(after.nrEntries).toBe(10n);
      expect(after.end.reason).toBe("eof");
      expect(after.entries.slice(0, 5)).toEqual(ours);
      const qemu = after.entries.slice(5).map((e) => [e.kind, e.sector, e.nrSectors, e.flags, e.dataLen, e.tail, e.data === undefined ? null : [e.data.length, new Set(e.data)]]);
      expect(qemu).toEqual([
        ["write", BigInt((64 << 10) / S), BigInt((8 << 10) / S), 0n, 0n, false, [8 << 10, new Set([0x5a])]],
        ["discard", BigInt((1 << 20) / S), BigInt((64 << 10) / S), DISCARD, 0n, false, null],
        ["flush", 0n, 0n, FLUSH, 0n, false, null],
        ["write", BigInt((2 << 20) / S), BigInt((4 << 10) / S), 0n, 0n, false, [4 << 10, new Set([0x6b])]],
        ["flush", 0n, 0n, FLUSH, 0n, false, null],
      ]);
      // And we can append after QEMU in turn.
      const again = await LogWriter.append(path);
      await again.mark("after-qemu");
      await again.close();
      expect(read(path).entries.map((e) => e.mark ?? e.kind).slice(-2)).toEqual(["flush", "after-qemu"]);
    });
  }

  it("QEMU refuses to append to a log with METADATA entries (its flag mask is FLUSH|FUA|DISCARD|MARK)", async () => {
    const dir = join(tmp.path, "qemu-metadata");
    mkdirSync(dir);
    const path = join(dir, "qemu.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    await w.write(0n, new Uint8Array(512), { flags: METADATA });
    await w.close();
    expect(() => qemuLog({ dir, append: true, commands: ["write 0 512"] })).toThrow(/Invalid flags 0x10/);
  });
});
