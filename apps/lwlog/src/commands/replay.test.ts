import { chmodSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, randomBytes, run, sha256File } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-replay-cli-");
afterAll(() => tmp.cleanup());

const ext4 = kernelLogs().find((k) => k.file === "ext4-4k.log")!;
const raw = kernelLogs().find((k) => k.file === "raw-512.log")!;
let n = 0;
const fresh = (name = "img") => join(tmp.path, `${name}-${++n}.img`);

/** A small log: 4 writes of 4 KiB at sectors 0, 8, 16, 24 (S = 512), a flush, a FUA write, a mark, a discard, a mark. */
async function smallLog(options: { tailWrites?: number } = {}): Promise<string> {
  const path = join(tmp.path, `small-${++n}.log`);
  const w = await LogWriter.create(path, { sectorSize: 512 });
  for (let i = 0; i < 4; i++) await w.write(BigInt(i * 8), randomBytes(4096, i + 1)); // 0..3
  await w.flush(); // 4
  await w.write(40n, randomBytes(1024, 9), { flags: 2n }); // 5: FUA
  await w.mark("one"); // 6
  await w.discard(8n, 16n); // 7
  await w.mark("two"); // 8
  await w.writeSuper();
  for (let i = 0; i < (options.tailWrites ?? 0); i++) await w.write(BigInt(64 + i * 8), randomBytes(4096, 50 + i)); // tail
  await w.close({ super: false });
  return path;
}

