import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogFile, LogFlags, LogWriter } from "@lwlog/codec";
import { blklogwritesOpts, makeTempDir, randomBytes, requireTool, run } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-replay-ext4-");
const IMAGE_BYTES = 32 << 20;
const S = 512;
/** ext4's primary superblock: bytes 1024..2047, its magic 0xEF53 at byte 1024 + 0x38. */
const SUPER_SECTOR = 1024 / S;
const MAGIC_OFFSET = 1024 + 0x38;

let logPath = "";
/** The FLUSH entry that ends mkfs (its last fsync): mkfs's own earlier flushes are not consistent points. */
let mkfsEnd = -1;

/**
 * Builds an ext4 image through QEMU's blklogwrites: qemu-nbd serves the blklogwrites node,
 * nbdfuse shows it as a file (through nbdkit's blocksize filter, since e2fsprogs writes
 * single superblock bytes and the export wants whole sectors), then mkfs.ext4 and a few
 * `debugfs -w` sessions write files. Each debugfs session ends with a flush, so every FLUSH
 * entry of the log is a point where the file system is consistent.
 */
async function buildExt4Log(dir: string): Promise<{ log: string; mkfsEnd: number }> {
  for (const t of ["qemu-nbd", "nbdfuse", "nbdkit", "fusermount3", "mkfs.ext4", "debugfs", "e2fsck"]) requireTool(t);
  const image = join(dir, "ext4.img");
  const log = join(dir, "ext4.log");
  const sock = join(dir, "q.sock");
  const mnt = join(dir, "mnt");
  mkdirSync(mnt);
  writeFileSync(image, new Uint8Array(0));
  run("truncate", ["-s", String(IMAGE_BYTES), image]);
  writeFileSync(log, new Uint8Array(0));
  const opts = blklogwritesOpts({ image, log, sectorSize: S, extraOpts: "discard=unmap" });
  const qemu = spawn(requireTool("qemu-nbd"), ["-k", sock, "--image-opts", opts], { stdio: ["ignore", "ignore", "pipe"] });
  let fuse: ChildProcess | undefined;
  try {
    await waitFor(() => existsSync(sock), "qemu-nbd's socket");
    fuse = spawn(requireTool("nbdfuse"), [mnt, "[", requireTool("nbdkit"), "--filter=blocksize", "nbd", `socket=${sock}`, "]"], { stdio: ["ignore", "ignore", "pipe"] });
    const dev = join(mnt, "nbd");
    await waitFor(() => existsSync(dev), "nbdfuse's file");
    run("mkfs.ext4", ["-q", "-F", "-b", "4096", "-L", "lwlog", dev]);
    // QEMU rewrites the superblock at every flush: it now declares the entries up to mkfs's last one.
    const afterMkfs = LogFile.openSync(log);
    mkfsEnd = Number(afterMkfs.super.nrEntries) - 1;
    afterMkfs.close();
    const files = join(dir, "files");
    mkdirSync(files);
    for (let i = 0; i < 4; i++) writeFileSync(join(files, `f${i}`), randomBytes(20_000 + i * 37_000, i + 1));
    const sessions = [["mkdir d"], ["write " + join(files, "f0") + " f0"], ["write " + join(files, "f1") + " d/f1", "symlink s d/f1"], ["write " + join(files, "f2") + " d/f2"], ["rm f0", "write " + join(files, "f3") + " f3"]];
    for (const [i, cmds] of sessions.entries()) {
      // One debugfs session per list: it opens the file system, runs the commands, closes (and flushes).
      const script = join(dir, `session-${i}.txt`);
      writeFileSync(script, cmds.join("\n") + "\n");
      run("debugfs", ["-w", "-f", script, dev]);
    }
  } finally {
    run("fusermount3", ["-u", mnt], { check: false });
    if (fuse !== undefined) await exited(fuse);
    if (qemu.exitCode === null) qemu.kill("SIGTERM");
    await exited(qemu);
  }
  // The image QEMU wrote is a clean file system: the ground truth the replays must match.
  expect(run("e2fsck", ["-fn", image], { check: false }).status).toBe(0);
  return { log, mkfsEnd };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once("exit", () => resolve()));
}

/** Copies `from` to `to` with the codec, changing the data of entry `target` with `edit`. */
async function copyLog(from: string, to: string, target: number, edit: (data: Uint8Array) => void): Promise<void> {
  const src = LogFile.openSync(from);
  const w = await LogWriter.create(to, { sectorSize: src.sectorSize, overwrite: true });
  const c = src.cursor({ data: true });
  for (let e = c.next(); e !== undefined; e = c.next()) {
    const data = e.data;
    if (e.index === target && data !== undefined) edit(data);
    const entry: Parameters<LogWriter["append"]>[0] = { header: { sector: e.sector, nrSectors: e.nrSectors, flags: e.flags, dataLen: e.dataLen } };
    if (data !== undefined) entry.data = data;
    if (e.markBytes !== undefined) entry.inline = e.markBytes;
    await w.append(entry);
  }
  await w.close();
  src.close();
}

