import { closeSync, openSync, readSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogWriter } from "@lwlog/codec";
import { fallback, native, type LinuxIo } from "@lwlog/native";
import { kernelLogs, makeTempDir, randomBytes, run, sha256File } from "@lwlog/testkit";
import { ImageTarget, replayLog } from "./index.js";

// ImageTarget with the addon's primitives (copy_file_range, fallocate, BLKZEROOUT) and with the
// pure-JS fallbacks (data through a buffer, zero writes): the same bytes either way. The addon
// is tested where it is built (always in CI: @lwlog/native's tests require it there).

const tmp = makeTempDir("lwlog-replay-native-");
afterAll(() => tmp.cleanup());
const MiB = 1 << 20;
let n = 0;
const path = (name: string) => join(tmp.path, `${++n}-${name}`);

const impls: [string, LinuxIo][] = [["fallback", fallback]];
if (native.available) impls.unshift(["addon", native]);

/** A sparse file of `size` bytes with 0xab over `[at, at + len)` for each range given. */
function patterned(file: string, size: number, ranges: [number, number][]): void {
  writeFileSync(file, new Uint8Array(0));
  run("truncate", ["-s", String(size), file]);
  const fd = openSync(file, "r+");
  const buf = new Uint8Array(MiB).fill(0xab);
  for (const [at, len] of ranges) for (let done = 0; done < len; done += MiB) writeSync(fd, buf, 0, Math.min(MiB, len - done), at + done);
  closeSync(fd);
}

/** True when every byte of `[offset, offset + length)` reads as `value`. */
function all(t: ImageTarget, offset: number, length: number, value: number): boolean {
  const buf = Buffer.alloc(4 * MiB);
  // Buffer.equals (memcmp), not every(): hundreds of MiB are compared, on a busy machine too.
  const want = Buffer.alloc(buf.length, value);
  for (let done = 0; done < length; done += buf.length) {
    const view = buf.subarray(0, Math.min(buf.length, length - done));
    t.readInto(view, offset + done);
    if (!view.equals(want.subarray(0, view.length))) return false;
  }
  return true;
}

/** A log with one 4 KiB write at sector 0 and a discard of `bytes` from byte 4096 (4096-byte sectors). */
async function discardLog(bytes: number): Promise<string> {
  const log = path("discard.log");
  const w = await LogWriter.create(log, { sectorSize: 4096 });
  await w.write(0n, randomBytes(4096, 3));
  await w.discard(1n, BigInt(bytes / 4096));
  await w.close();
  return log;
}

