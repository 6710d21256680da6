import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { LogFile, LogFlags, LogWriter, LwlogError } from "@lwlog/codec/core";
import { NbdBackendError } from "@lwlog/nbd";
import { makeTempDir, run } from "@lwlog/testkit";
import { LoggingDevice, zeroPieces, type DeviceEvent } from "./device.js";
import { fileBytes, firstDifference, pattern, readEntries, replayEntries, zeroImage } from "./test-helpers.js";

const tmp = makeTempDir("lwlog-driver-");
afterAll(() => tmp.cleanup());
let n = 0;
function paths(size = 1 << 20): { image: string; log: string } {
  n += 1;
  return { image: zeroImage(join(tmp.path, `img-${n}`), size), log: join(tmp.path, `log-${n}`) };
}

describe("LoggingDevice: what each request logs", () => {
  it("logs writes, FUA writes, discards, write-zeroes, flushes and marks as the format says", async () => {
    const p = paths();
    const dev = await LoggingDevice.open(p);
    expect(dev.size).toBe(1 << 20);
    expect(dev.blockSizes).toEqual({ minimum: 1, preferred: 512, maximum: 32 << 20 });
    await dev.write(4096, pattern(8192, 1), { fua: false });
    await dev.write(65536, pattern(4096, 2), { fua: true });
    await dev.trim(8192, 4096, { fua: false });
    await dev.writeZeroes(16384, 2048, { fua: false, noHole: true });
    await dev.flush();
    expect(await dev.mark("step-1")).toBe(5);
    const summary = await dev.close({ endMark: "lwlog-end" });
    expect(summary).toMatchObject({ entries: 7, newEntries: 7, declared: 7, marks: 2, lastMark: { name: "lwlog-end", entry: 6 } });

    const { declared, entries, end } = readEntries(p.log);
    expect(declared).toBe(7);
    expect(end).toBe("eof");
    expect(entries.map((e) => [e.kind, e.sector, e.nrSectors, e.flags, e.mark ?? null])).toEqual([
      ["write", 8n, 16n, 0n, null],
      ["write", 128n, 8n, LogFlags.FUA, null],
      ["discard", 16n, 8n, LogFlags.DISCARD, null],
      ["write", 32n, 4n, 0n, null],
      ["flush", 0n, 0n, LogFlags.FLUSH, null],
      ["mark", 0n, 0n, LogFlags.MARK, "step-1"],
      ["mark", 0n, 0n, LogFlags.MARK, "lwlog-end"],
    ]);
    expect(entries[0]!.data).toEqual(pattern(8192, 1));
    expect(entries[3]!.data!.every((b) => b === 0)).toBe(true);
    // The image holds what was written; replaying the log onto a zero image gives the same bytes.
    const image = fileBytes(p.image);
    expect(image.subarray(4096, 8192)).toEqual(pattern(8192, 1).subarray(0, 4096));
    expect(image.subarray(8192, 12288).every((b) => b === 0)).toBe(true); // discarded
    expect(firstDifference(replayEntries(p.log, 1 << 20), image)).toBe(-1);
  });

  it("widens unaligned writes to whole sectors by read-modify-write, holding the image as it now is", async () => {
    const p = paths();
    writeFileSync(p.image, pattern(1 << 20, 9));
    const before = fileBytes(p.image);
    const dev = await LoggingDevice.open(p);
    await dev.write(100, pattern(50, 3), { fua: false }); // inside sector 0
    await dev.write(1000, pattern(100, 4), { fua: false }); // across sectors 1 and 2
    await dev.write(4000, pattern(5000, 5), { fua: false }); // head and tail partial
    await dev.write(10240, pattern(700, 6), { fua: false }); // aligned start, partial tail
    await dev.close();
    const image = fileBytes(p.image);
    const expected = before.slice();
    expected.set(pattern(50, 3), 100);
    expected.set(pattern(100, 4), 1000);
    expected.set(pattern(5000, 5), 4000);
    expected.set(pattern(700, 6), 10240);
    expect(firstDifference(image, expected)).toBe(-1);
    const { entries } = readEntries(p.log);
    expect(entries.map((e) => [e.sector, e.nrSectors])).toEqual([
      [0n, 1n],
      [1n, 2n],
      [7n, 11n],
      [20n, 2n],
    ]);
    // Each entry holds whole sectors of the image as it was right after the write.
    for (const e of entries) {
      const at = Number(e.sector) * 512;
      expect(firstDifference(e.data!, expected.subarray(at, at + e.dataSize))).toBe(-1);
    }
  });

  it("with 4 KiB log sectors, units are 4 KiB and marks may be up to S−33 bytes", async () => {
    const p = paths();
    const dev = await LoggingDevice.open({ ...p, sectorSize: 4096 });
    expect(dev.blockSizes.preferred).toBe(4096);
    await dev.write(512, pattern(512, 1), { fua: false });
    await expect(dev.mark("x".repeat(4064))).rejects.toThrow(/too long for 4096-byte log sectors \(at most 4063\)/);
    expect(await dev.mark("y".repeat(4063))).toBe(1);
    await dev.close();
    const { sectorSize, entries } = readEntries(p.log);
    expect(sectorSize).toBe(4096);
    expect(entries[0]).toMatchObject({ sector: 0n, nrSectors: 1n, dataSize: 4096 });
    expect(entries[1]!.mark).toBe("y".repeat(4063));
  });

  it("works at the smallest and largest sector sizes (32 B: no mark fits; 8 MiB: one sector per write)", async () => {
    const small = paths();
    const dev32 = await LoggingDevice.open({ ...small, sectorSize: 32 });
    await dev32.write(40, pattern(10, 1), { fua: false });
    await expect(dev32.mark("a")).rejects.toThrow(/32-byte log sectors hold no mark name/);
    const s32 = await dev32.close({ endMark: "lwlog-end" });
    expect(s32).toMatchObject({ entries: 1, marks: 0 });
    expect(readEntries(small.log).entries.map((e) => [e.sector, e.nrSectors])).toEqual([[1n, 1n]]);

    const big = paths(16 << 20);
    const dev8m = await LoggingDevice.open({ ...big, sectorSize: 8 << 20 });
    expect(dev8m.blockSizes).toEqual({ minimum: 1, preferred: 8 << 20, maximum: 32 << 20 });
    await dev8m.write(9 << 20, pattern(4096, 2), { fua: false });
    await dev8m.close({ endMark: "lwlog-end" });
    const { sectorSize, entries } = readEntries(big.log);
    expect(sectorSize).toBe(8 << 20);
    expect(entries.map((e) => [e.kind, e.sector, e.nrSectors, e.dataSize])).toEqual([
      ["write", 1n, 1n, 8 << 20],
      ["mark", 0n, 0n, 0],
    ]);
    expect(firstDifference(entries[0]!.data!.subarray(1 << 20, (1 << 20) + 4096), pattern(4096, 2))).toBe(-1);
    expect(firstDifference(replayEntries(big.log, 16 << 20), fileBytes(big.image))).toBe(-1);
  });

  it("serves a block device as the image (a loop device)", async () => {
    const backing = zeroImage(join(tmp.path, "loop-backing"), 4 << 20);
    const loop = run("losetup", ["-f", "--show", backing]).stdout.trim();
    try {
      const log = join(tmp.path, "loop.log");
      const dev = await LoggingDevice.open({ image: loop, log });
      expect(dev.size).toBe(4 << 20);
      await dev.write(1000, pattern(3000, 5), { fua: true });
      expect(firstDifference((await dev.read(1000, 3000)), pattern(3000, 5))).toBe(-1);
      await dev.close();
      expect(readEntries(log).entries.map((e) => [e.sector, e.nrSectors, e.flags])).toEqual([[1n, 7n, LogFlags.FUA]]);
    } finally {
      run("losetup", ["-d", loop], { check: false });
    }
    expect(firstDifference(fileBytes(backing).subarray(1000, 4000), pattern(3000, 5))).toBe(-1);
  });

  it("splits unaligned write-zeroes as QEMU's block layer does", () => {
    const S = 512;
    const shape = (o: number, l: number) => zeroPieces(o, l, S).map((q) => [q.start, q.end, q.rmw]);
    expect(shape(4096, 4096)).toEqual([[4096, 8192, false]]);
    expect(shape(100, 5000)).toEqual([
      [0, 512, true],
      [512, 4608, false],
      [4608, 5120, true],
    ]);
    expect(shape(10, 20)).toEqual([[0, 512, true]]);
    expect(shape(0, 100)).toEqual([[0, 512, true]]);
    expect(shape(500, 24)).toEqual([[0, 1024, true]]); // head and tail in two sectors: one write of both
    expect(shape(500, 600)).toEqual([
      [0, 512, true],
      [512, 1024, false],
      [1024, 1536, true],
    ]);
    expect(shape(1024, 700)).toEqual([
      [1024, 1536, false],
      [1536, 2048, true],
    ]);
  });

  it("logs write-zeroes as a write of zeros, or as a discard with zeroesAsDiscard; the image gets zeros either way", async () => {
    for (const zeroesAsDiscard of [false, true]) {
      const p = paths();
      writeFileSync(p.image, pattern(1 << 20, 2));
      const dev = await LoggingDevice.open({ ...p, zeroesAsDiscard });
      await dev.writeZeroes(100, 5000, { fua: false, noHole: false });
      await dev.close();
      const image = fileBytes(p.image);
      expect(image.subarray(100, 5100).every((b) => b === 0)).toBe(true);
      expect(image[99]).toBe(pattern(1 << 20, 2)[99]);
      expect(image[5100]).toBe(pattern(1 << 20, 2)[5100]);
      const { entries } = readEntries(p.log);
      expect(entries.map((e) => [e.kind, e.sector, e.nrSectors])).toEqual([
        ["write", 0n, 1n],
        [zeroesAsDiscard ? "discard" : "write", 1n, 8n],
        ["write", 9n, 1n],
      ]);
      expect(entries[0]!.data).toEqual(image.subarray(0, 512));
      expect(entries[2]!.data).toEqual(image.subarray(4608, 5120));
    }
  });

  it("discards only the whole sectors inside an unaligned discard, and logs nothing for less than a sector", async () => {
    const p = paths();
    writeFileSync(p.image, pattern(1 << 20, 4));
    const dev = await LoggingDevice.open(p);
    await dev.trim(100, 300, { fua: false });
    await dev.trim(1000, 3000, { fua: false });
    await dev.close();
    const { entries } = readEntries(p.log);
    expect(entries.map((e) => [e.kind, e.sector, e.nrSectors])).toEqual([["discard", 2n, 5n]]);
    const image = fileBytes(p.image);
    expect(image.subarray(1024, 3584).every((b) => b === 0)).toBe(true);
    expect(firstDifference(image.subarray(0, 1024), pattern(1 << 20, 4).subarray(0, 1024))).toBe(-1);
  });

  it("discards and zeroes a sparse image without filling it in", async () => {
    n += 1;
    const p = { image: join(tmp.path, `sparse-${n}`), log: join(tmp.path, `sparse-log-${n}`) };
    writeFileSync(p.image, "");
    run("truncate", ["-s", "256M", p.image]);
    const dev = await LoggingDevice.open(p);
    await dev.write(4096, pattern(8192, 3), { fua: false });
    await dev.trim(0, 256 << 20, { fua: false }); // as mkfs does
    await dev.writeZeroes(0, 16 << 20, { fua: false, noHole: false });
    expect((await dev.read(0, 65536)).every((b) => b === 0)).toBe(true);
    await dev.close();
    // Only what was written holds blocks (8 KiB, rounded up by the filesystem), not 256 MiB.
    expect(statSync(p.image).blocks * 512).toBeLessThanOrEqual(64 << 10);
    expect(readEntries(p.log).entries.map((e) => [e.kind, e.nrSectors])).toEqual([
      ["write", 16n],
      ["discard", 524288n],
      ["write", 32768n],
    ]);
  });

  it("writes a run of zeros of any size without holding it in memory", async () => {
    const p = paths(64 << 20);
    const dev = await LoggingDevice.open(p);
    const rss = process.memoryUsage().arrayBuffers;
    await dev.writeZeroes(0, 64 << 20, { fua: false, noHole: true });
    expect(process.memoryUsage().arrayBuffers - rss).toBeLessThan(16 << 20);
    await dev.close();
    const { entries } = readEntries(p.log);
    expect(entries.map((e) => [e.kind, e.nrSectors])).toEqual([["write", 131072n]]);
    expect(entries[0]!.data!.every((b) => b === 0)).toBe(true);
  });
});

