import { closeSync, existsSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it, vi } from "vitest";
import { makeTempDir, randomBytes, run } from "@lwlog/testkit";
import { addonPath, fallback, native, NativeIoError, NativeRangeError, openAddon, type LinuxIo } from "./index.js";

const tmp = makeTempDir("lwlog-native-");
// tmpfs: another file system than tmp's (copy_file_range's EXDEV) and one without ZERO_RANGE.
const shm = existsSync("/dev/shm") ? mkdtempSync("/dev/shm/lwlog-native-") : undefined;
afterAll(() => {
  tmp.cleanup();
  if (shm !== undefined) rmSync(shm, { recursive: true, force: true });
});
const MiB = 1 << 20;
let n = 0;
const path = (name: string, dir = tmp.path) => join(dir, `${++n}-${name}`);

/** A file of `length` pseudo-random bytes; returns its path and bytes. */
function randomFile(name: string, length: number, seed: number, dir?: string): { file: string; bytes: Uint8Array } {
  const file = path(name, dir);
  const bytes = randomBytes(length, seed);
  writeFileSync(file, bytes);
  return { file, bytes };
}

/** Runs `fn` with `file` open (flags `r`, `r+`…), closing it after. */
function withFd<T>(file: string, flags: string, fn: (fd: number) => T): T {
  const fd = openSync(file, flags);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** Runs `fn` with a loop device over `file`, detached after. */
function withLoop<T>(file: string, fn: (dev: string) => T): T {
  const dev = run("losetup", ["--find", "--show", file]).stdout.trim();
  try {
    return fn(dev);
  } finally {
    run("losetup", ["--detach", dev]);
  }
}

/** A file descriptor number that is not open. */
function closedFd(): number {
  const fd = openSync(path("closed"), "w");
  closeSync(fd);
  return fd;
}

const zeros = (length: number) => new Uint8Array(length);

function writeSyncAt(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
}

describe("loading", () => {
  it("uses the addon when it is built, and CI must exercise it (a silent fallback there would hide a broken build)", () => {
    if (process.env.CI === "true") expect(native.available, `native.reason: ${native.reason}`).toBe(true);
    const wanted = existsSync(addonPath) && !process.env.LWLOG_NO_NATIVE;
    expect(native.available).toBe(wanted);
    expect(native.reason === undefined).toBe(native.available);
    expect(fallback.available).toBe(false);
  });

  it("LWLOG_NO_NATIVE=1 forces the fallbacks; mapping needs LWLOG_MMAP=1 and LWLOG_NO_MMAP=1 wins; read at load", async () => {
    const load = async (env: Record<string, string>) => {
      vi.resetModules();
      const saved = { ...process.env };
      Object.assign(process.env, env);
      try {
        return (await import("./index.js")).native;
      } finally {
        for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
      }
    };
    const forced = await load({ LWLOG_NO_NATIVE: "1" });
    expect([forced.available, forced.maps, forced.reason]).toEqual([false, false, "LWLOG_NO_NATIVE is set"]);
    const mapping = await load({ LWLOG_MMAP: "1" });
    expect(mapping.maps).toBe(native.available);
    const both = await load({ LWLOG_MMAP: "1", LWLOG_NO_MMAP: "1" });
    expect(both.maps).toBe(false);
    const noMmap = await load({});
    expect(noMmap.maps).toBe(false);
    expect(noMmap.available).toBe(native.available);
    // A view from the copying mapRange is released (detached) the same way.
    const { file, bytes } = randomFile("nommap", 10_000, 4);
    withFd(file, "r", (fd) => {
      const v = noMmap.mapRange(fd, 100, 5000);
      expect(Buffer.from(v).equals(Buffer.from(bytes.subarray(100, 5100)))).toBe(true);
      expect(noMmap.unmap(v)).toBe(true);
      expect(v.length).toBe(0);
    });
  });

  it("reports why when the addon is missing or is not lwlog's", () => {
    expect(() => openAddon({ path: path("missing.node") })).toThrow(/not built/);
  });
});

// The addon is tested when it is built (always in CI: see above), the fallbacks always.
const impls: [string, LinuxIo][] = [["fallback", fallback]];
if (native.available) impls.unshift(["addon", openAddon()]);

describe.each(impls)("%s", (name, io) => {
  const isAddon = name === "addon";

  describe("mapRange and unmap", () => {
    it("gives the bytes of any range (unaligned offsets too), read-only views released at once", () => {
      const { file, bytes } = randomFile("map", 3 * MiB + 123, 1);
      withFd(file, "r", (fd) => {
        for (const [offset, length] of [
          [0, 4096],
          [5000, 10_000],
          [4095, 1],
          [MiB + 7, 2 * MiB],
          [3 * MiB, 123],
          [0, 3 * MiB + 123],
        ] as const) {
          const v = io.mapRange(fd, offset, length);
          expect(v.length).toBe(length);
          expect(Buffer.from(v).equals(Buffer.from(bytes.subarray(offset, offset + length))), `${offset}+${length}`).toBe(true);
          const inner = v.subarray(0, Math.min(10, length));
          expect(io.unmap(v)).toBe(true);
          // Detached: every view of the released range is empty, no stale byte can be read.
          expect([v.length, inner.length, v[0]]).toEqual([0, 0, undefined]);
          expect(io.unmap(v)).toBe(false);
        }
        expect(io.mapRange(fd, 100, 0).length).toBe(0);
        expect(io.unmap(new Uint8Array(0))).toBe(false);
      });
    });

    it("refuses ranges past the end, bigints, unsafe numbers, foreign views; bad descriptors are NativeIoErrors", () => {
      const { file } = randomFile("map-bad", 10_000, 2);
      withFd(file, "r", (fd) => {
        expect(() => io.mapRange(fd, 8192, 2000)).toThrow(NativeRangeError);
        expect(() => io.mapRange(fd, 0, 10_001)).toThrow(/past the end/);
        expect(() => io.mapRange(fd, 4n as unknown as number, 10)).toThrow(/bigint 4n/);
        expect(() => io.mapRange(fd, -1, 10)).toThrow(NativeRangeError);
        expect(() => io.mapRange(fd, 1.5, 10)).toThrow(NativeRangeError);
        expect(() => io.mapRange(fd, 2 ** 53, 10)).toThrow(NativeRangeError);
        expect(() => io.mapRange(fd, 0, 2 ** 31)).toThrow(/windows/);
        expect(() => io.mapRange(-1, 0, 10)).toThrow(NativeRangeError);
        expect(() => io.unmap(new Uint8Array(16))).toThrow(NativeRangeError);
        expect(() => io.unmap(Buffer.from("not mapped"))).toThrow(NativeRangeError);
      });
      const bad = closedFd();
      const err = catchError(() => io.mapRange(bad, 0, 10));
      expect(err).toBeInstanceOf(NativeIoError);
      expect(err).toMatchObject({ code: "LWLOG_IO", errno: "EBADF" });
      const dir = openSync(tmp.path, "r");
      try {
        expect(catchError(() => io.mapRange(dir, 0, 10))).toMatchObject({ code: "LWLOG_IO", errno: "ENODEV" });
      } finally {
        closeSync(dir);
      }
    });

    it("maps a block device (a loop device), its size from BLKGETSIZE64", () => {
      const { file, bytes } = randomFile("map-dev", 4 * MiB, 3);
      withLoop(file, (dev) =>
        withFd(dev, "r", (fd) => {
          const v = io.mapRange(fd, 4 * MiB - 8192 - 512, 8192);
          expect(Buffer.from(v).equals(Buffer.from(bytes.subarray(4 * MiB - 8192 - 512, 4 * MiB - 512)))).toBe(true);
          io.unmap(v);
          expect(() => io.mapRange(fd, 4 * MiB - 512, 1024)).toThrow(NativeRangeError);
        }),
      );
    });
  });

  describe("copyFileRange", () => {
    it("copies between files at any offsets, in and past the 1 MiB buffer, and stops where the input ends", () => {
      const { file: src, bytes } = randomFile("copy-src", 3 * MiB + 5, 5);
      const dst = path("copy-dst");
      writeFileSync(dst, new Uint8Array(MiB).fill(0xee));
      withFd(src, "r", (fin) =>
        withFd(dst, "r+", (fout) => {
          expect(io.copyFileRange(fin, 7, fout, 100, 3 * MiB - 7)).toBe(3 * MiB - 7);
          expect(io.copyFileRange(fin, 3 * MiB, fout, 4 * MiB, 100)).toBe(5); // the input ends
          expect(io.copyFileRange(fin, 0, fout, 0, 0)).toBe(0);
        }),
      );
      const out = new Uint8Array(readFileSync(dst));
      expect(out.length).toBe(4 * MiB + 5);
      expect(out.subarray(0, 100).every((b) => b === 0xee)).toBe(true);
      expect(Buffer.from(out.subarray(100, 3 * MiB + 93)).equals(Buffer.from(bytes.subarray(7, 3 * MiB)))).toBe(true);
      expect(Buffer.from(out.subarray(4 * MiB)).equals(Buffer.from(bytes.subarray(3 * MiB)))).toBe(true);
    });

    it("copies across file systems (EXDEV) and onto a block device (EINVAL): pread/pwrite then", () => {
      const { file: src, bytes } = randomFile("copy-xdev", 2 * MiB + 512, 6, shm ?? tmp.path);
      const dst = path("copy-xdev-dst");
      // With a state: the refusal is remembered (and without the addon the kernel is never asked).
      const state = { kernel: true };
      withFd(src, "r", (fin) => withFd(dst, "w+", (fout) => expect(io.copyFileRange(fin, 512, fout, 0, 2 * MiB, state)).toBe(2 * MiB)));
      expect(Buffer.from(readFileSync(dst)).equals(Buffer.from(bytes.subarray(512)))).toBe(true);
      expect(state.kernel).toBe(shm === undefined && isAddon);
      const backing = path("copy-dev-backing");
      writeFileSync(backing, zeros(4 * MiB));
      withLoop(backing, (dev) => {
        withFd(src, "r", (fin) => withFd(dev, "r+", (fout) => expect(io.copyFileRange(fin, 0, fout, MiB, 2 * MiB)).toBe(2 * MiB)));
      });
      const img = new Uint8Array(readFileSync(backing));
      expect(Buffer.from(img.subarray(MiB, 3 * MiB)).equals(Buffer.from(bytes.subarray(0, 2 * MiB)))).toBe(true);
      expect(img.subarray(0, MiB).every((b) => b === 0) && img.subarray(3 * MiB).every((b) => b === 0)).toBe(true);
    });

    it("refuses overlapping ranges of one descriptor and bigints; I/O errors are NativeIoErrors", () => {
      const { file } = randomFile("copy-bad", 64 << 10, 7);
      withFd(file, "r+", (fd) => {
        expect(() => io.copyFileRange(fd, 0, fd, 4096, 8192)).toThrow(/overlap/);
        expect(io.copyFileRange(fd, 0, fd, 32 << 10, 8192)).toBe(8192);
        expect(() => io.copyFileRange(fd, 0n as unknown as number, fd, 4096, 10)).toThrow(NativeRangeError);
      });
      withFd(file, "r", (ro) => {
        const out = path("copy-bad-out");
        writeFileSync(out, "");
        // Writing to a descriptor open for reading only.
        withFd(out, "r", (notWritable) => expect(catchError(() => io.copyFileRange(ro, 0, notWritable, 0, 100))).toMatchObject({ code: "LWLOG_IO", errno: "EBADF" }));
        expect(catchError(() => io.copyFileRange(ro, 0, closedFd(), 0, 100))).toBeInstanceOf(NativeIoError);
      });
    });
  });

  describe("seekData and seekHole", () => {
    it("walk a sparse file's data ranges (the addon); the fallbacks call the whole file data", () => {
      // Data at 1 MiB..1 MiB + 4 KiB and at 3 MiB..3 MiB + 8 KiB of an 8 MiB file.
      const file = path("sparse");
      writeFileSync(file, new Uint8Array(0));
      withFd(file, "r+", (fd) => {
        const one = randomBytes(4096, 3);
        const two = randomBytes(8192, 4);
        writeSyncAt(fd, one, MiB);
        writeSyncAt(fd, two, 3 * MiB);
        ftruncateSync(fd, 8 * MiB);
      });
      const ranges = withFd(file, "r", (fd) => {
        const found: [number, number][] = [];
        for (let at = io.seekData(fd, 0); at >= 0; at = io.seekData(fd, found[found.length - 1]![1])) {
          const end = io.seekHole(fd, at);
          found.push([at, end]);
          if (end >= 8 * MiB) break;
        }
        return found;
      });
      if (isAddon) expect(ranges).toEqual([[MiB, MiB + 4096], [3 * MiB, 3 * MiB + 8192]]);
      else expect(ranges).toEqual([[0, 8 * MiB]]);
      withFd(file, "r", (fd) => {
        expect(io.seekData(fd, 8 * MiB)).toBe(-1);
        expect(io.seekHole(fd, 8 * MiB + 1)).toBe(-1);
        expect(() => io.seekData(fd, 2n as unknown as number)).toThrow(NativeRangeError);
      });
      expect(() => io.seekData(closedFd(), 0)).toThrow(NativeIoError);
    });
  });

  describe("copyRanges", () => {
    const IN = 2 * MiB;
    const OUT = 2 * MiB;
    /** Ranges in ascending output order: runs of touching ones, inputs often just past the previous one's (a log's data between headers). */
    const rangesArb = fc
      .array(
        fc.record({
          gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 70_000 })),
          len: fc.oneof(fc.integer({ min: 1, max: 9000 }), fc.integer({ min: 0, max: 300_000 })),
          zero: fc.boolean().map((b) => b && Math.random() < 0.3),
          src: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: IN })),
          follow: fc.integer({ min: 0, max: 70_000 }),
        }),
        { maxLength: 60 },
      )
      .map((specs) => {
        const out: number[] = [];
        let dst = 0;
        let lastSrcEnd = 0;
        for (const r of specs) {
          dst += r.gap;
          const len = Math.min(r.len, OUT - dst);
          if (len < 0) break;
          // -1: follow the previous input closely (forward), else anywhere.
          let src = r.zero ? -1 : r.src < 0 ? lastSrcEnd + r.follow : r.src;
          if (src >= 0 && src + len > IN) src = IN - len;
          out.push(dst, src, len);
          if (src >= 0) lastSrcEnd = src + len;
          dst += len;
        }
        return Float64Array.from(out);
      });

    it("writes each range's input (or zeros) at its place, like one pwrite a range, in runs and shared reads", () => {
      const { file: src, bytes } = randomFile("ranges-src", IN, 11);
      const dst = path("ranges-dst");
      fc.assert(
        fc.property(rangesArb, (ranges) => {
          const model = new Uint8Array(OUT).fill(0xee);
          const count = ranges.length / 3;
          for (let i = 0; i < count; i++) {
            const [d, s, n] = [ranges[3 * i]!, ranges[3 * i + 1]!, ranges[3 * i + 2]!];
            if (s < 0) model.fill(0, d, d + n);
            else model.set(bytes.subarray(s, s + n), d);
          }
          writeFileSync(dst, new Uint8Array(OUT).fill(0xee));
          const state = { kernel: false };
          withFd(src, "r", (fin) => withFd(dst, "r+", (fout) => expect(io.copyRanges(fin, fout, ranges, count, state)).toBe(count)));
          expect(Buffer.from(readFileSync(dst)).equals(Buffer.from(model))).toBe(true);
        }),
        { numRuns: 40 },
      );
    });

    it("runs longer than the gather buffer, large ranges through the kernel while it can (the state remembers a refusal)", () => {
      const { file: src, bytes } = randomFile("ranges-big", 12 * MiB, 12);
      const ranges = Float64Array.of(0, 5, 9 * MiB, 9 * MiB, -1, 3 * MiB, 12 * MiB, 100, 2 * MiB, 14 * MiB + 7, 9 * MiB, 10);
      const model = new Uint8Array(14 * MiB + 17);
      model.set(bytes.subarray(5, 5 + 9 * MiB), 0);
      model.set(bytes.subarray(100, 100 + 2 * MiB), 12 * MiB);
      model.set(bytes.subarray(9 * MiB, 9 * MiB + 10), 14 * MiB + 7);
      // Same file system (ext4 copies in the kernel), then onto tmpfs (EXDEV).
      for (const dir of [tmp.path, ...(shm ? [shm] : [])]) {
        const dst = path("ranges-big-dst", dir);
        writeFileSync(dst, "");
        const state = { kernel: true };
        withFd(src, "r", (fin) => withFd(dst, "r+", (fout) => expect(io.copyRanges(fin, fout, ranges, 4, state)).toBe(4)));
        expect(Buffer.from(readFileSync(dst)).equals(Buffer.from(model))).toBe(true);
        expect(state.kernel).toBe(isAddon && dir === tmp.path);
      }
    });

    it("a run of ranges whose inputs follow each other (a log's data between headers), past the buffer's end", () => {
      // One small range first, so that the buffer fills up in the middle of a range that is read together with the next ones.
      const { file: src, bytes } = randomFile("ranges-train", 12 * MiB, 15);
      const list = [0, 7 * MiB, 1000];
      for (let k = 0; k < 10; k++) list.push(1000 + k * MiB, k * (MiB + 512), MiB);
      const ranges = Float64Array.from(list);
      const model = new Uint8Array(1000 + 10 * MiB);
      model.set(bytes.subarray(7 * MiB, 7 * MiB + 1000), 0);
      for (let k = 0; k < 10; k++) model.set(bytes.subarray(k * (MiB + 512), k * (MiB + 512) + MiB), 1000 + k * MiB);
      const dst = path("ranges-train-dst");
      writeFileSync(dst, "");
      withFd(src, "r", (fin) => withFd(dst, "r+", (fout) => expect(io.copyRanges(fin, fout, ranges, 11)).toBe(11)));
      expect(Buffer.from(readFileSync(dst)).equals(Buffer.from(model))).toBe(true);
    });

    it("stops where the input ends: the count says where, and the ranges before it are written", () => {
      const { file: src, bytes } = randomFile("ranges-short", 64 << 10, 13);
      const dst = path("ranges-short-dst");
      // Range 1 touches range 0 and reads on past the end of the input; range 2 would be fine.
      // The addon reads ranges 0 and 1 with one pread, so it may report range 0 as not written.
      const ranges = Float64Array.of(0, 0, 4096, 4096, 8192, 60 << 10, 100_000, 0, 10);
      for (const [state, far] of [[undefined, 0], [{ kernel: true }, 0], [undefined, 1 << 20]] as const) {
        ranges[4] = 8192 + far;
        writeFileSync(dst, new Uint8Array(128 << 10).fill(0xee));
        const done = withFd(src, "r", (fin) => withFd(dst, "r+", (fout) => io.copyRanges(fin, fout, ranges, 3, state)));
        // Read apart (input 1 MiB away), range 0 is written whatever the implementation.
        expect(done).toBe(far > 0 || !isAddon ? 1 : done);
        expect([0, 1]).toContain(done);
        const out = new Uint8Array(readFileSync(dst));
        if (done === 1) expect(Buffer.from(out.subarray(0, 4096)).equals(Buffer.from(bytes.subarray(0, 4096)))).toBe(true);
        expect(out.subarray(100_000, 100_010).every((b) => b === 0xee)).toBe(true);
      }
    });

    it("refuses what is not a Float64Array of whole byte numbers, a count past the ranges; I/O errors are NativeIoErrors", () => {
      const { file } = randomFile("ranges-bad", 8192, 14);
      withFd(file, "r", (fd) => {
        expect(() => io.copyRanges(fd, fd, [0, 0, 1] as unknown as Float64Array, 1)).toThrow(NativeRangeError);
        expect(() => io.copyRanges(fd, fd, Float64Array.of(0, 0, 1), 2)).toThrow(NativeRangeError);
        expect(() => io.copyRanges(fd, fd, Float64Array.of(0.5, 0, 1), 1)).toThrow(NativeRangeError);
        expect(() => io.copyRanges(fd, fd, Float64Array.of(0, -2, 1), 1)).toThrow(NativeRangeError);
        expect(() => io.copyRanges(fd, fd, Float64Array.of(2 ** 53, 0, 1), 1)).toThrow(NativeRangeError);
        expect(io.copyRanges(fd, fd, new Float64Array(0), 0)).toBe(0);
        // Writing to a descriptor open for reading only.
        expect(catchError(() => io.copyRanges(fd, fd, Float64Array.of(0, -1, 10), 1))).toMatchObject({ code: "LWLOG_IO", errno: "EBADF" });
        expect(catchError(() => io.copyRanges(fd, closedFd(), Float64Array.of(0, 0, 10), 1))).toBeInstanceOf(NativeIoError);
      });
    });
  });

  describe("punchHole, zeroRange, blockZeroOut, blockDiscard, blockDeviceSize", () => {
    it("punchHole and zeroRange make a file's range read as zeros (or say they cannot)", () => {
      for (const op of ["punchHole", "zeroRange"] as const) {
        const { file, bytes } = randomFile(op, 8 * MiB, 8);
        const done = withFd(file, "r+", (fd) => io[op](fd, MiB + 512, 5 * MiB));
        // ext4 does both; the fallbacks cannot (the caller then writes zeros).
        expect(done).toBe(isAddon);
        const after = new Uint8Array(readFileSync(file));
        const want = bytes.slice();
        if (done) want.fill(0, MiB + 512, 6 * MiB + 512);
        expect(Buffer.from(after).equals(Buffer.from(want))).toBe(true);
        expect(statSync(file).size).toBe(8 * MiB);
        if (op === "punchHole" && done) expect(statSync(file).blocks * 512).toBeLessThanOrEqual(4 * MiB);
      }
    });

    it("zeroRange grows a file it reaches past; on tmpfs (no ZERO_RANGE) it reports false", () => {
      const file = path("zero-grow");
      writeFileSync(file, new Uint8Array(4096).fill(1));
      const grown = withFd(file, "r+", (fd) => io.zeroRange(fd, 4096, 8192));
      expect(statSync(file).size).toBe(grown ? 12_288 : 4096);
      expect(grown).toBe(isAddon);
      const onShm = path("zero-shm", shm ?? tmp.path);
      writeFileSync(onShm, new Uint8Array(8192).fill(1));
      expect(withFd(onShm, "r+", (fd) => io.zeroRange(fd, 0, 4096))).toBe(shm === undefined ? isAddon : false);
    });

    it("on a block device: BLKZEROOUT and BLKDISCARD zero aligned ranges, refuse unaligned ones; BLKGETSIZE64", () => {
      const backing = path("blk");
      writeFileSync(backing, new Uint8Array(8 * MiB).fill(0xab));
      withLoop(backing, (dev) =>
        withFd(dev, "r+", (fd) => {
          expect(io.blockDeviceSize(fd)).toBe(8 * MiB);
          expect(io.blockZeroOut(fd, MiB, 2 * MiB)).toBe(isAddon);
          expect(io.blockZeroOut(fd, 100, 512)).toBe(false); // not 512-aligned
          expect(io.blockZeroOut(fd, 8 * MiB, 512)).toBe(false); // past the end
          expect(io.blockDiscard(fd, 4 * MiB, MiB)).toBe(isAddon);
          expect(io.blockZeroOut(fd, 0, 0)).toBe(isAddon); // nothing to do: done, unless it cannot be done at all
        }),
      );
      const img = new Uint8Array(readFileSync(backing));
      const zeroed = (from: number, to: number) => img.subarray(from, to).every((b) => b === 0);
      const kept = (from: number, to: number) => img.subarray(from, to).every((b) => b === 0xab);
      expect(kept(0, MiB)).toBe(true);
      expect(isAddon ? zeroed(MiB, 3 * MiB) : kept(MiB, 3 * MiB)).toBe(true);
      expect(kept(3 * MiB, 4 * MiB) && kept(5 * MiB, 8 * MiB)).toBe(true);
      // A loop device discards by punching its backing file: zeros here (not on every device).
      expect(isAddon ? zeroed(4 * MiB, 5 * MiB) : kept(4 * MiB, 5 * MiB)).toBe(true);
    });

    it("on a regular file the block calls report false and blockDeviceSize throws ENOTTY; bad descriptors throw", () => {
      const { file } = randomFile("blk-file", 8192, 9);
      withFd(file, "r+", (fd) => {
        expect(io.blockZeroOut(fd, 0, 4096)).toBe(false);
        expect(io.blockDiscard(fd, 0, 4096)).toBe(false);
        expect(catchError(() => io.blockDeviceSize(fd))).toMatchObject({ code: "LWLOG_IO", errno: "ENOTTY" });
        expect(() => io.punchHole(fd, 0, 2 ** 53)).toThrow(NativeRangeError);
        expect(() => io.blockZeroOut(fd, 1n as unknown as number, 512)).toThrow(NativeRangeError);
      });
      const bad = closedFd();
      for (const call of [
        () => io.punchHole(bad, 0, 4096),
        () => io.zeroRange(bad, 0, 4096),
        () => io.blockZeroOut(bad, 0, 4096),
        () => io.blockDiscard(bad, 0, 4096),
        () => io.blockDeviceSize(bad),
      ]) {
        expect(catchError(call)).toMatchObject({ code: "LWLOG_IO", errno: "EBADF" });
      }
    });
  });
});

