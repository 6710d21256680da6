import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogFlags, LogWriter, LwlogError, encodeSuper } from "@lwlog/codec";
import { kernelLogs, makeTempDir, qemuCrashLog, randomBytes, run } from "@lwlog/testkit";
import { ConvertError, convertLog } from "./convert.js";
import { replayPoints } from "./test-support.js";

const tmp = makeTempDir("lwlog-convert-");
afterAll(() => tmp.cleanup());
const p = (name: string) => join(tmp.path, name);

/** Entries of a log as plain headers (and mark names), for comparing two logs. */
function headers(path: string, tail = false): { sector: bigint; nrSectors: bigint; flags: bigint; dataLen: bigint; mark?: string }[] {
  const log = LogFile.openSync(path);
  try {
    const out = [];
    const c = log.cursor({ tail });
    for (let e = c.next(); e !== undefined; e = c.next()) {
      out.push({ sector: e.sector, nrSectors: e.nrSectors, flags: e.flags, dataLen: e.dataLen, ...(e.mark !== undefined ? { mark: e.mark } : {}) });
    }
    return out;
  } finally {
    log.close();
  }
}

/** No temporary files left next to the outputs. */
function noTempFiles(): void {
  expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
}

describe("kernel logs between sector sizes replay to the manifest's hashes at every mark", () => {
  for (const k of kernelLogs().filter((l) => l.logical_sector_size === 4096)) {
    it(`${k.file}: 4096 → 512 → 4096`, async () => {
      const down = p(`${k.file}.512.log`);
      const s = await convertLog(k.path, down, { sectorSize: 512, truncateMarks: true });
      expect(s.entriesOut).toBe(k.entries);
      const long = k.marks.filter((m) => Buffer.byteLength(m.name) > 479);
      expect(s.marksTruncated.map((m) => m.entry)).toEqual(long.map((m) => m.entry_index));
      const downPoints = replayPoints(down, p("k.img"), k.data_device_bytes, { at: "marks" });
      // Each mark is found by its entry index: the conversion keeps indexes, and a long name was cut.
      expect(downPoints.map((x) => x.index)).toEqual(k.marks.map((m) => m.entry_index));
      expect(downPoints.map((x) => x.sha256)).toEqual(k.marks.map((m) => m.sha256));

      const up = p(`${k.file}.back.log`);
      await convertLog(down, up, { sectorSize: 4096 });
      expect(replayPoints(up, p("k.img"), k.data_device_bytes, { at: "marks" }).map((x) => x.sha256)).toEqual(k.marks.map((m) => m.sha256));
      // Down and up again is the original, but for the cut mark names.
      const a = headers(k.path);
      const b = headers(up);
      expect(b.length).toBe(a.length);
      for (let i = 0; i < a.length; i++) {
        if (long.some((m) => m.entry_index === i)) {
          expect(b[i]!.dataLen).toBe(479n);
          expect(a[i]!.mark!.startsWith(b[i]!.mark!)).toBe(true);
        } else {
          expect(b[i], `entry ${i}`).toEqual(a[i]);
        }
      }
      if (long.length === 0) expect(readFileSync(up).equals(readFileSync(k.path))).toBe(true);
    });
  }

  for (const k of kernelLogs().filter((l) => l.logical_sector_size === 512)) {
    it(`${k.file}: 512 → 4096 with --base-image (read-modify-write of partial sectors)`, async () => {
      const zeros = p("zeros-64m.img");
      if (!existsSync(zeros)) writeFileSync(zeros, Buffer.alloc(k.data_device_bytes));
      const up = p(`${k.file}.4k.log`);
      const s = await convertLog(k.path, up, { sectorSize: 4096, baseImage: zeros });
      expect(LogFile.openSync(up).sectorSize).toBe(4096);
      const points = replayPoints(up, p("k.img"), k.data_device_bytes, { at: "marks" });
      expect(points.map((x) => x.name)).toEqual(k.marks.map((m) => m.name));
      expect(points.map((x) => x.sha256)).toEqual(k.marks.map((m) => m.sha256));
      if (k.workload === "raw") expect(s.widenedWrites, "the raw workload has single-sector writes").toBeGreaterThan(0);
    });
  }
});

