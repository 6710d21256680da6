import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, openSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { addonPath, fallback, NativeIoError, openAddon, type LinuxIo } from "@lwlog/native";
import { kernelLogs, makeTempDir, randomBytes, run, testDataDir } from "@lwlog/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes, ioError, LogFile, LogIoError, LogWriter, LwlogError, sizeOf, type ReadOptions } from "./index.js";
import { setReaderIo } from "./reader.js";

// The reader has two paths: windows mapped by @lwlog/native's addon, and its own buffer filled
// by readSync (no addon, LWLOG_NO_NATIVE=1 or LWLOG_NO_MMAP=1). Every codec test runs in both
// modes (vitest.config.ts: the `fallback` project); this file reads the same logs through both
// in one process and requires identical results, and checks the mapped views' lifetimes.

const tmp = makeTempDir("lwlog-codec-mapped-");
const MiB = 1 << 20;
// The addon's primitives whatever LWLOG_NO_NATIVE says (when it is built: always in CI).
const addon: LinuxIo | undefined = existsSync(addonPath) ? openAddon() : undefined;
const initial = setReaderIo(fallback);
setReaderIo(initial);
afterEach(() => {
  setReaderIo(initial);
});
afterAll(() => tmp.cleanup());

/** A log with entries from 512 bytes to 40 MiB (larger than a mapped window), marks and discards. */
let mixed = "";
beforeAll(async () => {
  mixed = join(tmp.path, "mixed.log");
  const w = await LogWriter.create(mixed, { sectorSize: 512 });
  let seed = 1;
  for (const size of [512, 4096, 3 * 512, 1 * MiB, 64 << 10, 40 * MiB, 8192, 17 * MiB + 512, 4096, 300 << 10]) {
    await w.write(BigInt(seed * 64), randomBytes(size, seed++));
    if (seed % 3 === 0) await w.mark(`m${seed}`);
    if (seed % 4 === 0) await w.discard(7n, 9n);
  }
  for (let i = 0; i < 5000; i++) await w.write(BigInt(i * 8), randomBytes(4096, 100 + i));
  await w.flush();
  await w.close();
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Everything a reader can say about a log, with data as hashes: what both paths must agree on. */
function readEverything(path: string, io: LinuxIo, options: ReadOptions): unknown[] {
  setReaderIo(io);
  const out: unknown[] = [];
  let log: LogFile;
  try {
    log = LogFile.openSync(path);
  } catch (err) {
    return [describeError(err)];
  }
  try {
    const c = log.cursor(options);
    for (;;) {
      let e;
      try {
        e = c.next();
      } catch (err) {
        out.push(describeError(err));
        break;
      }
      if (e === undefined) break;
      const peeked = c.peekData(e);
      const chunks = e.dataSize > 0 ? createHash("sha256") : undefined;
      let pieces = 0;
      if (chunks) {
        for (const chunk of log.dataChunks(e, 1 << 20)) {
          chunks.update(chunk);
          pieces += 1;
        }
      }
      const whole = chunks?.digest("hex");
      // peekData is there or not depending on the window; when it is, it is the data.
      if (peeked !== undefined) expect(sha(peeked)).toBe(whole);
      const { data, markBytes, ...rest } = e;
      out.push({ ...rest, data: data && sha(data), markBytes: markBytes && [...markBytes], whole, pieces });
    }
    out.push({ end: c.end });
    // skim() over the same log agrees with next().
    const s = log.cursor(options);
    const summaries: unknown[] = [];
    try {
      for (let e = s.skim(); e !== undefined; e = s.skim()) summaries.push({ ...e, entry: e.entry?.index });
    } catch (err) {
      summaries.push(describeError(err));
    }
    out.push(summaries);
  } finally {
    log.close();
  }
  return out;
}

function describeError(err: unknown): unknown {
  if (err instanceof LwlogError) return { error: err.constructor.name, code: err.code, message: err.message, entry: err.entry, offset: err.offset };
  throw err;
}

describe("mapped windows and plain reads give the same results", () => {
  it("the addon is there to compare with (required in CI)", () => {
    if (process.env.CI === "true") expect(addon, "the addon must be built in CI").toBeDefined();
    if (addon !== undefined) expect(addon.maps).toBe(true);
  });

  const sides = (): [string, LinuxIo][] => [["read", fallback], ...(addon ? [["mapped", addon] as [string, LinuxIo]] : [])];
  const optionSets: ReadOptions[] = [{}, { tail: true, data: true }, { tail: true, lenient: true, blockSize: 1 }, { tail: true, blockSize: 64 << 10 }, { tail: true, blockSize: 3 * MiB }];

  it("on every kernel log, sample and bad log, with every window size", () => {
    const logs = [
      ...kernelLogs().map((k) => k.path),
      ...["samples", "bad"].flatMap((d) => readdirSync(join(testDataDir, d)).filter((f) => f.endsWith(".log")).map((f) => join(testDataDir, d, f))),
    ];
    expect(logs.length).toBeGreaterThan(20);
    for (const path of logs) {
      for (const options of optionSets) {
        const [first, ...rest] = sides().map(([name, io]) => [name, readEverything(path, io, options)] as const);
        for (const [name, result] of rest) expect(result, `${path} ${JSON.stringify(options)} ${name}`).toEqual(first![1]);
      }
    }
  });

  it("on a log with entries larger than a window, and windows that end inside entries", () => {
    for (const options of [...optionSets, { tail: true, blockSize: 16 * MiB + 512 }]) {
      const [first, ...rest] = sides().map(([, io]) => readEverything(mixed, io, options));
      for (const result of rest) expect(result, JSON.stringify(options)).toEqual(first);
    }
  });

  it("sizes a block device the same from BLKGETSIZE64 (with the fd) and from sysfs", () => {
    const k = kernelLogs()[0]!;
    const dev = run("losetup", ["--find", "--show", "--read-only", k.path]).stdout.trim();
    try {
      const fd = openSync(dev, "r");
      try {
        const st = fstatSync(fd);
        expect(sizeOf(st, fd)).toBe(sizeOf(st));
        expect(sizeOf(st, fd)).toBe(Math.ceil(k.log_file_bytes / 512) * 512);
      } finally {
        closeSync(fd);
      }
      for (const [, io] of sides()) {
        setReaderIo(io);
        const log = LogFile.openSync(dev);
        expect(log.size).toBe(Math.ceil(k.log_file_bytes / 512) * 512);
        log.close();
      }
    } finally {
      run("losetup", ["--detach", dev]);
    }
  });
});

describe("mapped views live only as long as their window", () => {
  const mapped = () => {
    expect(addon, "the addon is not built (npm run build in packages/native)").toBeDefined();
    setReaderIo(addon!);
  };

  it("peekData: a view outlived by its window reads as empty, never as other bytes; kept data is a copy", async () => {
    mapped();
    const path = join(tmp.path, "lifetime.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    for (let i = 0; i < 64; i++) await w.write(BigInt(i), randomBytes(4096, i + 1));
    await w.mark("the mark");
    await w.close();
    const log = LogFile.openSync(path);
    // 16 KiB windows: a few entries each, then the window moves on.
    const c = log.cursor({ blockSize: 16 << 10, data: true });
    const first = c.next()!;
    const view = c.peekData(first)!;
    expect(sha(view)).toBe(sha(randomBytes(4096, 1)));
    const kept = first.data!;
    for (let i = 0; i < 8; i++) c.next();
    expect(view.length).toBe(0);
    expect(sha(kept)).toBe(sha(randomBytes(4096, 1)));
    let mark;
    for (let e = c.next(); e !== undefined; e = c.next()) if (e.kind === "mark") mark = e;
    const other = log.cursor();
    const e = other.next()!;
    const early = other.peekData(e)!;
    expect(early.length).toBe(4096);
    log.close();
    expect(early.length).toBe(0);
    expect(mark!.mark).toBe("the mark");
    expect(new TextDecoder().decode(mark!.markBytes!)).toBe("the mark");
    expect(other.peekData(e)).toBeUndefined();
    // The cursor's window is unmapped by close(): using the cursor after is an I/O error, not a crash.
    expect(() => other.next()).toThrow(LogIoError);
  });

  it("dataChunks: a big entry's chunks are views of mapped windows, each unmapped once passed or abandoned", () => {
    mapped();
    const log = LogFile.openSync(mixed);
    try {
      const c = log.cursor();
      let big;
      for (let e = c.next(); e !== undefined; e = c.next()) if (e.dataSize === 40 * MiB) big = e;
      const h = createHash("sha256");
      const seen: Uint8Array[] = [];
      for (const chunk of log.dataChunks(big!, 4 * MiB)) {
        h.update(chunk);
        seen.push(chunk);
      }
      expect(h.digest("hex")).toBe(sha(randomBytes(40 * MiB, 6)));
      expect(seen.length).toBe(10);
      expect(seen.every((s) => s.length === 0)).toBe(true);
      // Left early: the window is unmapped when the loop breaks.
      let held: Uint8Array | undefined;
      for (const chunk of log.dataChunks(big!, MiB)) {
        held = chunk;
        break;
      }
      expect(held!.length).toBe(0);
      // Into a caller's buffer: always that buffer.
      const buffer = new Uint8Array(MiB);
      for (const chunk of log.dataChunks(big!, 4 * MiB, buffer)) expect(chunk.buffer).toBe(buffer.buffer);
    } finally {
      log.close();
    }
  });

  it("a log that shrank after it was opened is not mapped past its end (no SIGBUS): reads report the truncation", async () => {
    mapped();
    const path = join(tmp.path, "shrinks.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    for (let i = 0; i < 10; i++) await w.write(BigInt(i), randomBytes(512, i + 1));
    await w.close();
    const log = LogFile.openSync(path);
    try {
      // The file shrinks after open: mapping past its end is refused (no SIGBUS), reads report it.
      run("truncate", ["-s", "2048", path]);
      const c = log.cursor();
      expect(() => {
        for (let e = c.next(); e !== undefined; e = c.next());
      }).toThrow(LwlogError);
    } finally {
      log.close();
    }
  });
});

describe("ioError", () => {
  it("understands @lwlog/native's errors (errno names) as well as Node's", () => {
    const denied = ioError(new NativeIoError("mapRange: mmap failed: EACCES (permission denied)", "EACCES", "mmap"), "/x.log", "map the log");
    expect([denied.code, denied.file]).toEqual([ErrorCodes.PERMISSION, "/x.log"]);
    const other = ioError(new NativeIoError("copyFileRange: copy_file_range failed: EIO (i/o error)", "EIO", "copy_file_range"), "/x.log", "copy");
    expect(other.code).toBe(ErrorCodes.IO);
    expect(other.message).toMatch(/cannot copy: .*EIO/);
    expect(ioError(Object.assign(new Error("ENOENT"), { code: "ENOENT", errno: -2 }), "/y", "open").code).toBe(ErrorCodes.NOT_FOUND);
  });
});
