import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, readSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, randomBytes, repoRoot, run, sha256File, testDataDir } from "@lwlog/testkit";
import type { CliIo } from "../io.js";
import { MemoryStream, runLwlog } from "../testing.js";
import { parseReplayLogArgs, runReplayLog } from "./replay-log.js";

// lwlog replay-log in-process, on its own: outputs against the kernel logs' manifest, exit
// codes, errors and the choices where it differs from replay-log. The comparisons with the C
// replay-log are in replay-log-differential.test.ts and replay-log-fstests*.test.ts.

const tmp = makeTempDir("lwlog-replay-log-");
afterAll(() => tmp.cleanup());

let n = 0;
/** A blank (sparse) image file of `bytes`: replay-log writes onto an existing one. */
function image(bytes = 64 << 20): string {
  const path = join(tmp.path, `img-${++n}.img`);
  writeFileSync(path, "");
  truncateSync(path, bytes);
  return path;
}

/** Runs the drop-in in-process. */
async function replayLog(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new MemoryStream();
  const stderr = new MemoryStream();
  const io: CliIo = { stdout, stderr, env: { NO_COLOR: "1" }, cwd: tmp.path };
  const code = await runReplayLog(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const ext4 = kernelLogs().find((k) => k.file === "ext4-4k.log")!;
const raw = kernelLogs().find((k) => k.file === "raw-512.log")!;
const sample = (name: string) => join(testDataDir, "samples", `${name}.log`);
const bad = (name: string) => join(testDataDir, "bad", `${name}.log`);

describe("lwlog replay-log: what it prints", () => {
  it("without --replay: Log version=1, sectorsize=S, entries=N; --num-entries: N", async () => {
    for (const k of kernelLogs()) {
      expect(await replayLog("--log", k.path)).toEqual({ code: 0, stdout: `Log version=1, sectorsize=${k.superblock.sectorsize}, entries=${k.superblock.nr_entries}\n`, stderr: "" });
      expect(await replayLog("--num-entries", "--log", k.path)).toEqual({ code: 0, stdout: `${k.superblock.nr_entries}\n`, stderr: "" });
    }
  });

  it("--find --end-mark: ENTRY@SECTOR, SECTOR being where the next entry starts (cut -d@ -f1 gives the entry)", async () => {
    for (const k of [ext4, raw]) {
      const S = k.superblock.sectorsize;
      for (const m of k.marks.filter((x) => x.entry_index < k.entries - 1).slice(0, 6)) {
        const r = await replayLog("--log", k.path, "--find", "--end-mark", m.name);
        const [entry, sector] = r.stdout.trim().split("@").map(Number);
        expect([r.code, entry]).toEqual([0, m.entry_index]);
        // A mark is one header block: the next entry starts right after it.
        const at = await replayLog("--log", k.path, "--find", "--limit", "1", "--start-entry", String(m.entry_index + 1), "-vv");
        expect(at.stdout.split("\n")).toContain(`seek entry ${m.entry_index}@${sector! - 1}: 0, size 0, flags 0x8`);
        expect(sector! * S).toBeGreaterThan(0);
      }
    }
  });

  it("--find --next-fua --start-entry, and --limit counted from the start", async () => {
    const fua = await replayLog("--log", ext4.path, "--find", "--next-fua", "--start-entry", "38");
    expect(fua).toEqual({ code: 0, stdout: "39@2127\n", stderr: "" });
    const limit = await replayLog("--log", ext4.path, "--find", "--limit", "2", "--start-entry", "2");
    expect(limit.stdout).toBe("3@21\n");
  });

  it("-v prints each entry replayed, -vv the entries skipped by --start-sector/--end-sector and those walked to the start", async () => {
    const img = image();
    const v = await replayLog("--log", ext4.path, "--replay", img, "-v", "--start-entry", "34", "--limit", "5");
    expect(v.stdout).toBe(
      [
        "replaying 34@2120: sector 0, size 0, flags 0x1(FLUSH)",
        "replaying 35@2121: sector 0, size 4096, flags 0x0(NONE)",
        "replaying 36@2123: sector 0, size 0, flags 0x1(FLUSH)",
        "replaying 37@2124: sector 0, size 0, flags 0x1(FLUSH)",
        "replaying 38@2125: sector 0, size 0, flags 0x8(MARK)",
        "",
      ].join("\n"),
    );
    const vv = await replayLog("--log", ext4.path, "--replay", image(), "-vv", "--start-entry", "2", "--limit", "3", "--end-sector", "10");
    expect(vv.stdout).toBe(
      [
        "seek entry 0@1: 0, size 0, flags 0x1",
        "seek entry 1@2: 0, size 1, flags 0x4",
        "replaying 2@4: sector 0, size 67108864, flags 0x4(DISCARD)",
        "replay device doesn't support discard, switching to writing zeros",
        "skipping 3@5: sector 16368, size 65536, flags 0x0(NONE)",
        "skipping 4@22: sector 41, size 1048576, flags 0x0(NONE)",
        "",
      ].join("\n"),
    );
  });

  it("--help prints the options (an lwlog addition: replay-log has none)", async () => {
    const r = await replayLog("--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--start-sector S");
    expect(r.stdout).toContain("Exit status: 0 done, 1 any failure, 255 --find met a broken entry");
  });

  it("lwlog replay-log passes its arguments untouched (commander never sees them)", async () => {
    const r = await runLwlog(["replay-log", "--num", "--log", ext4.path, "--", "--bogus"]);
    expect(r).toEqual({ code: 0, stdout: "304\n", stderr: "" });
    expect((await runLwlog(["help", "replay-log"])).stdout).toContain("usage: lwlog replay-log --log LOG");
  });
});

describe("the programs npm ci links", () => {
  it("node_modules/.bin/lwlog-replay-log and lwlog run the built lwlog; a checkout not built says so", () => {
    const bin = join(repoRoot, "node_modules", ".bin");
    expect(run(join(bin, "lwlog-replay-log"), ["--log", ext4.path, "--num-entries"]).stdout).toBe("304\n");
    expect(run(join(bin, "lwlog"), ["--version"]).stdout).toBe("0.1.0\n");
    // The stubs alone, without dist/ beside them: what a checkout shows before npm run build.
    const stubs = join(tmp.path, "unbuilt", "bin");
    mkdirSync(stubs, { recursive: true });
    for (const f of ["lwlog.js", "lwlog-replay-log.js", "not-built.js"]) copyFileSync(join(repoRoot, "apps/lwlog/bin", f), join(stubs, f));
    const r = run(process.execPath, [join(stubs, "lwlog-replay-log.js"), "--num"], { check: false });
    expect([r.status, r.stdout]).toEqual([1, ""]);
    expect(r.stderr).toBe(`lwlog: error: ${join(tmp.path, "unbuilt", "dist", "replay-log-main.js")} is missing: lwlog is not built (run npm run build at the top of the repository) [LWLOG_NOT_BUILT]\n`);
    expect(run(process.execPath, [join(stubs, "lwlog.js"), "info"], { check: false }).status).toBe(2);
  });
});

describe("lwlog replay-log: replays", () => {
  it("to a mark, the image is the kernel's at that mark; --no-discard leaves discarded bytes as they were", async () => {
    for (const m of raw.marks.filter((x) => ["discard-256K", "whole-discard", "dm-log-writes-end"].includes(x.name))) {
      const img = image(raw.data_device_bytes);
      expect(await replayLog("--log", raw.path, "--replay", img, "--end-mark", m.name)).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(sha256File(img)).toBe(m.sha256);
    }
    const kept = image(raw.data_device_bytes);
    await replayLog("--log", raw.path, "--replay", kept, "--no-discard");
    expect(sha256File(kept)).not.toBe(raw.marks.at(-1)!.sha256);
  });

  it("a file smaller than the log grows as written, as replay-log's writes grow it", async () => {
    const img = image(4096);
    expect((await replayLog("--log", ext4.path, "--replay", img, "--end-mark", "mkfs")).code).toBe(0);
    expect(statSync(img).size).toBe(ext4.data_device_bytes);
    expect(sha256File(img)).toBe(ext4.marks[0]!.sha256);
  });

  it("--fsck CMD --check N: CMD runs as given after every N-th entry, its output passed on; a failure stops the replay, exit 1", async () => {
    const count = join(tmp.path, "count");
    writeFileSync(count, "");
    const r = await replayLog("--log", ext4.path, "--replay", image(), "--limit", "10", "--check", "4", "--fsck", `echo run >> ${count}; echo '{image}'`);
    expect(r).toEqual({ code: 0, stdout: "{image}\n{image}\n", stderr: "" });
    expect(readFileSync(count, "utf8")).toBe("run\nrun\n");
    const failing = await replayLog("--log", ext4.path, "--replay", image(), "-v", "--check", "fua", "--fsck", "echo checking; exit 3");
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/replaying 39@2126: sector 0, size 4096, flags 0x2\(FUA\)\nchecking\n$/);
    expect(failing.stderr).toMatch(/^lwlog: error: .*ext4-4k\.log: the --fsck command "echo checking; exit 3" failed after entry 39 \(exit status 3\); the replay stopped there: .* holds entries 0\.\.39 \[LWLOG_CHECK_FAILED\]\n$/);
  });
});

describe("lwlog replay-log: where it differs from replay-log (docs/cli.md lists each)", () => {
  it("a missing --end-mark is exit 1 with nothing written (replay-log replays the whole log and exits 0)", async () => {
    const img = image(1 << 20);
    const r = await replayLog("--log", ext4.path, "--replay", img, "--end-mark", "umount2");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`lwlog: error: ${ext4.path}: no mark named "umount2" at or after entry 0; did you mean "umount"? (the log has 5 marks: "mkfs", "files", "rm", "umount", "dm-log-writes-end") [LWLOG_POINT_NOT_FOUND]\n`);
    expect(statSync(img).size).toBe(1 << 20);
    expect(readFileSync(img).every((b) => b === 0)).toBe(true);
  });

  it("a log declaring no entries is a log with no entries (replay-log fails on it, exit 1)", async () => {
    expect(await replayLog("--log", sample("empty"))).toEqual({ code: 0, stdout: "Log version=1, sectorsize=512, entries=0\n", stderr: "" });
    expect(await replayLog("--log", sample("empty"), "--num-entries")).toEqual({ code: 0, stdout: "0\n", stderr: "" });
    expect((await replayLog("--log", sample("empty"), "--replay", image(4096))).code).toBe(0);
    expect((await replayLog("--log", sample("empty"), "--find", "--limit", "1")).code).toBe(1);
  });

  it("entries past the declared count are not replayed, as by replay-log, and a note says so", async () => {
    const r = await replayLog("--log", sample("tail-entries"), "--replay", image(1 << 20));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^lwlog: note: .*tail-entries\.log: 3 valid entries follow the 2 the superblock declares; they were not replayed, as replay-log leaves them \(lwlog replay --tail replays them\)\n$/);
  });

  it("a missing image is refused (replay-log too): it is never created", async () => {
    const r = await replayLog("--log", ext4.path, "--replay", join(tmp.path, "nope.img"));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nope.img: no such file: replay-log writes onto an existing image file or block device");
  });

  it("a replay past what the image's file system holds is refused before any write: the image is left as it was", async () => {
    // Ten writes, then a discard of 2^40 sectors at sector 1024 (issue 11, item 1).
    const log = join(tmp.path, "huge-discard.log");
    const w = await LogWriter.create(log, { sectorSize: 512 });
    for (let i = 0; i < 10; i++) await w.write(BigInt(i * 8), randomBytes(4096, i + 1));
    await w.discard(1024n, 1n << 40n);
    await w.close();
    const img = join(tmp.path, "huge-discard.img");
    writeFileSync(img, Buffer.alloc(1 << 20, 0x5a));
    const before = sha256File(img);
    const r = await replayLog("--log", log, "--replay", img);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/huge-discard\.img: the replay writes or zeroes up to byte \d+, past the largest file its file system can hold \(\d+ bytes\); refused before anything was written \[LWLOG_FILE_TOO_LARGE\]\n$/);
    expect(sha256File(img)).toBe(before);
  });

  it("the log itself as the target is refused", async () => {
    const copy = join(tmp.path, "self.log");
    writeFileSync(copy, readFileSync(sample("one-write")));
    const r = await replayLog("--log", copy, "--replay", copy);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("[LWLOG_TARGET_IS_LOG]");
    expect(readFileSync(copy)).toEqual(readFileSync(sample("one-write")));
  });

  it("a discard of more than 128 MiB is zeroed on a file (replay-log leaves its bytes: see the differential test)", async () => {
    const log = join(tmp.path, "big-discard.log");
    const w = await LogWriter.create(log, { sectorSize: 4096 });
    await w.write(0n, randomBytes(1 << 20, 7)); // 1 MiB at 0
    await w.write(33024n, randomBytes(4096, 8)); // 4 KiB at 129 MiB
    await w.discard(0n, 33025n); // 129 MiB + 4 KiB: all of it
    await w.close();
    const img = image(0);
    expect((await replayLog("--log", log, "--replay", img)).code).toBe(0);
    expect(statSync(img).size).toBe((129 << 20) + 4096);
    const fd = openSync(img, "r");
    try {
      for (const at of [0, 129 << 20]) {
        const b = Buffer.alloc(at === 0 ? 1 << 20 : 4096, 1);
        readSync(fd, b, 0, b.length, at);
        expect(b.every((x) => x === 0)).toBe(true);
      }
    } finally {
      closeSync(fd);
    }
  });
});