/**
 * A small log with S-byte sectors on a `device`-byte target: writes and discards at random
 * sector offsets and lengths, flushes, marks. With `aligned`, every range is whole 4 KiB.
 */
async function syntheticLog(path: string, S: number, device: number, seed: number, aligned: boolean): Promise<void> {
  rmSync(path, { force: true });
  const w = await LogWriter.create(path, { sectorSize: S });
  const rnd = randomBytes(4096, seed);
  let r = 0;
  const next = (n: number) => {
    const v = (rnd[r % rnd.length]! | (rnd[(r + 1) % rnd.length]! << 8) | (rnd[(r + 2) % rnd.length]! << 16)) >>> 0;
    r += 3;
    return v % n;
  };
  const unit = aligned ? 4096 / S : 1;
  const sectors = device / S;
  for (let i = 0; i < 120; i++) {
    const nr = (1 + next(8)) * unit;
    const sector = Math.floor(next(sectors - nr) / unit) * unit;
    const what = next(10);
    if (what < 6) await w.write(BigInt(sector), randomBytes(nr * S, seed * 1000 + i), { flags: what === 0 ? LogFlags.FUA : what === 1 ? LogFlags.METADATA : 0n });
    else if (what < 8) await w.discard(BigInt(sector), BigInt(nr));
    else if (what === 8) await w.flush();
    else await w.mark(`m${i}`);
  }
  await w.close();
}

describe("conversions give logs whose replays match the original's at every mark and flush", () => {
  const device = 1 << 20;
  for (const seed of [1, 2, 3]) {
    it(`4096 → 512 → 4096 (synthetic log ${seed}); 512 → 4096 with a base image`, async () => {
      const orig = p(`syn-${seed}.log`);
      await syntheticLog(orig, 4096, device, seed, true);
      const want = replayPoints(orig, p("s.img"), device);
      expect(want.length).toBeGreaterThan(5);
      const down = p(`syn-${seed}.512.log`);
      await convertLog(orig, down, { sectorSize: 512 });
      expect(replayPoints(down, p("s.img"), device)).toEqual(want);
      const up = p(`syn-${seed}.4096.log`);
      await convertLog(down, up, { sectorSize: 4096 });
      expect(readFileSync(up).equals(readFileSync(orig))).toBe(true);

      // Down to the smallest sector size there is (32 bytes: mark names do not fit, and are cut).
      if (seed === 1) {
        const tiny = p(`syn-${seed}.32.log`);
        const t = await convertLog(orig, tiny, { sectorSize: 32, truncateMarks: true });
        expect(t.marksTruncated.length).toBe(want.filter((x) => x.kind === "mark").length);
        expect(replayPoints(tiny, p("s.img"), device).map(({ kind, sha256 }) => ({ kind, sha256 }))).toEqual(want.map(({ kind, sha256 }) => ({ kind, sha256 })));
      }

      // Unaligned writes and discards on 512-byte sectors, onto a device that is not zeros.
      const odd = p(`syn-${seed}-odd.log`);
      await syntheticLog(odd, 512, device, seed + 10, false);
      const base = p("base.img");
      writeFileSync(base, randomBytes(device, seed + 99));
      const oddWant = replayPoints(odd, p("s.img"), device, { base });
      const widened = p(`syn-${seed}-odd.4096.log`);
      const s = await convertLog(odd, widened, { sectorSize: 4096, baseImage: base });
      expect(s.widenedWrites + s.splitDiscards).toBeGreaterThan(0);
      const got = replayPoints(widened, p("s.img"), device, { base });
      // Split discards add entries, so indexes move; the sequence of flushes and marks and
      // the image at each of them stay the same.
      expect(got.map(({ kind, name, sha256 }) => ({ kind, name, sha256 }))).toEqual(oddWant.map(({ kind, name, sha256 }) => ({ kind, name, sha256 })));
      noTempFiles();
    });
  }
});