describe("LoggingDevice: durability and order", () => {
  it("acknowledges a flush only after image sync, FLUSH entry, log sync, superblock, log sync", async () => {
    const p = paths();
    const events: DeviceEvent[] = [];
    const dev = await LoggingDevice.open({ ...p, trace: (e) => events.push(e) });
    await dev.write(0, pattern(4096, 1), { fua: false });
    await dev.write(8192, pattern(4096, 2), { fua: false });
    events.length = 0;
    await dev.flush();
    expect(events.map((e) => (e.type === "entry" ? `entry:${e.kind}` : e.type === "super" ? `super:${e.declared}` : e.type))).toEqual([
      "barrier",
      "image-sync",
      "entry:flush",
      "barrier",
      "log-sync",
      "super:3",
      "log-sync",
    ]);
    // At acknowledgement the superblock on disk already counts the FLUSH entry and every entry before it.
    const log = LogFile.openSync(p.log);
    expect(log.declared).toBe(3);
    log.close();
    await dev.close();
  });

  it("makes a FUA write's entry durable and declared before acknowledging it", async () => {
    const p = paths();
    const events: DeviceEvent[] = [];
    const dev = await LoggingDevice.open({ ...p, trace: (e) => events.push(e) });
    await dev.write(0, pattern(4096, 1), { fua: false });
    await dev.write(4096, pattern(4096, 2), { fua: true });
    expect(events.map((e) => (e.type === "entry" ? `entry:${e.kind}${e.fua ? "+fua" : ""}` : e.type))).toEqual([
      "entry:write",
      "entry:write+fua",
      "image-sync",
      "log-sync",
      "super",
      "log-sync",
    ]);
    const log = LogFile.openSync(p.log);
    expect(log.declared).toBe(2);
    log.close();
    await dev.close();
    expect(readEntries(p.log).entries.filter((e) => e.kind === "flush")).toHaveLength(0);
  });

  it("makes a mark durable and declared by the superblock before returning its index", async () => {
    const p = paths();
    const events: DeviceEvent[] = [];
    const dev = await LoggingDevice.open({ ...p, trace: (e) => events.push(e) });
    await dev.write(0, pattern(4096, 1), { fua: false });
    expect(await dev.mark("m")).toBe(1);
    expect(events.map((e) => (e.type === "entry" ? `entry:${e.kind}` : e.type === "super" ? `super:${e.declared}` : e.type))).toEqual([
      "entry:write",
      "entry:mark",
      "log-sync",
      "super:2",
      "log-sync",
    ]);
    // On disk at return: the superblock counts the mark and the write before it.
    const log = LogFile.openSync(p.log);
    expect(log.declared).toBe(2);
    log.close();
    await dev.close();
  });

  it("logs a write that completes while a flush syncs the image after the FLUSH entry", async () => {
    const p = paths(96 << 20);
    const events: DeviceEvent[] = [];
    let late: Promise<void> | undefined;
    let dev: LoggingDevice | undefined = undefined;
    dev = await LoggingDevice.open({
      ...p,
      trace: (e) => {
        events.push(e);
        // Issued the moment the barrier rises, while lots of dirty data keeps the image sync busy.
        if (e.type === "barrier" && e.up && late === undefined) late = dev!.write(95 << 20, pattern(4096, 7), { fua: false });
      },
    });
    // 60 MiB: dirty enough to keep the image sync busy, below the write-behind threshold (64 MiB).
    for (let i = 0; i < 15; i++) await dev.write(i * (4 << 20), pattern(4 << 20, i), { fua: false });
    await dev.flush();
    await late;
    const down = events.find((e) => e.type === "barrier" && !e.up);
    expect(down).toMatchObject({ parked: 1 });
    await dev.close();
    const kinds = readEntries(p.log).entries.map((e) => `${e.kind}@${e.sector}`);
    expect(kinds.slice(15)).toEqual(["flush@0", `write@${(95 << 20) / 512}`]);
  });

  it("under concurrent load, no write is logged between a barrier and its FLUSH entry, and replay matches the image", async () => {
    const p = paths(8 << 20);
    const events: DeviceEvent[] = [];
    const dev = await LoggingDevice.open({ ...p, trace: (e) => events.push(e), superInterval: 7 });
    const ops: Promise<void>[] = [];
    for (let i = 0; i < 400; i++) {
      const at = ((i * 7919) % 2000) * 4096 + (i % 3) * 100;
      ops.push(dev.write(at, pattern(4096 + (i % 5) * 333, i), { fua: i % 17 === 0 }));
      if (i % 50 === 25) ops.push(dev.flush());
      if (i % 61 === 0) ops.push(dev.writeZeroes(((i * 31) % 2000) * 4096, 8192, { fua: false, noHole: true }));
    }
    await Promise.all(ops);
    await dev.close();
    let barrier = false;
    for (const e of events) {
      if (e.type === "barrier") barrier = e.up;
      if (barrier && e.type === "entry") expect(e.kind).toBe("flush");
    }
    expect(firstDifference(replayEntries(p.log, 8 << 20), fileBytes(p.image))).toBe(-1);
  });

  it("places a mark after every request acknowledged before it was asked for, and before every request sent after it returned", async () => {
    const p = paths(8 << 20);
    const dev = await LoggingDevice.open(p);
    let seq = 0;
    const acked = new Map<number, number>(); // sector -> ack sequence number
    const issuedAfterMark = new Set<number>();
    let markAsked = -1;
    let markDone = false;
    let nextSector = 0;
    let reached40!: () => void;
    const after40 = new Promise<void>((r) => (reached40 = r));
    const worker = async (w: number): Promise<void> => {
      // At least 60 writes each, and 5 more once the mark has returned.
      for (let i = 0, after = 0; i < 60 || after < 5; i++) {
        const sector = nextSector;
        nextSector += 8;
        if (markDone) {
          issuedAfterMark.add(sector);
          after += 1;
        }
        await dev.write(sector * 512, pattern(4096, sector), { fua: (i + w) % 13 === 0 });
        acked.set(sector, seq++);
        if (seq === 40) reached40();
        if (i % 20 === 19) await dev.flush();
      }
    };
    const markTask = (async () => {
      await after40; // with 4 writers still going
      markAsked = seq;
      const index = await dev.mark("middle");
      markDone = true;
      return index;
    })();
    await Promise.all([worker(0), worker(1), worker(2), worker(3), markTask]);
    const markIndex = await markTask;
    await dev.close();
    const { entries } = readEntries(p.log);
    expect(entries[markIndex]!.mark).toBe("middle");
    const position = new Map(entries.filter((e) => e.kind === "write").map((e) => [Number(e.sector), e.index]));
    const before = [...acked].filter(([, s]) => s < markAsked).map(([sector]) => sector);
    expect(before.length).toBeGreaterThan(0);
    expect(issuedAfterMark.size).toBeGreaterThan(0);
    for (const sector of before) expect(position.get(sector)!).toBeLessThan(markIndex);
    for (const sector of issuedAfterMark) expect(position.get(sector)!).toBeGreaterThan(markIndex);
  });

  it("rewrites the superblock every N entries (superInterval)", async () => {
    const p = paths();
    const events: DeviceEvent[] = [];
    const dev = await LoggingDevice.open({ ...p, superInterval: 3, trace: (e) => events.push(e) });
    for (let i = 0; i < 7; i++) await dev.write(i * 512, pattern(512, i), { fua: false });
    // The rewrites run in the background: wait for the second to finish (no request waits for them).
    await vi.waitFor(() => expect(events.filter((e) => e.type === "log-sync").length).toBe(4), { timeout: 10_000, interval: 10 });
    // One rewrite per 3 entries; one that starts while another runs declares what is there by then.
    const declared = events.filter((e) => e.type === "super").map((e) => (e as { declared: number }).declared);
    expect(declared).toHaveLength(2);
    expect(declared[0]).toBeGreaterThanOrEqual(3);
    expect(declared[1]).toBeGreaterThanOrEqual(6);
    expect(LogFile.openSync(p.log).declared).toBe(declared[1]);
    await dev.close();
  });
});