describe("lwlog replay-log: errors and exit codes", () => {
  it.each([
    [["--find"], "replay-log: --log LOG is required"],
    [["--log"], "replay-log: option '--log' requires an argument"],
    [["--log", "x", "--f"], "replay-log: option '--f' is ambiguous; possibilities: '--find' '--fsck'"],
    [["--log", "x", "--frobnicate"], "replay-log: unrecognized option '--frobnicate'"],
    [["--log", "x", "-h"], "replay-log: invalid option -- 'h'"],
    [["--log", "x", "--limit", "12k"], `replay-log: --limit takes a number of entries (read as C's strtoull reads it: 42, 0x2a, 052), not "12k"`],
    [["--log", "x", "--check", "0", "--fsck", "true"], `replay-log: --check takes flush, fua, discard or a number of entries ≥ 1, not "0"`],
    [["--log", ext4.path, "--fsck", "true"], "replay-log: --fsck and --check go together: give both"],
  ])("%j: exit 1, one lwlog error line", async (argv, message) => {
    const r = await replayLog(...argv);
    expect(r).toEqual({ code: 1, stdout: "", stderr: `lwlog: error: ${message} (lwlog replay-log --help lists the options) [LWLOG_USAGE]\n` });
  });

  it("options are read as replay-log reads them: prefixes, strtoull numbers, the last of a repeated option", () => {
    const o = parseReplayLogArgs(["--l", "a.log", "--li", "0x10", "--start", "010", "--end-m", "x", "--end-mark=y", "-vv", "--ver", "--no", "--ne"]);
    expect(o).toMatchObject({ log: "a.log", limit: 16n, startEntry: 8n, endMark: "y", verbose: 3, noDiscard: true, nextFlush: true, nextFua: false });
    expect(parseReplayLogArgs(["--check", "discard", "--fsck", "x"]).check).toBe("discard");
    expect(parseReplayLogArgs(["--check", "0x3"]).check).toEqual({ every: 3 });
  });

  it("a log that cannot be read, or is not a log: exit 1, lwlog's message", async () => {
    const missing = await replayLog("--log", join(tmp.path, "missing.log"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/missing\.log: no such file \[LWLOG_NOT_FOUND\]\n$/);
    const magic = await replayLog("--log", bad("bad-magic"), "--num-entries");
    expect(magic.code).toBe(1);
    expect(magic.stderr).toContain("[LWLOG_BAD_MAGIC]");
  });

  it("--find: 1 when nothing matches, 255 when the walk from the start meets a broken entry (replay-log's codes)", async () => {
    const none = await replayLog("--log", ext4.path, "--find", "--end-mark", "nope");
    expect(none.code).toBe(1);
    expect(none.stdout).toBe("");
    const broken = await replayLog("--log", bad("more-entries-declared"), "--find", "--limit", "5");
    expect(broken.code).toBe(255);
    expect(broken.stderr).toContain("[LWLOG_MISSING_ENTRIES]");
    const past = await replayLog("--log", ext4.path, "--find", "--next-fua", "--start-entry", "304");
    expect(past.code).toBe(1);
    expect(past.stderr).toContain("no entry 304 to start at: the superblock declares 304 entries");
  });

  it("a broken log replays up to the broken entry, then exit 1", async () => {
    const img = image(1 << 20);
    const r = await replayLog("--log", bad("zero-header-declared"), "--replay", img);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/entry 2: offset 5632: .*the replay stopped there: entries 0\.\.1 have been applied to .* \[LWLOG_EMPTY_ENTRY\]\n$/);
  });
});
