import { closeSync, existsSync, openSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, randomBytes, run, sha256File } from "@lwlog/testkit";
import { fallback, native } from "@lwlog/native";
import { ImageTarget, replayLog, TargetError } from "./index.js";

const tmp = makeTempDir("lwlog-replay-target-");
afterAll(() => tmp.cleanup());

const MiB = 1 << 20;
const GiB = 1 << 30;
let n = 0;
const path = (name: string) => join(tmp.path, `${++n}-${name}`);

/**
 * Writes 0xab over `[offset, offset + length)`: all of it when it is small, else its first
 * and last MiB and one 64 KiB stripe every 8 MiB (enough to see a range that was not zeroed,
 * without writing hundreds of MiB).
 */
function fill(file: string, offset: number, length: number): void {
  const fd = openSync(file, "r+");
  const put = (at: number, len: number) => {
    const buf = new Uint8Array(Math.min(len, MiB)).fill(0xab);
    for (let done = 0; done < len; done += buf.length) writeSync(fd, buf, 0, Math.min(buf.length, len - done), at + done);
  };
  if (length <= 4 * MiB) put(offset, length);
  else {
    put(offset, MiB);
    put(offset + length - MiB, MiB);
    for (let at = offset + 8 * MiB; at < offset + length - MiB; at += 8 * MiB) put(at, 64 << 10);
  }
  closeSync(fd);
}

/** True when the stripes `fill` wrote in `[offset, offset + length)` all read as `value`. */
function striped(t: ImageTarget, offset: number, length: number, value: number): boolean {
  if (length <= 4 * MiB) return allBytes(t, offset, length, value);
  if (!allBytes(t, offset, MiB, value) || !allBytes(t, offset + length - MiB, MiB, value)) return false;
  for (let at = offset + 8 * MiB; at < offset + length - MiB; at += 8 * MiB) if (!allBytes(t, at, 64 << 10, value)) return false;
  return true;
}

const expected = new Map<number, Buffer>();
/** True when every byte of the range reads as `value` (read and compared in 4 MiB pieces). */
function allBytes(t: ImageTarget, offset: number, length: number, value: number): boolean {
  const want = expected.get(value) ?? Buffer.alloc(4 * MiB, value);
  expected.set(value, want);
  const buf = Buffer.alloc(4 * MiB);
  for (let done = 0; done < length; done += buf.length) {
    const n = Math.min(buf.length, length - done);
    t.readInto(buf.subarray(0, n), offset + done);
    if (!buf.subarray(0, n).equals(want.subarray(0, n))) return false;
  }
  return true;
}