describe.each(impls)("ImageTarget with the %s primitives", (name, io) => {
  it("a 200 MiB discard in the middle of a file reads back as zeros (more than replay-log's 128 MiB), neighbours kept", async () => {
    const log = await discardLog(200 * MiB);
    const img = path("file.img");
    // 0xab over the whole discarded range and 1 MiB on each side.
    patterned(img, 256 * MiB, [[0, 202 * MiB]]);
    const target = ImageTarget.open(img, { io });
    const s = await replayLog({ log, target });
    target.close();
    expect([s.discards, s.bytesZeroed]).toEqual([1, 200 * MiB]);
    const t = ImageTarget.open(img, { readOnly: true });
    expect(all(t, 4096, 200 * MiB, 0)).toBe(true);
    expect(all(t, 200 * MiB + 4096, MiB, 0xab)).toBe(true);
    t.close();
    expect(statSync(img).size).toBe(256 * MiB);
    // The addon punches a hole: the 200 MiB are deallocated; the fallback writes zeros.
    const allocated = statSync(img).blocks * 512;
    if (name === "addon") expect(allocated).toBeLessThan(4 * MiB);
    else expect(allocated).toBeGreaterThan(200 * MiB);
  });

  it("a 1 GiB discard over a sparse file allocates nothing (holes stay holes, punched or left alone)", () => {
    const img = path("sparse.img");
    patterned(img, 1536 * MiB, [
      [512 * MiB, MiB],
      [1200 * MiB, MiB],
    ]);
    const t = ImageTarget.open(img, { io });
    t.zero(256 * MiB, 1024 * MiB);
    expect(all(t, 512 * MiB, MiB, 0) && all(t, 1200 * MiB, MiB, 0)).toBe(true);
    t.close();
    // The fallback writes zeros over the two stripes only (2 MiB); the addon punches them out.
    expect(statSync(img).blocks * 512).toBeLessThanOrEqual(name === "addon" ? 64 << 10 : 2 * MiB + (64 << 10));
  });

  it("a 200 MiB discard on a loop device reads back as zeros (BLKZEROOUT or zero writes), an unaligned one too", async () => {
    const log = await discardLog(200 * MiB);
    const backing = path("loop.img");
    patterned(backing, 256 * MiB, [[0, 256 * MiB]]);
    const dev = run("losetup", ["--find", "--show", backing]).stdout.trim();
    try {
      const target = ImageTarget.open(dev, { io });
      expect(target.kind).toBe("device");
      const s = await replayLog({ log, target });
      expect(s.bytesZeroed).toBe(200 * MiB);
      target.zero(220 * MiB + 512, 20 * MiB); // 512-aligned, not 4096: BLKZEROOUT still does it
      target.zero(245 * MiB + 100, 2 * MiB); // unaligned: zero writes
      target.sync();
      expect(all(target, 0, 4096, 0)).toBe(false); // the write's data
      expect(all(target, 4096, 200 * MiB, 0)).toBe(true);
      expect(all(target, 200 * MiB + 4096, 20 * MiB - 4096 + 512, 0xab)).toBe(true);
      expect(all(target, 220 * MiB + 512, 20 * MiB, 0)).toBe(true);
      expect(all(target, 245 * MiB + 100, 2 * MiB, 0)).toBe(true);
      expect(all(target, 245 * MiB, 100, 0xab) && all(target, 247 * MiB + 100, MiB, 0xab)).toBe(true);
      target.close();
    } finally {
      run("losetup", ["--detach", dev]);
    }
  });

  it.each(["kernel", "buffer"] as const)("writes copied from the log land byte for byte (copy %s: copy_file_range or pread/pwrite in C; reads and writes through a buffer): a kernel log to every mark, on a file and a loop device", (copy) => {
    const k = kernelLogs().find((l) => l.file === "ext4-512.log")!;
    const img = path(`kernel-${copy}.img`);
    const backing = path(`kernel-dev-${copy}.img`);
    writeFileSync(backing, new Uint8Array(0));
    run("truncate", ["-s", String(k.data_device_bytes), backing]);
    const dev = run("losetup", ["--find", "--show", backing]).stdout.trim();
    try {
      for (const where of [img, dev]) {
        const target = ImageTarget.open(where, where === img ? { size: k.data_device_bytes, io, copy } : { io, copy });
        const log = LogFile.openSync(k.path);
        const c = log.cursor();
        let marks = 0;
        let bytes = 0;
        for (let e = c.next(); e !== undefined; e = c.next()) {
          // No data given: the target takes it from the log itself.
          bytes += target.applyEntry(e, log).bytes;
          const m = k.marks.find((x) => x.entry_index === e.index);
          if (m !== undefined) {
            target.sync();
            expect(sha256File(where), `${where} at mark ${m.name}`).toBe(m.sha256);
            marks += 1;
          }
        }
        log.close();
        target.close();
        expect(marks).toBe(k.marks.length);
        expect(bytes).toBeGreaterThan(MiB);
      }
    } finally {
      run("losetup", ["--detach", dev]);
    }
  });
});

