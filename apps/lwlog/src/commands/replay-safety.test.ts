/**
 * `lwlog replay` never shrinks or cuts an image, refuses a size its file system (or the
 * process's RLIMIT_FSIZE) cannot hold before changing anything, leaves no empty image behind
 * when it is refused, and prints no summary before an error.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, requireTool, run, sha256File } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-replay-safety-");
const S = 512;
const HUGE = 1n << 40n; // sectors: 512 TiB, past ext4's largest file (4 TiB with 1 KiB blocks, 16 TiB with 4 KiB)
let mnt: string;
let loop: string | undefined;
let n = 0;

// A small ext4 of our own: its largest file is known to be far below 512 TiB, whatever file
// system the temporary directory is on (tmpfs and xfs take files of 8 EiB).
beforeAll(() => {
  for (const t of ["mkfs.ext4", "losetup", "mount", "umount"]) requireTool(t);
  const backing = join(tmp.path, "fs.img");
  writeFileSync(backing, "");
  run("truncate", ["-s", "32M", backing]);
  run("mkfs.ext4", ["-q", "-F", backing]);
  loop = run("losetup", ["-f", "--show", backing]).stdout.trim();
  mnt = join(tmp.path, "mnt");
  mkdirSync(mnt);
  run("mount", [loop, mnt]);
});
afterAll(() => {
  if (loop !== undefined) {
    run("umount", [mnt], { check: false });
    run("losetup", ["-d", loop], { check: false });
  }
  tmp.cleanup();
});

/** A log of `writes` one-sector writes at sectors 0.. (bytes 1, 2, …), then a discard of `nr` sectors at `at`. */
async function discardLog(writes: number, at: bigint, nr: bigint): Promise<string> {
  const path = join(tmp.path, `discard-${++n}.log`);
  const w = await LogWriter.create(path, { sectorSize: S });
  for (let i = 0; i < writes; i++) await w.write(BigInt(i), new Uint8Array(S).fill(i + 1));
  await w.discard(at, nr);
  await w.close();
  return path;
}

describe("lwlog replay: a size past what the file system holds", () => {
  it("an existing image is never cut: the replay is refused before anything changes, naming the image, the entry and its log offset", async () => {
    const log = await discardLog(1, 1024n, HUGE);
    const img = join(mnt, "existing.img");
    writeFileSync(img, Buffer.alloc(1 << 20, 0x42));
    const before = sha256File(img);
    for (const extra of [[], ["--truncate"], ["--sync"]]) {
      const r = await runLwlog(["replay", log, "--to", img, "--size", "auto", ...extra]);
      expect(r.code, extra.join(" ")).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(
        new RegExp(
          `^lwlog: error: ${img}: entry 1 \\(log offset 1536\\) of ${log} discards up to byte ${(1024n + HUGE) * 512n - 1n}, past the largest file its file system can hold \\((\\d+) bytes\\): refused before anything was created or changed; --discard skip with --size BYTES ignores discards, or replay onto a block device or a file system that holds larger files \\(xfs, btrfs\\) \\[LWLOG_FILE_TOO_LARGE\\]\\n$`,
        ),
      );
      expect(statSync(img).size).toBe(1 << 20);
      expect(sha256File(img)).toBe(before);
    }
    // --truncate to an explicit size past the limit (a log that fits): refused, the image neither emptied nor cut.
    const small = await discardLog(1, 8n, 8n);
    const t = await runLwlog(["replay", small, "--to", img, "--size", "600T", "--truncate"]);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(new RegExp(`^lwlog: error: ${img}: a ${600 * 2 ** 40}-byte image is past the largest file its file system can hold \\(\\d+ bytes\\); nothing was created or changed \\[LWLOG_FILE_TOO_LARGE\\]\\n$`));
    expect(sha256File(img)).toBe(before);
    // What can be done is done: the discard skipped, the write applied on top.
    const skip = await runLwlog(["replay", log, "--to", img, "--size", "1M", "--discard", "skip"]);
    expect(skip.code, skip.stderr).toBe(0);
    const bytes = readFileSync(img);
    expect(bytes.length).toBe(1 << 20);
    expect(bytes.subarray(0, S).every((b) => b === 1)).toBe(true);
    expect(bytes.subarray(S).every((b) => b === 0x42)).toBe(true);
  });

  it("ten writes then a huge discard onto a new image: refused, no image left, no summary claiming entries were applied", async () => {
    for (const at of [0n, 4n, 1024n]) {
      const log = await discardLog(10, at, HUGE);
      const img = join(mnt, `new-${at}.img`);
      const r = await runLwlog(["replay", log, "--to", img, "--size", "auto"]);
      expect(r.code, String(at)).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`${img}: entry 10 (log offset ${S + 10 * 2 * S}) of ${log} discards up to byte ${(at + HUGE) * 512n - 1n}, past the largest file`);
      expect(r.stderr).toContain("the replay was refused and left no image");
      expect(existsSync(img)).toBe(false);
      // The same with a start or stop point (the planned path): refused before the image is created.
      const u = await runLwlog(["replay", log, "--to", img, "--size", "auto", "--until-entry", "10"]);
      expect(u.code).toBe(2);
      expect(u.stderr).toContain("refused before anything was created or changed");
      expect(existsSync(img)).toBe(false);
    }
  });

  it("a discard that reaches the end of an image zeroes it in place, and never leaves it shorter", async () => {
    // A discard ending exactly at the end of an existing image, then one past it that the file system allows.
    const log = await discardLog(4, 2n, 2046n); // the last 2046 sectors of a 1 MiB image
    const img = join(mnt, "end.img");
    writeFileSync(img, Buffer.alloc(1 << 20, 0x42));
    const r = await runLwlog(["replay", log, "--to", img, "--size", "auto"]);
    expect(r.code, r.stderr).toBe(0);
    const bytes = readFileSync(img);
    expect(bytes.length).toBe(1 << 20);
    expect(bytes.subarray(0, S).every((b) => b === 1)).toBe(true);
    expect(bytes.subarray(S, 2 * S).every((b) => b === 2)).toBe(true);
    expect(bytes.subarray(2 * S).every((b) => b === 0)).toBe(true);
    const past = await discardLog(1, 1000n, 4096n); // to 2.5 MiB: the image grows, its first bytes kept
    writeFileSync(img, Buffer.alloc(1 << 20, 0x42));
    expect((await runLwlog(["replay", past, "--to", img, "--size", "auto"])).code).toBe(0);
    const grown = readFileSync(img);
    expect(grown.length).toBe((1000 + 4096) * S);
    expect(grown.subarray(S, 1000 * S).every((b) => b === 0x42)).toBe(true);
    expect(grown.subarray(1000 * S).every((b) => b === 0)).toBe(true);
  });
});