describe("large entries: their data copied by the kernel (with the addon) or read into the output buffer", () => {
  it("512 → 4096 → 512: every entry's data arrives, whatever its size, between small entries", async () => {
    const { addonPath, native } = await import("@lwlog/native");
    // The path this run takes: the kernel's copy where the addon is built (always in CI), else
    // reads; the vitest project "read" sets LWLOG_NO_NATIVE.
    const kernelCopy = !process.env.LWLOG_NO_NATIVE && (process.env.CI === "true" || existsSync(addonPath));
    expect(native.available, `native.reason: ${native.reason}`).toBe(kernelCopy);
    const orig = p("big-entries.log");
    const w = await LogWriter.create(orig, { sectorSize: 512 });
    const sizes = [64 << 10, 4096, 1 << 20, 60 << 10, 3 << 20, 8192, 128 << 10];
    for (let i = 0; i < 40; i++) {
      const n = sizes[i % sizes.length]!;
      await w.write(BigInt(i * 8192), randomBytes(n, i), { flags: i % 3 === 0 ? LogFlags.FUA : 0n });
      if (i % 4 === 0) await w.flush();
      if (i % 9 === 0) await w.discard(BigInt(i * 64), 64n);
    }
    await w.mark("end");
    await w.close();
    const up = p("big-entries.4096.log");
    const s = await convertLog(orig, up, { sectorSize: 4096 });
    expect(s.entriesOut).toBe(s.entriesIn);
    const down = p("big-entries.back.log");
    await convertLog(up, down, { sectorSize: 512 });
    expect(readFileSync(down).equals(readFileSync(orig))).toBe(true);
    // The 4096-byte log holds the same data, entry by entry.
    const a = LogFile.openSync(orig);
    const b = LogFile.openSync(up);
    try {
      const ca = a.cursor({ data: true });
      const cb = b.cursor({ data: true });
      let n = 0;
      for (let x = ca.next(), y = cb.next(); x !== undefined || y !== undefined; x = ca.next(), y = cb.next(), n++) {
        expect(y!.nrSectors * 8n).toBe(x!.nrSectors);
        expect(Buffer.from(y!.data ?? []).equals(Buffer.from(x!.data ?? [])), `entry ${n}`).toBe(true);
      }
      expect(n).toBe(s.entriesIn);
    } finally {
      a.close();
      b.close();
    }
    noTempFiles();
  });
});

describe("--base-image on a block device", () => {
  it("reads the device (a loop device over the image) like the file", async () => {
    const device = 1 << 20;
    const odd = p("dev-odd.log");
    await syntheticLog(odd, 512, device, 21, false);
    const base = p("dev-base.img");
    writeFileSync(base, randomBytes(device, 77));
    const fromFile = p("dev-from-file.log");
    await convertLog(odd, fromFile, { sectorSize: 4096, baseImage: base });
    const loop = run("losetup", ["--find", "--show", "--read-only", base]).stdout.trim();
    try {
      expect(loop).toMatch(/^\/dev\/loop\d+$/);
      const fromDevice = p("dev-from-device.log");
      const s = await convertLog(odd, fromDevice, { sectorSize: 4096, baseImage: loop });
      expect(s.baseImageUsed).toBe(true);
      expect(readFileSync(fromDevice).equals(readFileSync(fromFile))).toBe(true);
    } finally {
      run("losetup", ["-d", loop]);
    }
    // Not converting up: the image is not needed, and not read.
    const same = await convertLog(odd, p("dev-same.log"), { baseImage: base });
    expect(same.baseImageUsed).toBe(false);
  });
});