describe("LoggingDevice: opening", () => {
  it("appends to an existing log, keeping entries past its declared count, with its sector size", async () => {
    const p = paths();
    const w = await LogWriter.create(p.log, { sectorSize: 1024 });
    await w.write(3n, pattern(1024, 1));
    await w.writeSuper();
    await w.write(5n, pattern(2048, 2)); // past the declared count
    await w.close({ super: false });
    expect(LogFile.openSync(p.log).declared).toBe(1);

    await expect(LoggingDevice.open({ ...p, append: true, sectorSize: 512 })).rejects.toThrow(/1024-byte sectors, not 512/);
    const dev = await LoggingDevice.open({ ...p, append: true });
    expect(dev.sectorSize).toBe(1024);
    await dev.write(0, pattern(1024, 3), { fua: false });
    const s = await dev.close({ endMark: "lwlog-end" });
    expect(s).toMatchObject({ entries: 4, newEntries: 2 });
    const { declared, entries } = readEntries(p.log);
    expect(declared).toBe(4);
    expect(entries.map((e) => [e.kind, e.sector])).toEqual([
      ["write", 3n],
      ["write", 5n],
      ["write", 0n],
      ["mark", 0n],
    ]);
  });

  it("refuses an existing log without append, a bad sector size and an image that is not whole sectors", async () => {
    const p = paths();
    writeFileSync(p.log, "not empty");
    await expect(LoggingDevice.open(p)).rejects.toMatchObject({ code: "LWLOG_EXISTS" });
    const q = paths();
    await expect(LoggingDevice.open({ ...q, sectorSize: 1000 })).rejects.toMatchObject({ code: "LWLOG_BAD_SECTOR_SIZE" });
    await expect(LoggingDevice.open({ ...q, sectorSize: 16 << 20 })).rejects.toMatchObject({ code: "LWLOG_BAD_SECTOR_SIZE" });
    writeFileSync(q.image, new Uint8Array(1000));
    await expect(LoggingDevice.open(q)).rejects.toThrow(/1000 bytes, not a whole number of 512-byte log sectors/);
    expect(existsSync(q.log)).toBe(false);
    await expect(LoggingDevice.open({ image: join(tmp.path, "missing"), log: q.log })).rejects.toMatchObject({ code: "LWLOG_NOT_FOUND" });
    // An empty log file is taken as a new log.
    writeFileSync(q.log, "");
    writeFileSync(q.image, new Uint8Array(4096));
    const dev = await LoggingDevice.open(q);
    await dev.close();
    expect(readEntries(q.log).declared).toBe(0);
  });

  it("refuses marks that are empty, hold a NUL or are too long, and requests after close", async () => {
    const p = paths();
    const dev = await LoggingDevice.open(p);
    await expect(dev.mark("")).rejects.toMatchObject({ code: "LWLOG_BAD_MARK" });
    await expect(dev.mark("a\0b")).rejects.toMatchObject({ code: "LWLOG_BAD_MARK" });
    await expect(dev.mark("é".repeat(240))).rejects.toThrow(/480 bytes, too long for 512-byte log sectors \(at most 479\)/);
    expect(await dev.mark("é".repeat(239))).toBe(0);
    await dev.close();
    await expect(dev.write(0, new Uint8Array(512), { fua: false })).rejects.toMatchObject({ errno: "ESHUTDOWN" });
  });
});