describe("ImageTarget.zero: the range reads back as zeros, whatever its size (replay-log skips discards over 128 MiB)", () => {
  it("a 200 MiB range in the middle of a file (punched), neighbours untouched", () => {
    const f = path("mid.img");
    writeFileSync(f, new Uint8Array(0));
    run("truncate", ["-s", String(512 * MiB), f]);
    fill(f, 100 * MiB, 300 * MiB);
    fill(f, 149 * MiB, 2 * MiB);
    fill(f, 349 * MiB, 2 * MiB);
    const t = ImageTarget.open(f);
    t.zero(150 * MiB + 512, 200 * MiB);
    expect(allBytes(t, 150 * MiB + 512, 200 * MiB, 0)).toBe(true);
    expect(allBytes(t, 150 * MiB - MiB, MiB + 512, 0xab)).toBe(true);
    expect(allBytes(t, 350 * MiB + 512, MiB - 512, 0xab)).toBe(true);
    t.close();
    expect(statSync(f).size).toBe(512 * MiB);
  });

  it("a 64 GiB range of a sparse file allocates nothing", () => {
    const f = path("huge.img");
    writeFileSync(f, new Uint8Array(0));
    run("truncate", ["-s", String(80 * GiB), f]);
    fill(f, 10 * GiB, 8 * MiB);
    fill(f, 70 * GiB, MiB);
    const t = ImageTarget.open(f);
    t.zero(GiB, 64 * GiB);
    expect(allBytes(t, 10 * GiB, 8 * MiB, 0)).toBe(true);
    expect(allBytes(t, 70 * GiB, MiB, 0xab)).toBe(true);
    t.close();
    expect(statSync(f).blocks * 512).toBeLessThan(4 * MiB);
  });

  it("a range that reaches the end of a file (mkfs's whole-device discard) and small ranges (zero writes)", () => {
    const f = path("tail.img");
    writeFileSync(f, new Uint8Array(16 * MiB).fill(0xab));
    const t = ImageTarget.open(f);
    t.zero(4096, 16 * MiB - 4096);
    expect(allBytes(t, 4096, 16 * MiB - 4096, 0)).toBe(true);
    expect(allBytes(t, 0, 4096, 0xab)).toBe(true);
    expect(t.size).toBe(16 * MiB);
    t.write(0, new Uint8Array(8192).fill(0xcd));
    t.zero(512, 3000);
    expect([...t.read(0, 4096)].map((b, i) => (i < 512 ? b === 0xcd : i < 3512 ? b === 0 : b === 0xcd)).every(Boolean)).toBe(true);
    t.close();
    expect(statSync(f).size).toBe(16 * MiB);
  });

  it("on a block device: a 200 MiB range (BLKZEROOUT) and an unaligned 150 MiB one (zero writes)", () => {
    const backing = path("loop.img");
    writeFileSync(backing, new Uint8Array(0));
    run("truncate", ["-s", String(512 * MiB), backing]);
    fill(backing, 0, 512 * MiB);
    for (const at of [0, 200 * MiB, 300 * MiB, 450 * MiB]) fill(backing, at, 2 * MiB);
    const dev = run("losetup", ["-f", "--show", backing]).stdout.trim();
    try {
      const t = ImageTarget.open(dev);
      expect(t.kind).toBe("device");
      expect(t.size).toBe(512 * MiB);
      t.zero(4096, 200 * MiB);
      t.zero(300 * MiB + 512, 150 * MiB);
      t.sync();
      expect(striped(t, 4096, 200 * MiB, 0)).toBe(true);
      expect(striped(t, 300 * MiB + 512, 150 * MiB, 0)).toBe(true);
      expect(allBytes(t, 0, 4096, 0xab)).toBe(true);
      expect(allBytes(t, 200 * MiB + 4096, MiB, 0xab)).toBe(true);
      expect(allBytes(t, 300 * MiB, 512, 0xab)).toBe(true);
      expect(allBytes(t, 450 * MiB + 512, MiB, 0xab)).toBe(true);
      expect(() => t.zero(511 * MiB, 2 * MiB)).toThrow(/too small/);
      t.close();
    } finally {
      run("losetup", ["-d", dev]);
    }
  });

  it("a 200 MiB discard entry replayed by replayLog", async () => {
    const log = path("discard.log");
    const w = await LogWriter.create(log, { sectorSize: 4096 });
    await w.write(0n, randomBytes(4096, 3));
    await w.discard(1n, BigInt((200 * MiB) / 4096));
    await w.close();
    const img = path("discard.img");
    writeFileSync(img, new Uint8Array(0));
    run("truncate", ["-s", String(256 * MiB), img]);
    fill(img, 0, 256 * MiB);
    fill(img, 200 * MiB, 2 * MiB);
    const s = await replayLog({ log, target: img });
    expect([s.discards, s.bytesZeroed]).toEqual([1, 200 * MiB]);
    const t = ImageTarget.open(img, { readOnly: true });
    expect(allBytes(t, 4096, 200 * MiB, 0)).toBe(true);
    expect(allBytes(t, 200 * MiB + 4096, MiB, 0xab)).toBe(true);
    t.close();
  });
});

describe("ImageTarget: the incremental API", () => {
  it("applying every entry of a kernel log one by one, reading back between, equals replayLog", async () => {
    const k = kernelLogs().find((l) => l.file === "raw-4k.log")!;
    const log = LogFile.openSync(k.path);
    const img = path("incremental.img");
    const t = ImageTarget.open(img, { size: k.data_device_bytes });
    expect(t.created).toBe(true);
    const marks = new Map(k.marks.map((m) => [m.entry_index, m.sha256]));
    const c = log.cursor();
    let checked = 0;
    for (let e = c.next(); e !== undefined; e = c.next()) {
      const r = t.applyEntry(e, log);
      if (e.kind === "write") {
        expect(r).toEqual({ action: "write", offset: Number(e.sector) * 4096, bytes: e.dataSize });
        expect(Buffer.from(t.read(r.offset, r.bytes)).equals(Buffer.from(log.readData(e)))).toBe(true);
      }
      if (marks.has(e.index)) {
        t.sync();
        expect(sha256File(img)).toBe(marks.get(e.index));
        checked += 1;
      }
    }
    expect(checked).toBe(k.marks.length);
    t.close();
    log.close();
  });

  it("grow lets a file follow its writes; reads past the end are zeros; readOnly refuses writes", () => {
    const img = path("grow.img");
    const t = ImageTarget.open(img, { size: 0, grow: true });
    t.write(10_000, new Uint8Array(100).fill(7));
    expect(t.size).toBe(10_100);
    expect([...t.read(10_050, 100)]).toEqual([...new Uint8Array(50).fill(7), ...new Uint8Array(50)]);
    t.close();
    const ro = ImageTarget.open(img, { readOnly: true });
    expect(() => ro.write(0, new Uint8Array(1))).toThrow(TargetError);
    ro.close();
    const fixed = ImageTarget.open(img);
    expect(() => fixed.write(10_100, new Uint8Array(1))).toThrow(/too small/);
    fixed.close();
  });

  it("refuses before changing anything: the log, a missing file without size, a too-small file, size on a device", () => {
    const k = kernelLogs()[0]!;
    expect(() => ImageTarget.open(k.path, { log: k.path })).toThrow(/is the log itself/);
    expect(() => ImageTarget.open(path("missing.img"))).toThrow(/no such file; give a size/);
    const small = path("small.img");
    writeFileSync(small, new Uint8Array(1000).fill(9));
    expect(() => ImageTarget.open(small, { truncate: true, require: 2000 })).toThrow(/too small/);
    expect(statSync(small).size).toBe(1000);
    const t = ImageTarget.open(small, { size: 2000, require: 2000 });
    expect(t.size).toBe(2000);
    expect([...t.read(990, 20)]).toEqual([...new Uint8Array(10).fill(9), ...new Uint8Array(10)]);
    t.close();
    expect(() => ImageTarget.open("/dev/null")).toThrow(/neither a regular file nor a block device/);
  });
});

