import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir, qemuLog, requireTool, run } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import type { LogSummary } from "./info.js";
import { expectQemuLog, type QemuRun } from "./test-qemu-model.js";
import { SAMPLE, S, badLogs, sampleLog, type BadLog } from "./test-logs.js";

const tmp = makeTempDir("lwlog-info-");
afterAll(() => tmp.cleanup());

async function info(path: string): Promise<LogSummary> {
  const r = await runLwlog(["info", "--json", path]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as LogSummary;
}

describe("lwlog info on the kernel logs (test-data/kernel, Linux 6.1)", () => {
  for (const k of kernelLogs()) {
    it(`${k.file}: entries, flag counts and every mark of the manifest`, async () => {
      const s = await info(k.path);
      expect(s.sectorSize).toBe(k.superblock.sectorsize);
      expect(s.declaredEntries).toBe(k.superblock.nr_entries);
      expect(s.entries).toBe(k.entries);
      expect(s.tailEntries).toBe(0);
      expect(s.fileBytes).toBe(k.log_file_bytes);
      const f = k.flag_counts;
      expect(s.counts.flush).toBe(f.FLUSH ?? 0);
      expect(s.counts.fua).toBe(f.FUA ?? 0);
      expect(s.counts.discard).toBe(f.DISCARD ?? 0);
      expect(s.counts.mark).toBe(f.MARK ?? 0);
      expect(s.counts.metadata).toBe(f.METADATA ?? 0);
      expect(s.counts.none).toBe(f.NONE ?? 0);
      expect(s.marks.map((m) => ({ name: m.name, entry: m.entry }))).toEqual(k.marks.map((m) => ({ name: m.name, entry: m.entry_index })));
      // Every discard, mark and data-less flush is not a write; everything else with no flags is.
      expect(s.counts.write).toBeGreaterThanOrEqual(f.NONE ?? 0);
      expect(s.counts.write + (f.DISCARD ?? 0) + (f.MARK ?? 0)).toBeLessThanOrEqual(k.entries);
      // mkfs and the raw workload discard or write up to the end of the data device.
      expect(s.imageBytes).toBe(k.data_device_bytes);
      expect(s.maxByte).toBeLessThanOrEqual(k.data_device_bytes);
      expect(s.end).toMatchObject({ reason: "eof", trailingBytes: 0 });
    });
  }

  for (const k of kernelLogs().filter((l) => l.workload === "raw")) {
    it(`${k.file}: the raw workload's writes: plain writes and the one FUA write carry data, and the last sector is written`, async () => {
      const s = await info(k.path);
      // No METADATA in the raw workload, its flushes carry no data, so a write is a NONE entry or the FUA write.
      expect(s.counts.write).toBe((k.flag_counts.NONE ?? 0) + (k.flag_counts.FUA ?? 0));
      expect(s.maxByte).toBe(k.data_device_bytes);
      expect(s.lowestSector).toBe(0);
      expect(s.highestSector).toBe(k.data_device_bytes / k.superblock.sectorsize - 1);
    });
  }

  it("the text form names every fact", async () => {
    const k = kernelLogs().find((l) => l.file === "raw-512.log")!;
    const r = await runLwlog(["info", k.path]);
    expect(r.code).toBe(0);
    for (const want of [
      `log            ${k.path}, 3.5 MiB (${k.log_file_bytes} bytes)`,
      "version        1",
      "sector size    512 bytes",
      "declared       390 entries",
      "found          390 entries, 0 of them in the tail past the declared count",
      "kinds          359 write, 14 flush, 1 fua, 3 discard, 14 mark, 0 metadata (358 with no flags)",
      "sectors        0 to 131071: an image of at least 64.0 MiB (67108864 bytes)",
      "written up to  byte 67108864",
      "marks          14",
      "    389  3624960  dm-log-writes-end",
    ]) {
      expect(r.stdout).toContain(want);
    }
  });
});

describe("lwlog info on a block device", () => {
  it("reads a log on a loop device as it reads the file (size from sysfs)", async () => {
    const k = kernelLogs().find((l) => l.file === "raw-512.log")!;
    const losetup = requireTool("losetup");
    const dev = run(losetup, ["--find", "--show", "--read-only", k.path]).stdout.trim();
    try {
      expect(dev).toMatch(/^\/dev\/loop[0-9]+$/);
      const fromFile = await info(k.path);
      const fromDevice = await info(dev);
      expect({ ...fromDevice, file: k.path }).toEqual(fromFile);
      const marks = await runLwlog(["marks", "--json", dev]);
      expect((JSON.parse(marks.stdout) as unknown[]).length).toBe(k.marks.length);
      expect((await runLwlog(["check", dev])).code).toBe(0);
    } finally {
      run(losetup, ["--detach", dev], { check: false });
    }
  });
});

describe("lwlog info on QEMU logs", () => {
  const qemuRuns: QemuRun[] = [
    { sectorSize: 512, cache: "writeback", imageSize: 1 << 20, commands: ["write -P 1 0 4096", "flush", "write -z 8192 1024", "discard 16384 2048", "write -P 2 100000 3000"] },
    { sectorSize: 4096, imageSize: 1 << 20, commands: ["write -P 1 0 4096", "write -z 5000 10000", "discard 65536 8192"] },
    { sectorSize: 1024, cache: "unsafe", superInterval: 4, imageSize: 1 << 20, commands: ["write -P 1 0 1024", "write -P 2 4096 2048", "discard 8192 1024", "write -P 3 0 1024", "write -P 4 20000 100", "discard 30720 1024"] },
  ];
  qemuRuns.forEach((q, n) => {
    it(`counts, data and sectors follow from the qemu-io commands (${q.sectorSize}-byte sectors, ${q.cache ?? "writethrough"})`, async () => {
      const dir = join(tmp.path, `qemu-${n}`);
      mkdirSync(dir);
      const { log } = qemuLog({ dir, ...q, commands: q.commands });
      const want = expectQemuLog(q);
      const declared = want.entries.slice(0, want.declared);
      const s = await info(log);
      expect(s.declaredEntries).toBe(want.declared);
      expect(s.entries).toBe(want.entries.length);
      expect(s.tailEntries).toBe(want.entries.length - want.declared);
      const writes = declared.filter((e) => e.kind === "write");
      const discards = declared.filter((e) => e.kind === "discard");
      expect(s.counts).toMatchObject({
        write: writes.length,
        flush: declared.filter((e) => e.kind === "flush").length,
        discard: discards.length,
        fua: 0,
        mark: 0,
        metadata: 0,
        none: writes.length,
      });
      expect(s.tailCounts.write + s.tailCounts.discard + s.tailCounts.flush).toBe(s.tailEntries);
      expect(s.dataBytes).toBe(writes.reduce((a, e) => a + e.nrSectors * q.sectorSize, 0));
      const touched = [...writes, ...discards];
      expect(s.lowestSector).toBe(Math.min(...touched.map((e) => e.sector)));
      expect(s.highestSector).toBe(Math.max(...touched.map((e) => e.sector + e.nrSectors)) - 1);
      expect(s.imageBytes).toBe((Number(s.highestSector) + 1) * q.sectorSize);
      expect(s.maxByte).toBe(Math.max(...writes.map((e) => (e.sector + e.nrSectors) * q.sectorSize)));
      expect(s.marks).toEqual([]);
    });
  });
});

describe("lwlog info: the JSON keys", () => {
  it("has every key the issue names, with counts over the declared entries", async () => {
    const path = await sampleLog(tmp.path, "keys.log");
    const s = await info(path);
    expect(s).toMatchObject({
      sectorSize: S,
      declaredEntries: 6,
      entries: 6,
      tailEntries: 0,
      counts: { write: 2, flush: 1, fua: 1, discard: 1, mark: 2, metadata: 0, none: 1, unknown: 0 },
      marks: [
        { name: "one", entry: 2, offset: SAMPLE.offsets[2], tail: false },
        { name: "two", entry: 5, offset: SAMPLE.offsets[5], tail: false },
      ],
      dataBytes: 3 * S,
      lowestSector: 0,
      highestSector: 115,
      imageBytes: 116 * S,
      maxByte: 10 * S,
      fileBytes: SAMPLE.size,
      version: 1,
    });
  });

  it("300 000 marks (a tail mark among them): all listed, in memory a fraction of theirs (the built CLI, heap capped at 48 MB)", async () => {
    const { LogFlags, encodeEntryHeaderInto, encodeSuper } = await import("@lwlog/codec");
    const n = 300_000;
    const S64 = 64;
    const bytes = new Uint8Array(S64 * (n + 1));
    bytes.set(encodeSuper({ nrEntries: BigInt(n - 1), sectorSize: S64 }));
    const enc = new TextEncoder();
    for (let i = 0; i < n; i++) {
      const text = enc.encode(`mark-${i}`);
      encodeEntryHeaderInto(bytes, S64 * (i + 1), { sector: 0n, nrSectors: 0n, flags: LogFlags.MARK, dataLen: BigInt(text.length) }, S64, text);
    }
    const path = join(tmp.path, "many-marks.log");
    writeFileSync(path, bytes);
    const main = resolve(dirname(fileURLToPath(import.meta.url)), "../../dist/main.js");
    const cli = (args: string[]) => run(process.execPath, ["--max-old-space-size=48", main, ...args], { check: false, timeout: 60_000 });

    const json = cli(["info", "--json", path]);
    expect([json.status, json.stderr]).toEqual([0, ""]);
    const s = JSON.parse(json.stdout) as LogSummary;
    expect(json.stdout).toBe(JSON.stringify(s, null, 2) + "\n"); // the layout JSON.stringify gives
    expect([s.declaredEntries, s.entries, s.tailEntries, s.counts.mark, s.tailCounts.mark]).toEqual([n - 1, n, 1, n - 1, 1]);
    expect(s.marks).toHaveLength(n);
    expect(s.marks[0]).toEqual({ name: "mark-0", entry: 0, offset: S64, tail: false });
    expect(s.marks[n - 1]).toEqual({ name: `mark-${n - 1}`, entry: n - 1, offset: S64 * n, tail: true });
    expect(s.end).toEqual({ reason: "eof", offset: bytes.length, trailingBytes: 0 });

    const text = cli(["info", path]);
    expect([text.status, text.stderr]).toEqual([0, ""]);
    expect(text.stdout).toMatch(/^marks +300000$/m);
    expect(text.stdout).toContain(`  … and ${n - 20} more (lwlog marks lists them all)\n`);
  }, 120_000);

  it("a kernel FLUSH|FUA|METADATA entry counts as flush, fua and metadata; a FUA|METADATA write as write too", async () => {
    const { LogWriter } = await import("@lwlog/codec");
    const path = join(tmp.path, "kernel-flags.log");
    const w = await LogWriter.create(path, { sectorSize: S });
    await w.flush(2n | 16n, 77n);
    await w.write(77n, new Uint8Array(S), { flags: 2n | 16n });
    await w.close();
    const s = await info(path);
    expect(s.counts).toEqual({ write: 1, flush: 1, fua: 2, discard: 0, mark: 0, metadata: 2, none: 0, unknown: 0 });
    expect(s.lowestSector).toBe(77);
  });

  it("sectors past 2^53 come out as exact decimal strings", async () => {
    const { LogWriter } = await import("@lwlog/codec");
    const path = join(tmp.path, "far.log");
    const w = await LogWriter.create(path, { sectorSize: S });
    await w.write(5n, new Uint8Array(S));
    await w.discard(1n << 60n, 8n);
    await w.close();
    const s = await info(path);
    expect(s).toMatchObject({
      lowestSector: 5,
      highestSector: String((1n << 60n) + 7n),
      imageBytes: String(((1n << 60n) + 8n) * 512n),
      maxByte: 6 * S,
      dataBytes: S,
    });
  });

  it("tail marks are listed with tail: true, tail entries are counted apart", async () => {
    const { LogWriter } = await import("@lwlog/codec");
    const path = join(tmp.path, "tail.log");
    const w = await LogWriter.create(path, { sectorSize: S });
    await w.write(0n, new Uint8Array(S));
    await w.writeSuper(1);
    await w.mark("after");
    await w.discard(5n, 1n);
    await w.close({ super: false });
    const s = await info(path);
    expect(s).toMatchObject({ declaredEntries: 1, entries: 3, tailEntries: 2 });
    expect(s.counts).toMatchObject({ write: 1, mark: 0, discard: 0 });
    expect(s.tailCounts).toMatchObject({ write: 0, mark: 1, discard: 1 });
    expect(s.marks).toEqual([{ name: "after", entry: 1, offset: 3 * S, tail: true }]);
    expect(s.highestSector).toBe(0);
  });
});

/** Runs `lwlog info` and checks the exit code and that stderr names the file, entry and offset. */
async function expectBad(bad: BadLog, code: number): Promise<string> {
  const r = await runLwlog(["info", bad.path]);
  expect(r.code).toBe(code);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(/^lwlog: error: /);
  expect(r.stderr).toContain(bad.path);
  if (bad.entry !== undefined) expect(r.stderr).toContain(`entry ${bad.entry}`);
  if (bad.offset !== undefined) expect(r.stderr).toContain(`offset ${bad.offset}`);
  expect(r.stderr).toContain(`[${bad.code}]`);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  return r.stderr;
}

describe("lwlog info on bad input", () => {
  it("an empty file: exit 1", async () => {
    expect(await expectBad(await badLogs.empty(tmp.path), 1)).toContain("the file is empty");
  });

  it("a directory: exit 2", async () => {
    const dir = join(tmp.path, "a-dir");
    mkdirSync(dir);
    expect(await expectBad({ path: dir, code: "LWLOG_IS_DIRECTORY" }, 2)).toContain("is a directory");
  });

  it("a missing file: exit 2", async () => {
    expect(await expectBad({ path: join(tmp.path, "nope.log"), code: "LWLOG_NOT_FOUND" }, 2)).toContain("no such file");
  });

  it("a character device or a pipe with no writer: exit 2 at once, not \"empty\" and no hang (the built CLI)", () => {
    const main = resolve(dirname(fileURLToPath(import.meta.url)), "../../dist/main.js");
    const fifo = join(tmp.path, "pipe.log");
    run(requireTool("mkfifo"), [fifo]);
    for (const [path, what] of [
      ["/dev/zero", "a character device"],
      [fifo, "a pipe (FIFO)"],
    ] as const) {
      const r = run(process.execPath, [main, "info", path], { check: false, timeout: 20_000 });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(`lwlog: error: ${path}: is ${what}, not a regular file or block device: a log is read at offsets, which only those allow [LWLOG_NOT_A_FILE]\n`);
    }
  }, 60_000);

  it("a file it may not read: exit 2 (the built CLI run without root's DAC capabilities; root reads anything)", async () => {
    const main = resolve(dirname(fileURLToPath(import.meta.url)), "../../dist/main.js");
    const dir = join(tmp.path, "private");
    mkdirSync(dir);
    chmodSync(tmp.path, 0o755);
    chmodSync(dir, 0o755);
    const path = await sampleLog(dir, "secret.log");
    chmodSync(path, 0o000);
    let r;
    if (process.getuid?.() === 0) {
      // Still uid 0 (so the checkout, wherever CI put it, stays readable), but without the
      // capabilities that let root read a mode-000 file.
      const drop = "-dac_override,-dac_read_search";
      r = run(requireTool("setpriv"), [`--bounding-set=${drop}`, `--inh-caps=${drop}`, process.execPath, main, "info", path], { check: false });
    } else {
      r = await runLwlog(["info", path]).then((x) => ({ status: x.code, stdout: x.stdout, stderr: x.stderr }));
    }
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`lwlog: error: ${path}: permission denied while trying to open the log [LWLOG_PERMISSION]\n`);
  });

  it("a filesystem image given by mistake (mkfs.ext4): info, check and dump say it does not look like a log and what it looks like", async () => {
    const img = join(tmp.path, "disk.img");
    writeFileSync(img, "");
    run("truncate", ["-s", "64M", img]);
    run("mkfs.ext4", ["-q", "-F", img]);
    const what = `${img}: offset 0: does not look like a dm-log-writes log: it looks like an ext4 filesystem (superblock magic 0xef53 at byte 1080); a disk image: give the log the workload was recorded into, not the disk`;
    for (const cmd of ["info", "dump", "marks"]) {
      const r = await runLwlog([cmd, img]);
      expect([r.code, r.stdout, r.stderr], cmd).toEqual([1, "", `lwlog: error: ${what} [LWLOG_BAD_MAGIC]\n`]);
    }
    const check = await runLwlog(["check", img]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain("does not look like a dm-log-writes log: it looks like an ext4 filesystem");
    expect(check.stdout).not.toContain("QEMU");
  });

  it("an export given where the log goes points to lwlog import", async () => {
    const ndjson = join(tmp.path, "sample.ndjson");
    const exported = await runLwlog(["export", await sampleLog(tmp.path, "for-export.log"), "--data", "base64", "-o", ndjson]);
    expect(exported.code).toBe(0);
    const r = await runLwlog(["info", ndjson]);
    expect([r.code, r.stderr]).toEqual([1, `lwlog: error: ${ndjson}: offset 0: does not look like a dm-log-writes log: it looks like an lwlog NDJSON export; lwlog import turns an export made with --data base64 back into the log [LWLOG_BAD_MAGIC]\n`]);
  });

  it("wrong magic: exit 1", async () => {
    // The bad magic is "XFSB", which is what an XFS filesystem starts with: it is named so.
    expect(await expectBad(await badLogs.wrongMagic(tmp.path), 1)).toContain("does not look like a dm-log-writes log: it looks like an XFS filesystem");
  });

  it("wrong version: exit 1", async () => {
    expect(await expectBad(await badLogs.wrongVersion(tmp.path), 1)).toContain("unsupported log version 2");
  });

  it("sector size 0: exit 1", async () => {
    expect(await expectBad(await badLogs.sectorSize(tmp.path, 0), 1)).toContain("invalid sector size 0");
  });

  it("sector size not a power of two: exit 1", async () => {
    expect(await expectBad(await badLogs.sectorSize(tmp.path, 1000), 1)).toContain("invalid sector size 1000");
  });

  it("sector size 16 MiB: exit 1, without reading or allocating 16 MiB", async () => {
    expect(await expectBad(await badLogs.sectorSize(tmp.path, 16 << 20), 1)).toContain(`invalid sector size ${16 << 20}`);
  });

  it("a superblock cut inside its fields: exit 1", async () => {
    expect(await expectBad(await badLogs.truncatedSuperFields(tmp.path), 1)).toContain("truncated superblock");
  });

  it("a superblock sector cut short: exit 1", async () => {
    expect(await expectBad(await badLogs.truncatedSuperSector(tmp.path), 1)).toContain("truncated superblock");
  });

  it("a header cut short: exit 1", async () => {
    expect(await expectBad(await badLogs.headerCutShort(tmp.path), 1)).toContain("header block cut short");
  });

  it("data running past the end of the file: exit 1", async () => {
    expect(await expectBad(await badLogs.dataPastEof(tmp.path), 1)).toContain("data runs past the end of the file");
  });

  it("nr_sectors of 2^63: an error, not an allocation", async () => {
    const before = process.memoryUsage().rss;
    expect(await expectBad(await badLogs.hugeNrSectors(tmp.path), 1)).toContain(`${(1n << 63n) * 512n} bytes`);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20);
  });

  it("a superblock declaring more entries than the file holds: exit 1", async () => {
    expect(await expectBad(await badLogs.overDeclared(tmp.path), 1)).toContain("declares 9 entries but the log holds only 6");
  });

  it("non-zero padding in a non-mark header block: exit 1 (xfstests' malformed entry)", async () => {
    expect(await expectBad(await badLogs.dirtyPadding(tmp.path), 1)).toContain("malformed entry");
  });

  it("a mark name filling its whole header block: read as it is (pre-2018 kernels wrote them)", async () => {
    const bad = await badLogs.fullMark(tmp.path);
    const s = await info(bad.path);
    expect(s.marks).toEqual([{ name: bad.name, entry: 1, offset: bad.offset, tail: false }]);
    expect(s.counts.mark).toBe(1);
  });

  it("garbage after the last entry: a tail, not an error", async () => {
    const bad = await badLogs.garbageTail(tmp.path);
    const s = await info(bad.path);
    expect(s).toMatchObject({ entries: 6, tailEntries: 0, fileBytes: SAMPLE.size + 700 });
    expect(s.end).toMatchObject({ reason: "invalid", offset: SAMPLE.size, trailingBytes: 700 });
    const text = await runLwlog(["info", bad.path]);
    expect(text.stdout).toContain(`700 bytes after the last entry (at byte ${SAMPLE.size}) are not an entry`);
  });

  it("no log argument, or two: usage, exit 2", async () => {
    expect((await runLwlog(["info"])).code).toBe(2);
    const two = await runLwlog(["info", "a", "b"]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/too many arguments/);
  });
});