beforeAll(async () => {
  ({ log: logPath, mkfsEnd } = await buildExt4Log(tmp.path));
}, 120_000);
afterAll(() => tmp.cleanup());

describe("lwlog replay --check flush --exec 'e2fsck -fn {image}' on ext4 written through QEMU's blklogwrites", () => {
  it("every checkpoint passes, in one pass", async () => {
    const image = join(tmp.path, "good.img");
    // First mkfs, then every flush after it: the second leg continues on the same image.
    const leg1 = await runLwlog(["replay", logPath, "--to", image, "--size", "auto", "--until-entry", String(mkfsEnd)]);
    expect(leg1.code).toBe(0);
    expect(run("e2fsck", ["-fn", image], { check: false }).status).toBe(0);
    const r = await runLwlog(["replay", logPath, "--to", image, "--from-entry", String(mkfsEnd + 1), "--check", "flush", "--exec", "e2fsck -fn {image}", "--json"]);
    const s = JSON.parse(r.stdout);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const log = LogFile.openSync(logPath);
    let flushes = 0;
    const c = log.cursor();
    for (let e = c.next(); e !== undefined; e = c.next()) if ((e.flags & LogFlags.FLUSH) !== 0n && e.index > mkfsEnd) flushes += 1;
    log.close();
    expect(flushes).toBeGreaterThanOrEqual(5);
    expect(s.checkpoints.run).toBe(flushes);
    expect(s.checkpoints.passed).toBe(flushes);
    expect(s.checkpoints.failed).toEqual([]);
    expect(s.start).toBe(mkfsEnd + 1);
    expect(leg1.stdout).toMatch(/[1-9][0-9]* discards/);
  });

  it("a log with a corrupted superblock write is caught at the first checkpoint after it", async () => {
    // The last write of the primary superblock before the last debugfs session's flush.
    const log = LogFile.openSync(logPath);
    const entries: { index: number; flush: boolean; superWrite: boolean }[] = [];
    const c = log.cursor();
    for (let e = c.next(); e !== undefined; e = c.next()) {
      entries.push({
        index: e.index,
        flush: (e.flags & LogFlags.FLUSH) !== 0n,
        superWrite: e.kind === "write" && e.sector <= BigInt(SUPER_SECTOR) && e.sector + e.nrSectors > BigInt(SUPER_SECTOR),
      });
    }
    const sectorOf = new Map<number, bigint>();
    const c2 = log.cursor();
    for (let e = c2.next(); e !== undefined; e = c2.next()) sectorOf.set(e.index, e.sector);
    log.close();
    const flushes = entries.filter((e) => e.flush && e.index > mkfsEnd).map((e) => e.index);
    // debugfs rewrites the superblock sector a few times before each flush: corrupt the last
    // of those writes (an earlier one would be overwritten before a checkpoint sees it), in
    // the second session after mkfs.
    const firstWrite = entries.find((e) => e.superWrite && e.index > flushes[1]!)!;
    const closing = flushes.find((f) => f > firstWrite.index)!;
    const victim = [...entries].reverse().find((e) => e.superWrite && e.index < closing)!;
    expect(victim).toBeDefined();
    const firstBad = flushes.find((f) => f > victim.index)!;
    const lastGood = [...flushes].reverse().find((f) => f < victim.index)!;
    const bad = join(tmp.path, "corrupt.log");
    await copyLog(logPath, bad, victim.index, (data) => {
      const at = MAGIC_OFFSET - Number(sectorOf.get(victim.index)!) * S;
      data[at] = 0x00;
      data[at + 1] = 0x00;
    });

    const image = join(tmp.path, "bad.img");
    expect((await runLwlog(["replay", bad, "--to", image, "--size", "auto", "--until-entry", String(mkfsEnd)])).code).toBe(0);
    const r = await runLwlog(["replay", bad, "--to", image, "--from-entry", String(mkfsEnd + 1), "--check", "flush", "--exec", "e2fsck -fn {image}"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`checkpoint failed after entry ${firstBad}`);
    expect(r.stderr).toContain(`last good entry ${lastGood}, first bad entry ${firstBad}`);
    expect(r.stderr).toMatch(/Bad magic number|superblock/i);

    const image2 = join(tmp.path, "bad2.img");
    expect((await runLwlog(["replay", bad, "--to", image2, "--size", "auto", "--until-entry", String(mkfsEnd)])).code).toBe(0);
    const all = await runLwlog(["replay", bad, "--to", image2, "--from-entry", String(mkfsEnd + 1), "--check", "flush", "--exec", "e2fsck -fn {image}", "--keep-going", "--json"]);
    expect(all.code).toBe(1);
    const s = JSON.parse(all.stdout);
    expect(s.checkpoints.firstBad).toBe(firstBad);
    expect(s.checkpoints.lastGood).toBe(lastGood);
    expect(s.checkpoints.failed[0].entry).toBe(firstBad);
    expect(s.checkpoints.failed[0].exitCode).not.toBe(0);
    expect(s.checkpoints.run).toBe(flushes.length);
  });
});