describe("lwlog replay: stop and start points", () => {
  it("--until-mark stops after the first mark of that name, inclusive", async () => {
    const m = ext4.marks.find((x) => x.name === "rm")!;
    const img = fresh();
    const r = await runLwlog(["replay", ext4.path, "--to", img, "--size", String(ext4.data_device_bytes), "--until-mark", "rm"]);
    expect(r.code).toBe(0);
    // The replay read the log up to the mark only, so it says nothing of a tail.
    expect(r.stdout).toMatch(new RegExp(`^replayed entries 0\\.\\.${m.entry_index} \\(${m.entry_index + 1}\\) onto .*: \\d+ writes .*, \\d+ discards .* zeroed, 0 checkpoints, [0-9.]+ s\\n$`));
    expect(sha256File(img)).toBe(m.sha256);
  });

  it("--until-entry N is inclusive (no +1): N + 1 entries", async () => {
    const img = fresh();
    const r = await runLwlog(["replay", await smallLog(), "--to", img, "--size", "64K", "--until-entry", "2", "--json"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect([s.start, s.last, s.entries, s.writes, s.stopReason]).toEqual([0, 2, 3, 3, "entry"]);
    const bytes = readFileSync(img);
    expect(bytes.subarray(8192, 12288)).toEqual(Buffer.from(randomBytes(4096, 3)));
    expect(bytes.subarray(12288, 16384).every((b) => b === 0)).toBe(true);
  });

  it("--next-flush and --next-fua stop at the first such entry from the start point; --limit counts from it", async () => {
    const log = await smallLog();
    const flush = JSON.parse((await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--next-flush", "--json"])).stdout);
    expect([flush.last, flush.stopReason]).toEqual([4, "flush"]);
    const fua = JSON.parse((await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--next-fua", "--json"])).stdout);
    expect([fua.last, fua.stopReason]).toEqual([5, "fua"]);
    const limit = JSON.parse((await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--from-entry", "2", "--limit", "3", "--json"])).stdout);
    expect([limit.start, limit.last, limit.entries, limit.stopReason]).toEqual([2, 4, 3, "limit"]);
    // Several stop points: the earliest wins.
    const both = JSON.parse((await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--until-mark", "two", "--next-fua", "--json"])).stdout);
    expect([both.last, both.stopReason]).toEqual([5, "fua"]);
    // No FLUSH after entry 5: an error, nothing written.
    const img = fresh();
    const none = await runLwlog(["replay", log, "--to", img, "--size", "64K", "--from-entry", "5", "--next-flush"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no FLUSH entry at or after entry 5 [LWLOG_POINT_NOT_FOUND]");
    expect(existsSync(img)).toBe(false);
  });

  it("--from-mark starts after the mark; --from-entry at the entry", async () => {
    const log = await smallLog();
    const s = JSON.parse((await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--from-mark", "one", "--json"])).stdout);
    expect([s.start, s.last, s.discards, s.writes]).toEqual([7, 8, 1, 0]);
    const e = JSON.parse((await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--from-entry", "5", "--until-mark", "one", "--json"])).stdout);
    expect([e.start, e.last, e.writes]).toEqual([5, 6, 1]);
  });

  it("tail entries are counted always and replayed only with --tail", async () => {
    const log = await smallLog({ tailWrites: 3 });
    const without = await runLwlog(["replay", log, "--to", fresh(), "--size", "64K"]);
    expect(without.code).toBe(0);
    expect(without.stdout).toContain("entries 0..8 (9)");
    expect(without.stdout).toContain("3 tail entries (not replayed: --tail)");
    const img = fresh();
    const withTail = JSON.parse((await runLwlog(["replay", log, "--to", img, "--size", "64K", "--tail", "--json"])).stdout);
    expect([withTail.last, withTail.declared, withTail.tailEntries, withTail.tailReplayed]).toEqual([11, 9, 3, 3]);
    expect(readFileSync(img).subarray(64 * 512, 64 * 512 + 4096)).toEqual(Buffer.from(randomBytes(4096, 50)));
    // A stop point in the tail needs --tail.
    // The whole-log path (--size auto, no header pass first) counts them the same way.
    const auto = JSON.parse((await runLwlog(["replay", log, "--to", fresh(), "--size", "auto", "--json"])).stdout);
    expect([auto.last, auto.declared, auto.tailEntries, auto.tailReplayed, auto.targetSize]).toEqual([8, 9, 3, 0, 21504]);
    const autoTail = JSON.parse((await runLwlog(["replay", log, "--to", fresh(), "--size", "auto", "--tail", "--json"])).stdout);
    expect([autoTail.last, autoTail.tailReplayed, autoTail.targetSize]).toEqual([11, 3, (64 + 16) * 512 + 4096]);
    const r = await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--until-entry", "10"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no entry 10 to stop at: the log has 9 entries (it is past the declared entries: add --tail)");
  });

  it("--sectors A-B replays only the writes and discards that touch the range", async () => {
    const log = await smallLog();
    const img = fresh();
    writeFileSync(img, Buffer.alloc(65536, 0xee));
    const s = JSON.parse((await runLwlog(["replay", log, "--to", img, "--sectors", "10-12", "--json"])).stdout);
    // Touching 10..12: the write at 8..15 and the discard of 8..23; not the writes at 0, 16, 24, 40.
    expect([s.writes, s.discards, s.filtered]).toEqual([1, 1, 4]);
    const bytes = readFileSync(img);
    expect(bytes.subarray(0, 4096).every((b) => b === 0xee)).toBe(true);
    expect(bytes.subarray(4096, 12288).every((b) => b === 0)).toBe(true); // written, then discarded
    expect(bytes.subarray(12288, 16384).every((b) => b === 0xee)).toBe(true); // 24..31 untouched
  });

  it("--discard skip leaves discarded ranges as they are", async () => {
    const img = fresh();
    const s = JSON.parse((await runLwlog(["replay", await smallLog(), "--to", img, "--size", "64K", "--discard", "skip", "--json"])).stdout);
    expect([s.discards, s.discardsSkipped]).toEqual([0, 1]);
    expect(readFileSync(img).subarray(4096, 8192)).toEqual(Buffer.from(randomBytes(4096, 2)));
  });
});

describe("lwlog replay: targets", () => {
  it("--size auto sizes a new image from the log's highest byte; an existing file is never shrunk without --truncate", async () => {
    const img = fresh();
    const s = JSON.parse((await runLwlog(["replay", raw.path, "--to", img, "--size", "auto", "--until-mark", "start", "--json"])).stdout);
    expect(s.targetCreated).toBe(true);
    expect(statSync(img).size).toBe(raw.data_device_bytes); // the whole-device discard reaches the last byte
    const big = fresh();
    writeFileSync(big, Buffer.alloc(128 << 10, 0x11));
    await runLwlog(["replay", await smallLog(), "--to", big, "--size", "64K"]);
    expect(statSync(big).size).toBe(128 << 10);
    expect(readFileSync(big)[100_000]).toBe(0x11);
    // --truncate: starts from zeros, at --size.
    const r = await runLwlog(["replay", await smallLog(), "--to", big, "--size", "64K", "--truncate", "--until-entry", "0"]);
    expect(r.code).toBe(0);
    expect(statSync(big).size).toBe(64 << 10);
    expect(readFileSync(big).subarray(4096).every((b) => b === 0)).toBe(true);
  });

  it("replays onto a block device (a loop device), discards included", async () => {
    const backing = fresh("loop-backing");
    writeFileSync(backing, Buffer.alloc(0));
    run("truncate", ["-s", String(raw.data_device_bytes), backing]);
    const dev = run("losetup", ["-f", "--show", backing]).stdout.trim();
    try {
      for (const m of [raw.marks[3]!, raw.marks.at(-1)!]) {
        const r = await runLwlog(["replay", raw.path, "--to", dev, "--until-mark", m.name]);
        expect(r.code, r.stderr).toBe(0);
        expect(sha256File(dev)).toBe(m.sha256);
      }
      const size = await runLwlog(["replay", raw.path, "--to", dev, "--size", "1M"]);
      expect(size.code).toBe(2);
      expect(size.stderr).toContain("is a block device");
    } finally {
      run("losetup", ["-d", dev]);
    }
  });
});

describe("lwlog replay: bad input (exit codes as in docs/cli.md)", () => {
  it("a block device in use (a mounted file system) is refused: exit 2, the file system untouched", async () => {
    const backing = fresh("mounted-backing");
    writeFileSync(backing, Buffer.alloc(0));
    run("truncate", ["-s", String(16 << 20), backing]);
    run("mkfs.ext4", ["-q", "-F", backing]);
    const before = sha256File(backing);
    const dev = run("losetup", ["-f", "--show", backing]).stdout.trim();
    const mnt = join(tmp.path, `mnt-${++n}`);
    mkdirSync(mnt);
    run("mount", ["-o", "ro", dev, mnt]);
    try {
      const r = await runLwlog(["replay", await smallLog(), "--to", dev]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${dev}: is in use (a mounted file system?); refusing to write under it [LWLOG_TARGET_IN_USE]`);
    } finally {
      run("umount", [mnt]);
      run("losetup", ["-d", dev]);
    }
    expect(sha256File(backing)).toBe(before);
  });

  it("a mark that does not exist: exit 1, nothing created or written", async () => {
    const img = fresh();
    const r = await runLwlog(["replay", ext4.path, "--to", img, "--size", "auto", "--until-mark", "nope"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`lwlog: error: ${ext4.path}: no mark named "nope" at or after entry 0 [LWLOG_POINT_NOT_FOUND]\n`);
    expect(existsSync(img)).toBe(false);
    const existing = fresh();
    writeFileSync(existing, Buffer.alloc(4096, 0x42));
    const from = await runLwlog(["replay", ext4.path, "--to", existing, "--from-mark", "nope"]);
    expect(from.code).toBe(1);
    expect(from.stderr).toContain(`no mark named "nope" to start after`);
    expect(readFileSync(existing)).toEqual(Buffer.alloc(4096, 0x42));
  });

  it("a stop mark only before the start point is reported as such", async () => {
    const r = await runLwlog(["replay", ext4.path, "--to", fresh(), "--size", "auto", "--from-mark", "rm", "--until-mark", "files"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no mark named "files" at or after entry \d+; the first one is at entry \d+, before the start/);
  });

  it("entries that do not exist: exit 1", async () => {
    const r1 = await runLwlog(["replay", ext4.path, "--to", fresh(), "--size", "auto", "--until-entry", "304"]);
    expect([r1.code, r1.stderr]).toEqual([1, `lwlog: error: ${ext4.path}: no entry 304 to stop at: the log has 304 entries [LWLOG_POINT_NOT_FOUND]\n`]);
    const r2 = await runLwlog(["replay", ext4.path, "--to", fresh(), "--size", "auto", "--from-entry", "999"]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain("no entry 999 to start at: the log has 304 entries");
    const r3 = await runLwlog(["replay", ext4.path, "--to", fresh(), "--size", "auto", "--from-entry", "10", "--until-entry", "5"]);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toContain("stop entry 5 is before the start entry 10");
  });

  it("the target is the log itself (or a hard link to it): exit 2, the log untouched", async () => {
    const log = await smallLog();
    const before = sha256File(log);
    const r = await runLwlog(["replay", log, "--to", log]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${log}: is the log itself`);
    expect(r.stderr).toContain("[LWLOG_TARGET_IS_LOG]");
    const link = join(tmp.path, "hardlink.img");
    linkSync(log, link);
    expect((await runLwlog(["replay", log, "--to", link, "--truncate"])).code).toBe(2);
    expect(sha256File(log)).toBe(before);
  });

  it("a target too small for a write: exit 2 before anything is written; --size grows it", async () => {
    const img = fresh();
    writeFileSync(img, Buffer.alloc(8192, 0x33));
    const r = await runLwlog(["replay", await smallLog(), "--to", img]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${img}: is too small: the replay writes up to byte 21503, the target has 8192 bytes (give --size BYTES or --size auto to grow it) [LWLOG_TARGET_TOO_SMALL]`);
    expect(readFileSync(img)).toEqual(Buffer.alloc(8192, 0x33));
    const ok = await runLwlog(["replay", await smallLog(), "--to", img, "--size", "auto"]);
    expect(ok.code).toBe(0);
    expect(statSync(img).size).toBe(21504);
    // A new image smaller than the log needs is refused before it is created.
    const small = fresh();
    expect((await runLwlog(["replay", await smallLog(), "--to", small, "--size", "4K"])).code).toBe(2);
    expect(existsSync(small)).toBe(false);
  });

  it("a file that is not a log: exit 1, nothing created", async () => {
    const notLog = join(tmp.path, "not-a-log.bin");
    writeFileSync(notLog, Buffer.alloc(4096, 0x61));
    const img = fresh();
    const r = await runLwlog(["replay", notLog, "--to", img, "--size", "1M"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${notLog}`);
    expect(r.stderr).toContain("[LWLOG_BAD_MAGIC]");
    expect(existsSync(img)).toBe(false);
  });

  it("a missing target without --size: exit 2", async () => {
    const img = fresh();
    const r = await runLwlog(["replay", await smallLog(), "--to", img]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${img}: no such file; give a size (--size BYTES or --size auto) to create it [LWLOG_TARGET_MISSING]`);
  });

  it("a read-only target: a 0444 file, and a read-only loop device: exit 2 before any write", async () => {
    const img = fresh();
    writeFileSync(img, Buffer.alloc(65536, 0x44));
    chmodSync(img, 0o444);
    const r = await runLwlog(["replay", await smallLog(), "--to", img]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${img}: is read-only (mode 0444)`);
    expect(readFileSync(img).equals(Buffer.alloc(65536, 0x44))).toBe(true);
    const backing = fresh("ro-backing");
    writeFileSync(backing, Buffer.alloc(1 << 20, 0x45));
    const dev = run("losetup", ["-f", "--show", "-r", backing]).stdout.trim();
    try {
      const d = await runLwlog(["replay", await smallLog(), "--to", dev]);
      expect(d.code).toBe(2);
      expect(d.stderr).toContain(`${dev}: is a read-only block device [LWLOG_TARGET_READ_ONLY]`);
    } finally {
      run("losetup", ["-d", dev]);
    }
    expect(readFileSync(backing).equals(Buffer.alloc(1 << 20, 0x45))).toBe(true);
  });

  it("a log corrupt mid-way: every entry before the broken one is applied, and the message says so (exit 1)", async () => {
    const log = await smallLog();
    const bytes = readFileSync(log);
    const broken = join(tmp.path, "broken.log");
    writeFileSync(broken, bytes);
    // Entry 3's header block (after the super and three 512 + 4096-byte entries): a stray byte in its padding.
    const offset = 512 + 3 * (512 + 4096);
    const fd = openSync(broken, "r+");
    writeSync(fd, new Uint8Array([0x7f]), 0, 1, offset + 100);
    closeSync(fd);
    const img = fresh();
    const r = await runLwlog(["replay", broken, "--to", img, "--size", "64K"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${broken}: entry 3: offset ${offset}: malformed entry`);
    expect(r.stderr).toContain(`the replay stopped there: entries 0..2 have been applied to ${img}`);
    expect(r.stdout).toContain("replayed entries 0..2 (3)");
    const expected = fresh();
    await runLwlog(["replay", log, "--to", expected, "--size", "64K", "--until-entry", "2"]);
    expect(sha256File(img)).toBe(sha256File(expected));
    // The same through the whole-log path (--size auto).
    const auto = fresh();
    const ra = await runLwlog(["replay", broken, "--to", auto, "--size", "auto"]);
    expect(ra.code).toBe(1);
    expect(ra.stderr).toContain(`${broken}: entry 3: offset ${offset}: malformed entry`);
    expect(ra.stderr).toContain(`the replay stopped there: entries 0..2 have been applied to ${auto}`);
    expect(Buffer.from(readFileSync(auto)).subarray(0, 12288).equals(readFileSync(expected).subarray(0, 12288))).toBe(true);
    // A stop point before the break is fine.
    expect((await runLwlog(["replay", broken, "--to", fresh(), "--size", "64K", "--until-entry", "2"])).code).toBe(0);
    // One past it cannot be reached: nothing is written.
    const after = fresh();
    const m = await runLwlog(["replay", broken, "--to", after, "--size", "64K", "--until-mark", "one"]);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain("the log is readable only up to entry 3");
    expect(existsSync(after)).toBe(false);
  });

  it("a log broken at its first entry: exit 1, no image created, an existing one untouched", async () => {
    const broken = join(tmp.path, `broken-first-${++n}.log`);
    writeFileSync(broken, readFileSync(await smallLog()));
    const fd = openSync(broken, "r+");
    writeSync(fd, new Uint8Array([0x7f]), 0, 1, 512 + 100);
    closeSync(fd);
    for (const size of ["64K", "auto"]) {
      const img = fresh();
      const r = await runLwlog(["replay", broken, "--to", img, "--size", size]);
      expect(r.code, size).toBe(1);
      expect(r.stdout, size).toBe("");
      expect(r.stderr, size).toContain(`${broken}: entry 0: offset 512: malformed entry`);
      expect(r.stderr, size).toContain(`nothing was written to ${img}`);
      expect(existsSync(img), size).toBe(false);
    }
    const existing = fresh();
    writeFileSync(existing, Buffer.alloc(65536, 0x42));
    expect((await runLwlog(["replay", broken, "--to", existing, "--truncate"])).code).toBe(1);
    expect(readFileSync(existing).equals(Buffer.alloc(65536, 0x42))).toBe(true);
  });

  it("bad options: exit 2", async () => {
    const log = await smallLog();
    const cases: [string[], string][] = [
      [["--check", "flush"], "--check and --exec go together"],
      [["--exec", "true"], "--check and --exec go together"],
      [["--check", "sometimes", "--exec", "true"], "--check takes flush, fua, mark, discard or every:N"],
      [["--check", "every:0", "--exec", "true"], "every:N needs N ≥ 1"],
      [["--keep-going"], "--keep-going needs --check and --exec"],
      [["--from-mark", "one", "--from-entry", "1"], "give --from-mark or --from-entry, not both"],
      [["--discard", "trim"], "--discard is one of zero, skip"],
      [["--size", "lots"], "--size takes a size"],
      [["--limit", "0"], "--limit takes a whole number ≥ 1"],
      [["--sectors", "9-3"], "the end is before the start"],
    ];
    for (const [args, msg] of cases) {
      const r = await runLwlog(["replay", log, "--to", fresh(), ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toContain(msg);
    }
    const noTo = await runLwlog(["replay", log]);
    expect(noTo.code).toBe(2);
    expect(noTo.stderr).toContain("--to <target>");
    const missing = await runLwlog(["replay", join(tmp.path, "no-such.log"), "--to", fresh(), "--size", "1M"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no such file [LWLOG_NOT_FOUND]");
  });

  it("interrupted: stops after the entry being applied, exit 130, says how far it got", async () => {
    const interrupt = {
      onInterrupt: (handler: () => void) => {
        handler();
        return () => {};
      },
    };
    const img = fresh();
    const r = await runLwlog(["replay", ext4.path, "--to", img, "--size", "auto", "--in-order"], interrupt);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted after entry 0: entries 0\.\.0 have been applied to /);
    // Compacted, the interrupt comes while the replay is planned: nothing is written, the image not even created.
    const compacted = fresh();
    const c = await runLwlog(["replay", ext4.path, "--to", compacted, "--size", "auto"], interrupt);
    expect(c.code).toBe(130);
    expect(c.stderr).toMatch(/interrupted while planning the replay: nothing was written to /);
    expect(existsSync(compacted)).toBe(false);
  });
});

describe("lwlog replay: checkpoints", () => {
  it("runs the command at each checkpoint with the entry, the mark and the paths; {image} is the target", async () => {
    const log = await smallLog();
    const img = fresh();
    const out = join(tmp.path, "calls.txt");
    const r = await runLwlog([
      "replay", log, "--to", img, "--size", "64K", "--check", "mark,fua", "--exec",
      `echo "$LWLOG_ENTRY|\${LWLOG_MARK-none}|$LWLOG_FLAGS|$LWLOG_CHECKPOINT|$(basename $LWLOG_LOG)|$([ "$LWLOG_IMAGE" = {image} ] && echo same)" >> ${out}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("3 checkpoints (3 passed, 0 failed)");
    const name = log.split("/").pop();
    expect(readFileSync(out, "utf8")).toBe(`5|none|FUA|1|${name}|same\n6|one|MARK|2|${name}|same\n8|two|MARK|3|${name}|same\n`);
  });

  it("every:N and discard; the target is synced and holds the entry when the command runs", async () => {
    const log = await smallLog();
    const img = fresh();
    const out = join(tmp.path, "every.txt");
    const r = await runLwlog(["replay", log, "--to", img, "--size", "64K", "--check", "every:3,discard", "--exec", `od -An -tx1 -j 4096 -N 1 {image} | tr -d ' ' >> ${out}; echo $LWLOG_ENTRY >> ${out}`]);
    expect(r.code, r.stderr).toBe(0);
    // After entry 2 (3rd), 5 (6th), 7 (discard: byte 4096 now zero), 8 (9th).
    const second = randomBytes(4096, 2)[0]!.toString(16).padStart(2, "0");
    expect(readFileSync(out, "utf8").trim().split("\n")).toEqual([second, "2", second, "5", "00", "7", "00", "8"]);
  });

  it("stops at the first failing checkpoint with the last good and first bad entry; --keep-going reports all", async () => {
    const log = await smallLog();
    const check = ["--check", "every:1", "--exec", `test $LWLOG_ENTRY -ne 3 && test $LWLOG_ENTRY -ne 6 || { echo "bad at $LWLOG_ENTRY"; exit 3; }`];
    const r = await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", ...check]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("lwlog: checkpoint failed after entry 3: exit status 3\n    bad at 3\n");
    expect(r.stderr).toContain("stopped at the first failing checkpoint: last good entry 2, first bad entry 3 (the image holds entries 0..3)");
    expect(r.stdout).toContain("entries 0..3 (4)");
    const k = await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", ...check, "--keep-going", "--json"]);
    expect(k.code).toBe(1);
    const s = JSON.parse(k.stdout);
    expect(s.last).toBe(8);
    expect([s.checkpoints.run, s.checkpoints.passed, s.checkpoints.lastGood, s.checkpoints.firstBad]).toEqual([9, 7, 2, 3]);
    expect(s.checkpoints.failed.map((f: { entry: number; exitCode: number; output: string }) => [f.entry, f.exitCode, f.output])).toEqual([
      [3, 3, "bad at 3\n"],
      [6, 3, "bad at 6\n"],
    ]);
    const text = await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", ...check, "--keep-going"]);
    expect(text.stderr).toContain("2 of 9 checkpoints failed, at entries 3, 6");
  });

  it("one pass with checkpoints at every kernel mark gives the manifest's sha256 at each", async () => {
    const img = fresh();
    const out = join(tmp.path, "marks.txt");
    const r = await runLwlog(["replay", ext4.path, "--to", img, "--size", String(ext4.data_device_bytes), "--check", "mark", "--exec", `echo "$LWLOG_ENTRY $(sha256sum < {image} | cut -d' ' -f1)" >> ${out}`]);
    expect(r.code, r.stderr).toBe(0);
    const got = readFileSync(out, "utf8").trim().split("\n").map((l) => l.split(" "));
    expect(got).toEqual(ext4.marks.map((m) => [String(m.entry_index), m.sha256]));
  });
});

describe("lwlog replay: output", () => {
  it("-v lists every entry walked and what was done with it, on stderr", async () => {
    const r = await runLwlog(["replay", await smallLog(), "--to", fresh(), "--size", "64K", "--sectors", "0-7", "-v", "--until-mark", "two"]);
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(9);
    expect(lines[0]).toBe("replayed entry 0 @ 512: write sector 0 +8, 4096 bytes [NONE]");
    expect(lines[1]).toBe("skipped (--sectors) entry 1 @ 5120: write sector 8 +8 [NONE]");
    expect(lines[4]).toMatch(/^passed entry 4 @ \d+: flush \[FLUSH\]$/);
    expect(lines[6]).toMatch(/^passed entry 6 @ \d+: mark "one" \[MARK\]$/);
    expect(lines[7]).toMatch(/^skipped \(--sectors\) entry 7 @ \d+: discard sector 8 \+16 \[DISCARD\]$/);
  });

  it("draws a progress bar only on a terminal", async () => {
    const log = kernelLogs().find((k) => k.file === "xfs-512.log")!;
    const tty = await runLwlog(["replay", log.path, "--to", fresh(), "--size", "auto"], { tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toMatch(/replay \[.*\] \d+% \| \d+\/\d+ entries \| .*B\/.*B \| 0 checkpoints/);
    const piped = await runLwlog(["replay", log.path, "--to", fresh(), "--size", "auto"]);
    expect(piped.stderr).toBe("");
  });
});

describe("lwlog replay: a write that fails mid-way", () => {
  it("no space left on the target's file system: exit 2, the entry named, the entries before it applied and said so", async () => {
    const mnt = join(tmp.path, `tmpfs-${++n}`);
    mkdirSync(mnt);
    run("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]);
    try {
      const img = join(mnt, "full.img");
      const r = await runLwlog(["replay", ext4.path, "--to", img, "--size", "auto", "--in-order"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^lwlog: error: ${img}: .*ENOSPC.*; the replay stopped at entry (\\d+) \\(log offset \\d+\\): entries 0\\.\\.(\\d+) have been applied \\[LWLOG_IO\\]\\n$`));
      const [, entry, last] = /stopped at entry (\d+).*entries 0\.\.(\d+)/.exec(r.stderr)!;
      expect(Number(last)).toBe(Number(entry) - 1);
      expect(r.stdout).toContain(`replayed entries 0..${last} (${Number(last) + 1}) onto ${img}`);
      // Compacted, every entry's effect is written at the end, together: the message says which entries were being written.
      rmSync(img);
      const c = await runLwlog(["replay", ext4.path, "--to", join(mnt, "full2.img"), "--size", "auto"]);
      expect(c.code).toBe(2);
      expect(c.stderr).toMatch(/ENOSPC.*; the replay stopped while writing what entries 0\.\.303 leave on the target \(they are written together, by compaction\): no entry has been applied, and part of 0\.\.303 \[LWLOG_IO\]\n$/);
    } finally {
      run("umount", [mnt]);
    }
  });
});