describe("xxh64Into", () => {
  const hex = (out: Uint32Array, i: number) => out[2 * i + 1]!.toString(16).padStart(8, "0") + out[2 * i]!.toString(16).padStart(8, "0");

  it("is the addon's only: the fallbacks leave it undefined (callers use xxhash-wasm)", () => {
    expect(fallback.xxh64Into).toBeUndefined();
    if (native.available) expect(typeof native.xxh64Into).toBe("function");
  });

  describe.each(impls.filter(([name]) => name === "addon"))("%s", (_name, io) => {
    const xxh = io.xxh64Into!;
    it("gives XXH64's values (every tail length: 0-31 bytes, stripes and the 8/4/1-byte pieces), at the index asked", () => {
      const out = new Uint32Array(8);
      const text = (s: string) => new TextEncoder().encode(s);
      xxh(text(""), 0, 0, out, 0);
      xxh(text("a"), 0, 0, out, 1);
      xxh(text("abc"), 0, 0, out, 2);
      xxh(text("hello world, this is a string longer than thirty-two bytes!"), 0, 0, out, 3);
      // The xxHash specification's values, which xxhash-wasm's h64 gives too.
      expect([0, 1, 2, 3].map((i) => hex(out, i))).toEqual(["ef46db3751d8e999", "d24ec4f1a98c6e5b", "44bc2cf5ad770999", "34cb78b4eb1e0a5a"]);
    });

    it("hashes a view where it lies (byteOffset honoured), and the seed changes the value", () => {
      const bytes = randomBytes(4096 + 7, 5);
      const out = new Uint32Array(6);
      xxh(bytes.subarray(7), 0, 0, out, 0);
      xxh(bytes.slice(7), 0, 0, out, 1);
      xxh(bytes.subarray(7), 1, 0, out, 2);
      expect(hex(out, 0)).toBe(hex(out, 1));
      expect(hex(out, 2)).not.toBe(hex(out, 0));
    });

    it("refuses what is not a Uint8Array, an out that is not a Uint32Array, an index past out, bad seeds", () => {
      const out = new Uint32Array(4);
      const data = new Uint8Array(8);
      expect(() => xxh(new Uint16Array(4) as unknown as Uint8Array, 0, 0, out, 0)).toThrow(RangeError);
      expect(() => xxh(data, 0, 0, new Float64Array(2) as unknown as Uint32Array, 0)).toThrow(RangeError);
      expect(() => xxh(data, 0, 0, out, 2)).toThrow(/past the end/);
      expect(() => xxh(data, 0, 0, new Uint32Array(1), 0)).toThrow(/past the end/);
      expect(() => xxh(data, -1, 0, out, 0)).toThrow(RangeError);
      expect(() => xxh(data, 0, 2 ** 32, out, 0)).toThrow(RangeError);
      expect(() => xxh(data, 0, 0, out, 1.5)).toThrow(RangeError);
      xxh(data, 0, 0, out, 1);
      expect(out[0]).toBe(0); // nothing but the asked pair written
    });
  });
});