describe("lwlog replay: RLIMIT_FSIZE (ulimit -f)", () => {
  it("a replay past the process's file size limit is refused before anything is written, and says which limit", async () => {
    requireTool("prlimit");
    const raw = kernelLogs().find((k) => k.file === "raw-512.log")!;
    const img = join(tmp.path, "limited.img");
    const r = await lwlogLimited(1_000_000, ["replay", raw.path, "--to", img, "--size", "auto"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/entry \d+ \(log offset \d+\) of .* writes up to byte \d+, past the 1000000-byte file size limit of this process \(RLIMIT_FSIZE, ulimit -f\): the replay was refused and left no image; raise the limit \(ulimit -f unlimited\) \[LWLOG_FILE_TOO_LARGE\]\n$/);
    expect(existsSync(img)).toBe(false);
    writeFileSync(img, Buffer.alloc(4096, 0x42));
    const e = await lwlogLimited(1_000_000, ["replay", raw.path, "--to", img, "--size", "auto"]);
    expect(e.code).toBe(2);
    expect(e.stderr).toContain("refused before anything was created or changed");
    expect(readFileSync(img).equals(Buffer.alloc(4096, 0x42))).toBe(true);
  });
});

describe("lwlog replay: a first entry that cannot be used", () => {
  it("a write at a sector near 2^64: exit 1, the log, entry and offset named, no image created, no summary", async () => {
    const log = join(tmp.path, "far.log");
    const w = await LogWriter.create(log, { sectorSize: S });
    await w.write((1n << 64n) - 2n, new Uint8Array(S).fill(1));
    await w.close();
    for (const size of ["auto", "1M"]) {
      const img = join(tmp.path, `far-${size}.img`);
      const r = await runLwlog(["replay", log, "--to", img, "--size", size]);
      expect(r.code, size).toBe(1);
      expect(r.stdout, size).toBe("");
      expect(r.stderr, size).toMatch(new RegExp(`^lwlog: error: ${log}: entry 0: offset 512: write reaches past target byte 2\\^53.* \\[LWLOG_RANGE\\]\\n$`));
      expect(existsSync(img), size).toBe(false);
    }
  });
});

/** Runs the built CLI (`npm run build` first) under `prlimit --fsize`. */
function lwlogLimited(fsize: number, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const main = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(requireTool("prlimit"), [`--fsize=${fsize}`, process.execPath, main, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