describe.each(impls.filter(([name]) => name === "addon"))("ImageTarget's data copy with the %s", (_name, io) => {
  it("auto copies in the kernel on tmpfs only (where copy_file_range measured faster); kernel and buffer force it", async () => {
    const { statfsSync, mkdtempSync, rmSync } = await import("node:fs");
    const log = path("copy.log");
    const w = await LogWriter.create(log, { sectorSize: 512 });
    await w.write(8n, randomBytes(256 << 10, 4)); // larger than a read window: the target copies it itself
    await w.close();
    const shm = statSync("/dev/shm", { throwIfNoEntry: false })?.isDirectory() ? mkdtempSync("/dev/shm/lwlog-copy-") : undefined;
    try {
      const dirs = [tmp.path, ...(shm !== undefined ? [shm] : [])];
      for (const dir of dirs) {
        const tmpfs = statfsSync(dir).type === 0x01021994;
        for (const copy of ["auto", "kernel", "buffer"] as const) {
          let calls = 0;
          const counting: LinuxIo = { ...io, copyFileRange: (...a) => (calls++, io.copyFileRange(...a)) };
          const img = join(dir, `${++n}-copy-${copy}.img`);
          const target = ImageTarget.open(img, { size: 1 << 20, io: counting, copy });
          const l = LogFile.openSync(log);
          const e = l.cursor().next()!;
          target.applyEntry(e, l);
          l.close();
          target.close();
          expect(calls > 0, `${copy} on ${dir}`).toBe(copy === "kernel" || (copy === "auto" && tmpfs));
          const back = new Uint8Array(256 << 10);
          const fd = openSync(img, "r");
          readSync(fd, back, 0, back.length, 8 * 512);
          closeSync(fd);
          // Buffer.equals, not toEqual: vitest's deep equality walks 256 Ki elements one by one (seconds).
          expect(Buffer.from(back).equals(randomBytes(256 << 10, 4)), `${copy} on ${dir}`).toBe(true);
        }
      }
    } finally {
      if (shm !== undefined) rmSync(shm, { recursive: true, force: true });
    }
  });
});

describe.each(impls.filter(([name]) => name === "addon"))("no wasted system calls, with the %s", (_name, io) => {
  it("a copy_file_range the kernel refuses (EXDEV: the log on another file system) is asked once a replay, in order or compacted", async () => {
    const { mkdtempSync, rmSync } = await import("node:fs");
    const log = path("exdev.log");
    const w = await LogWriter.create(log, { sectorSize: 512 });
    // Large writes (past the reader's window, and 1 MiB for compaction's kernel copies), far apart.
    for (let i = 0; i < 6; i++) await w.write(BigInt(i * 8192), randomBytes(2 * MiB, i + 1));
    await w.close();
    const shm = mkdtempSync("/dev/shm/lwlog-exdev-");
    try {
      for (const inOrder of [true, false]) {
        // Each call to copyFileRange with whether it may ask the kernel; each call to copyRanges.
        const asked: boolean[] = [];
        let batches = 0;
        const counting: LinuxIo = {
          ...io,
          copyFileRange: (a, b, c, d, e, state) => (asked.push(state?.kernel ?? true), io.copyFileRange(a, b, c, d, e, state)),
          copyRanges: (a, b, r, count, state) => (batches++, io.copyRanges(a, b, r, count, state)),
        };
        const img = join(shm, `${++n}.img`);
        const target = ImageTarget.open(img, { size: 64 * MiB, io: counting, copy: "auto" });
        await replayLog({ log, target, inOrder });
        target.close();
        // In order: the first write asks the kernel, is refused, and the other five go through
        // the buffer without asking. Compacted: the six writes are one call (inside it the kernel
        // is asked once: lwlog's CLI test counts the system calls with strace).
        expect([asked, batches], `in order: ${inOrder}`).toEqual(inOrder ? [[true], 0] : [[], 1]);
        const ref = path("exdev-ref.img");
        await replayLog({ log, target: ref, size: 64 * MiB, inOrder: true });
        expect(sha256File(img)).toBe(sha256File(ref));
      }
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });
});