describe("LoggingDevice: when the log cannot be written", () => {
  const mnt = join(tmp.path, "small");
  afterAll(() => {
    run("umount", [mnt], { check: false });
  });

  it("fails every later write and flush with EIO, keeps serving reads, and leaves a valid log", async () => {
    run("mkdir", ["-p", mnt]);
    run("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]);
    const p = { image: zeroImage(join(tmp.path, "full-img"), 4 << 20), log: join(mnt, "log") };
    const events: DeviceEvent[] = [];
    const dev = await LoggingDevice.open({ ...p, trace: (e) => events.push(e) });
    let failed: unknown;
    for (let i = 0; i < 64 && failed === undefined; i++) {
      try {
        await dev.write(i * 65536, pattern(65536, i), { fua: false });
        await dev.flush();
      } catch (err) {
        failed = err;
      }
    }
    expect(failed).toBeInstanceOf(NbdBackendError);
    expect((failed as NbdBackendError).errno).toBe("EIO");
    expect(events.some((e) => e.type === "failed")).toBe(true);
    await expect(dev.write(0, new Uint8Array(512), { fua: false })).rejects.toMatchObject({ errno: "EIO" });
    await expect(dev.flush()).rejects.toMatchObject({ errno: "EIO" });
    expect((await dev.read(0, 65536)).length).toBe(65536);
    expect(dev.status().failure).toMatch(/write the log|no space/i);
    await expect(dev.close()).rejects.toBeInstanceOf(LwlogError);
    // What the superblock declares is whole and readable.
    const log = LogFile.openSync(p.log);
    const c = log.cursor();
    while (c.next() !== undefined);
    expect(c.end!.reason).toBe("declared");
    log.close();
  });
});