describe.each(impls.filter(([name]) => name === "addon"))("%s's mappings", () => {
  it("are unmapped by the finalizer when dropped without unmap (the safety net), in a child process", () => {
    const { file } = randomFile("finalize", 8 * MiB, 10);
    // Maps 2000 windows of 4 MiB (8 GB of address space) and drops them: only garbage
    // collection can release them. Counts the process's mappings of the file at the end.
    const script = `
      const addon = require(${JSON.stringify(addonPath)});
      const fs = require("fs");
      const fd = fs.openSync(${JSON.stringify(file)}, "r");
      const count = () => fs.readFileSync("/proc/self/maps", "utf8").split("\\n").filter((l) => l.endsWith(${JSON.stringify(file)})).length;
      let sum = 0;
      for (let i = 0; i < 2000; i++) sum += addon.map(fd, 0, 4 << 20, 2)[i]; 
      const before = count();
      globalThis.gc();
      setImmediate(() => setImmediate(() => { globalThis.gc(); setImmediate(() => console.log(JSON.stringify({ before, after: count(), sum }))); }));
    `;
    const r = run(process.execPath, ["--expose-gc", "-e", script]);
    const out = JSON.parse(r.stdout) as { before: number; after: number };
    expect(out.before).toBeGreaterThan(0);
    expect(out.after).toBeLessThan(out.before);
    expect(out.after).toBeLessThanOrEqual(1);
  });

  it("unmapping one mapping leaves the others readable", () => {
    const { file, bytes } = randomFile("two", MiB, 11);
    withFd(file, "r", (fd) => {
      const a = native.mapRange(fd, 0, 8192);
      const b = native.mapRange(fd, 4096, 8192);
      expect(native.unmap(a)).toBe(true);
      expect(Buffer.from(b).equals(Buffer.from(bytes.subarray(4096, 12_288)))).toBe(true);
      expect(native.unmap(b)).toBe(true);
      expect(fstatSync(fd).size).toBe(MiB);
    });
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}