describe("ImageTarget: a regular file is never cut", () => {
  it.each([
    ["the addon (punched)", native],
    ["the fallbacks (cut and regrown)", fallback],
  ])("zeroing to the end grows the file first: when growing fails (RLIMIT_FSIZE lowered mid-replay), the file keeps its size and bytes, with %s", (_, io) => {
    const f = path("limit.img");
    writeFileSync(f, Buffer.alloc(MiB, 0x42));
    const t = ImageTarget.open(f, { grow: true, io });
    try {
      t.write(MiB, new Uint8Array([7])); // grows: the file's limit is looked up now (none)
      // Lowered under the open target (as `prlimit --pid` can do to a running replay).
      run("prlimit", [`--pid=${process.pid}`, `--fsize=${2 * MiB}:unlimited`]);
      try {
        expect(() => t.zero(MiB / 2, 4 * MiB)).toThrow(/EFBIG/);
      } finally {
        run("prlimit", [`--pid=${process.pid}`, "--fsize=unlimited:unlimited"]);
      }
      expect(statSync(f).size).toBe(MiB + 1);
      expect(t.size).toBe(MiB + 1);
      expect(allBytes(t, 0, MiB, 0x42)).toBe(true);
      // Then it works, and leaves zeros to the new end.
      t.zero(MiB / 2, 4 * MiB);
      expect(statSync(f).size).toBe(MiB / 2 + 4 * MiB);
      expect(allBytes(t, 0, MiB / 2, 0x42)).toBe(true);
      expect(allBytes(t, MiB / 2, 4 * MiB, 0)).toBe(true);
    } finally {
      t.close();
    }
  });

  it("a size past RLIMIT_FSIZE is refused before anything changes: creating, growing, --truncate, a growing write", () => {
    const limited = (fn: () => void) => {
      run("prlimit", [`--pid=${process.pid}`, `--fsize=${2 * MiB}:unlimited`]);
      try {
        fn();
      } finally {
        run("prlimit", [`--pid=${process.pid}`, "--fsize=unlimited:unlimited"]);
      }
    };
    const fresh = path("new.img");
    const old = path("old.img");
    writeFileSync(old, Buffer.alloc(MiB, 0x42));
    const t = ImageTarget.open(path("grow.img"), { size: 0, grow: true });
    limited(() => {
      expect(() => ImageTarget.open(fresh, { size: 4 * MiB })).toThrow(/a 4194304-byte image is past the 2097152-byte file size limit of this process \(RLIMIT_FSIZE, ulimit -f\); nothing was created or changed/);
      expect(() => ImageTarget.open(old, { size: 4 * MiB })).toThrow(/LWLOG_FILE_TOO_LARGE|past the 2097152-byte file size limit/);
      expect(() => ImageTarget.open(old, { size: 4 * MiB, truncate: true })).toThrow(/past the 2097152-byte file size limit/);
      expect(() => ImageTarget.open(old, { grow: true, require: 4 * MiB })).toThrow(/past the 2097152-byte file size limit/);
      expect(() => t.write(3 * MiB, new Uint8Array(1))).toThrow(/bytes 3145728\.\.3145728: past the 2097152-byte file size limit/);
      expect(() => t.growTo(3 * MiB)).toThrow(/growing it to 3145728 bytes is past the 2097152-byte file size limit/);
    });
    expect(existsSync(fresh)).toBe(false);
    expect(statSync(old).size).toBe(MiB);
    expect(sha256File(old)).toBe(sha256File(writeAndName(path("ref.img"), Buffer.alloc(MiB, 0x42))));
    expect(statSync(t.path).size).toBe(0);
    t.close();
  });
});

function writeAndName(file: string, bytes: Uint8Array): string {
  writeFileSync(file, bytes);
  return file;
}

describe("ImageTarget.applyEntry: an entry past 2^53", () => {
  it("is refused with the log, the entry and its offset named, before anything is written", async () => {
    const k = kernelLogs()[0]!;
    const log = await LogFile.open(k.path);
    const img = path("far.img");
    const t = ImageTarget.open(img, { size: 0, grow: true });
    try {
      for (const sector of [1n << 62n, 2 ** 60]) {
        let err: unknown;
        try {
          t.applyEntry({ index: 3, kind: "write", sector, nrSectors: 1n, offset: 4096, dataSize: 512 }, log);
        } catch (e) {
          err = e;
        }
        expect(err).toMatchObject({ code: "LWLOG_RANGE", file: k.path, entry: 3, offset: 4096 });
        expect(String((err as Error).message)).toMatch(/^the write's target byte offset \(\d+ × 512\) is beyond 2\^53/);
      }
      expect(statSync(img).size).toBe(0);
    } finally {
      t.close();
      log.close();
    }
  });
});