describe("what cannot be converted is an error naming the entry, and leaves no output", () => {
  it("an unaligned write going up without a base image", async () => {
    const odd = p("odd.log");
    await syntheticLog(odd, 512, 1 << 20, 5, false);
    const first = headers(odd).findIndex((h) => h.nrSectors > 0n && (h.sector % 8n !== 0n || h.nrSectors % 8n !== 0n));
    const out = p("odd-up.log");
    const err = await convertLog(odd, out, { sectorSize: 4096 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect((err as ConvertError).entry).toBe(first);
    expect((err as ConvertError).describe()).toMatch(/not whole 4096-byte sectors; give --base-image/);
    expect(existsSync(out)).toBe(false);
    noTempFiles();
  });

  it("a 4063-byte kernel mark going to 512-byte sectors, unless --truncate-marks", async () => {
    const k = kernelLogs().find((l) => l.file === "raw-4k.log")!;
    const m = k.marks.find((x) => Buffer.byteLength(x.name) === 4063)!;
    const out = p("raw-4k-512.log");
    const err = await convertLog(k.path, out, { sectorSize: 512 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect((err as ConvertError).entry).toBe(m.entry_index);
    expect((err as ConvertError).message).toMatch(/mark ".{40}…" is 4063 bytes; 512-byte sectors hold names of at most 479 bytes \(--truncate-marks/);
    expect(existsSync(out)).toBe(false);
    const s = await convertLog(k.path, out, { sectorSize: 512, truncateMarks: true });
    expect(s.marksTruncated).toEqual([{ entry: m.entry_index, outEntry: m.entry_index, bytes: 4063, keptBytes: 479, name: m.name.slice(0, 479) }]);
  });
});

describe("an output that cannot be created", () => {
  it("is named as given, not by its temporary file", async () => {
    // /proc takes no new files, whoever runs the test (root included).
    const err = await convertLog(kernelLogs()[0]!.path, "/proc/lwlog-convert-test.log", { sectorSize: 512, truncateMarks: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LwlogError);
    expect((err as LwlogError).file).toBe("/proc/lwlog-convert-test.log");
    expect((err as LwlogError).describe()).not.toMatch(/\.tmp/);
  });
});

describe("the tail and the superblock", () => {
  it("a QEMU log's tail: kept past the declared count, left out, or declared", async () => {
    const log = qemuCrashLog(p("qemu-tail"), 512, ["write -P 0x11 0 8k", "flush", "write -P 0x22 64k 4k", "discard 0 4k", "write -P 0x33 1M 16k"]);
    const all = headers(log, true);
    const declared = headers(log);
    expect(all.length).toBe(declared.length + 3);

    const kept = p("q-kept.log");
    const a = await convertLog(log, kept, { sectorSize: 4096 });
    expect([a.tailIn, a.nrEntriesOut, a.entriesOut, a.superblockFixed]).toEqual([3, declared.length, all.length, false]);
    expect(headers(kept).length).toBe(declared.length);
    expect(headers(kept, true).length).toBe(all.length);

    const dropped = p("q-dropped.log");
    const b = await convertLog(log, dropped, { tail: false });
    expect([b.tailDropped, b.entriesOut]).toEqual([3, declared.length]);
    expect(headers(dropped, true).length).toBe(declared.length);

    const fixed = p("q-fixed.log");
    const c = await convertLog(log, fixed, { fixSuperblock: true });
    expect([c.superblockFixed, c.nrEntriesOut]).toEqual([true, all.length]);
    expect(headers(fixed)).toEqual(all);
    // What a reader that trusts nr_entries (replay-log) now replays is everything QEMU logged.
    expect(replayPoints(fixed, p("q.img"), 16 << 20)).toEqual(replayPoints(log, p("q.img"), 16 << 20, { tail: true }));
  });

  it("a crashed kernel log: nr_entries lagging behind the entries, or ahead of them", async () => {
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    const bytes = readFileSync(k.path);
    const lagging = p("lagging.log");
    writeFileSync(lagging, Buffer.concat([encodeSuper({ nrEntries: 100n, sectorSize: 4096 }), bytes.subarray(4096)]));
    const fixed = p("lagging-fixed.log");
    const s = await convertLog(lagging, fixed, { fixSuperblock: true });
    expect([s.nrEntriesIn, s.nrEntriesOut]).toEqual([100n, k.entries]);
    expect(readFileSync(fixed).equals(bytes)).toBe(true);

    // Cut in the middle of an entry's data: the superblock declares entries that are not there.
    const cut = p("cut.log");
    const log = LogFile.openSync(k.path);
    const c = log.cursor();
    let e = c.next();
    for (let i = 0; i < 200; i++) e = c.next();
    log.close();
    writeFileSync(cut, bytes.subarray(0, e!.offset + 4096 + 100));
    const err = await convertLog(cut, p("cut-out.log")).catch((x: unknown) => x);
    expect(String((err as Error).message)).toMatch(/--fix-superblock converts the entries that are there/);
    const r = await convertLog(cut, p("cut-fixed.log"), { fixSuperblock: true });
    expect(r.nrEntriesOut).toBe(200);
    expect(headers(p("cut-fixed.log"))).toEqual(headers(k.path).slice(0, 200));
    noTempFiles();
  });
});
