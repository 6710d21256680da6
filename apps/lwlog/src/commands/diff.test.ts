import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogIndex } from "@lwlog/codec";
import { kernelLogs, makeTempDir, qemuLog, run } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-diff-cli-");
afterAll(() => tmp.cleanup());
let serial = 0;

/**
 * Runs the qemu-io `commands` through QEMU's blklogwrites on a fresh 16 MiB image and
 * returns the log. Write-back cache, so that only the explicit flushes (and the one at
 * close) reach the log, as a guest's page cache would have it.
 */
function record(commands: string[], sectorSize = 512): string {
  const dir = join(tmp.path, `q${serial++}`);
  mkdirSync(dir);
  return qemuLog({ dir, sectorSize, cache: "writeback", commands }).log;
}

/** Twelve 4 KiB writes of distinct patterns at distinct offsets, a flush after every fourth. */
const WRITES = Array.from({ length: 12 }, (_, i) => `write -P 0x${(0x10 + i).toString(16)} ${i * 65536} 4096`);
function workload(writes: string[]): string[] {
  const out: string[] = [];
  writes.forEach((w, i) => {
    out.push(w);
    if (i % 4 === 3) out.push("flush");
  });
  return out;
}

/** Index of the write entry at byte `offset` in a log (from the codec, not from lwlog diff). */
function indexOfWriteAt(path: string, offset: number): number {
  const log = LogFile.openSync(path);
  try {
    const idx = LogIndex.build(log);
    for (let i = 0; i < idx.length; i++) {
      const e = idx.entry(i);
      if (e.kind === "write" && Number(e.sector) * log.sectorSize === offset) return i;
    }
    throw new Error(`no write at ${offset} in ${path}`);
  } finally {
    log.close();
  }
}

// Parsed JSON, checked field by field by the assertions.
type Json = Record<string, any>;

async function diffJson(args: string[]): Promise<{ code: number; json: Json; stderr: string }> {
  const r = await runLwlog(["diff", "--json", ...args]);
  return { code: r.code, json: r.stdout ? (JSON.parse(r.stdout) as Json) : {}, stderr: r.stderr };
}

describe("lwlog diff on QEMU blklogwrites logs (qemu-io)", () => {
  const base = workload(WRITES);
  const a = record(base);

  it("says the same workload recorded twice is identical (exit 0)", async () => {
    const b = record(base);
    const r = await runLwlog(["diff", a, b]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^--- .*\n\+\+\+ .*\n/);
    const j = await diffJson([a, b]);
    expect(j.code).toBe(0);
    expect(j.json).toMatchObject({ identical: true, entriesIdentical: true, mode: "ordered", firstDivergence: null, hunks: [] });
    // 12 writes and 3 flushes.
    expect(j.json.a.entries).toBe(15);
    expect(j.json.b.entries).toBe(15);
    expect(r.stdout).toContain("entries identical: 15 entries, 0 shared marks");
  });

  it("compares in bytes: the same workload logged with 512- and 4096-byte sectors is identical", async () => {
    const b = record(base, 4096);
    const j = await diffJson([a, b]);
    expect(j.json.a.sectorSize).toBe(512);
    expect(j.json.b.sectorSize).toBe(4096);
    expect(j).toMatchObject({ code: 0, json: { identical: true } });
  });

  it("reports one write changed, one added and one dropped, each at the right index of each log", async () => {
    // The same command list, edited: the flushes stay where they were.
    const cmds = [...base];
    cmds[cmds.indexOf(WRITES[3]!)] = `write -P 0x99 ${3 * 65536} 4096`; // changed data
    cmds.splice(cmds.indexOf(WRITES[10]!), 0, `write -P 0x77 ${200 * 65536} 4096`); // added before the 11th write
    cmds.splice(cmds.indexOf(WRITES[6]!), 1); // the 7th write dropped
    const b = record(cmds);
    const changedAt = indexOfWriteAt(a, 3 * 65536);
    const droppedAt = indexOfWriteAt(a, 6 * 65536);
    const addedAt = indexOfWriteAt(b, 200 * 65536);
    // B lost one entry before it: the new write takes the index A's 11th write has.
    expect(addedAt).toBe(indexOfWriteAt(a, 10 * 65536) - 1);
    const j = await diffJson([a, b]);
    expect(j.code).toBe(1);
    expect(j.json.identical).toBe(false);
    const changes = (j.json.hunks as Json[]).flatMap((h) => h.changes as Json[]);
    expect(changes.map((c) => [c.type, c.a?.index, c.b?.index])).toEqual([
      ["changed", changedAt, changedAt],
      ["removed", droppedAt, undefined],
      ["added", undefined, addedAt],
    ]);
    expect(changes[0]).toMatchObject({ fields: ["data"], a: { kind: "write", byteOffset: 3 * 65536, byteLength: 4096 }, b: { byteOffset: 3 * 65536 } });
    expect(changes[0]!.a.xxh64).not.toBe(changes[0]!.b.xxh64);
    expect(changes[1]).toMatchObject({ a: { byteOffset: 6 * 65536 } });
    expect(changes[2]).toMatchObject({ b: { byteOffset: 200 * 65536 } });
    expect(j.json.firstDivergence).toMatchObject({ type: "changed", fields: ["data"], a: { index: changedAt }, b: { index: changedAt } });
    expect(j.json.totals).toEqual({ removed: 1, added: 1, changed: 1, hunks: 3, approximate: 0 });
    // The text report: the first divergence, then unified-diff hunks with context.
    const t = await runLwlog(["diff", a, b]);
    expect(t.code).toBe(1);
    expect(t.stdout).toContain(`first divergence: entry ${changedAt} of qemu.log and entry ${changedAt} of qemu.log differ in data`);
    expect(t.stdout).toMatch(new RegExp(`^- +${changedAt} +write +at ${3 * 65536} +len 4096 +xxh64 [0-9a-f]{16}$`, "m"));
    expect(t.stdout).toMatch(new RegExp(`^\\+ +${changedAt} +write +at ${3 * 65536} +len 4096 +xxh64 [0-9a-f]{16}   \\(changed: data\\)$`, "m"));
    expect(t.stdout).toMatch(new RegExp(`^- +${droppedAt} +write +at ${6 * 65536} `, "m"));
    expect(t.stdout).toMatch(new RegExp(`^\\+ +${addedAt} +write +at ${200 * 65536} `, "m"));
    expect(t.stdout).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@ \(start\) … \(end\)$/m);
    expect(t.stdout).toMatch(/^SEGMENT +A ENTRIES +B ENTRIES +A BYTES +B BYTES +CHANGED +REMOVED +ADDED$/m);
    expect(t.stdout).toContain("entries differ: 1 changed, 1 removed, 1 added in 3 hunks");
  });

  it("finds two epochs' writes reordered different by default and identical with --epochs", async () => {
    const swapped = [WRITES[2]!, WRITES[0]!, WRITES[3]!, WRITES[1]!, WRITES[7]!, WRITES[6]!, WRITES[5]!, WRITES[4]!, ...WRITES.slice(8)];
    const b = record(workload(swapped));
    const ordered = await diffJson([a, b]);
    expect(ordered.code).toBe(1);
    expect(ordered.json.identical).toBe(false);
    const epochs = await diffJson(["--epochs", a, b]);
    expect(epochs.code).toBe(0);
    expect(epochs.json).toMatchObject({ identical: true, mode: "epochs" });
    // A write moved across a flush stays a difference with --epochs.
    const moved = [...WRITES.slice(0, 3), WRITES[4]!, WRITES[3]!, ...WRITES.slice(5)];
    const c = record(workload(moved));
    const across = await diffJson(["--epochs", a, c]);
    expect(across.code).toBe(1);
  });

  it("colours the unified diff on a terminal only (the built CLI under script(1), a real pseudo-terminal)", () => {
    const writes = workload(WRITES);
    writes[0] = "write -P 0x66 0 4096";
    const b = record(writes);
    const main = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
    expect(existsSync(main), "build lwlog first (turbo builds before testing)").toBe(true);
    const { NO_COLOR: _noColor, FORCE_COLOR: _forceColor, ...env } = process.env;
    const tty = run("script", ["-qec", `${process.execPath} ${main} diff ${a} ${b}`, "/dev/null"], { check: false, env });
    expect(tty.status).toBe(1);
    expect(tty.stdout).toMatch(/\u001b\[31m- +0 +write/);
    expect(tty.stdout).toMatch(/\u001b\[32m\+ +0 +write/);
    expect(tty.stdout).toMatch(/\u001b\[36m@@ /);
    const piped = run(process.execPath, [main, "diff", a, b], { check: false, env });
    expect(piped.status).toBe(1);
    expect(piped.stdout).toMatch(/^- +0 +write/m);
    expect(piped.stdout).not.toContain("\u001b[");
    // NO_COLOR wins even on a terminal.
    const plain = run("script", ["-qec", `${process.execPath} ${main} diff ${a} ${b}`, "/dev/null"], { check: false, env: { ...env, NO_COLOR: "1" } });
    expect(plain.stdout).not.toContain("\u001b[3");
  });
});

describe("lwlog diff --state on real kernel logs", () => {
  const logs = kernelLogs();
  const ext4 = logs.find((l) => l.file === "ext4-512.log")!;
  const xfs = logs.find((l) => l.file === "xfs-512.log")!;
  const ext44k = logs.find((l) => l.file === "ext4-4k.log")!;

  it("--state-at-mark gives the ranges a byte comparison of the two replayed images gives (--images)", async () => {
    const dir = join(tmp.path, "images");
    const j = await diffJson(["--state-at-mark", "files", "--images-dir", dir, ext4.path, xfs.path]);
    expect(j.code).toBe(1);
    const state = j.json.state as Json;
    expect(state).toMatchObject({ at: { mark: "files" }, identical: false, granularity: 512 });
    expect(state.aEntries).toBe(ext4.marks.find((m) => m.name === "files")!.entry_index + 1);
    expect(state.bEntries).toBe(xfs.marks.find((m) => m.name === "files")!.entry_index + 1);
    expect(state.images).toMatchObject({ agree: true, ranges: state.ranges.length, a: join(dir, "a.img"), b: join(dir, "b.img") });
    // Check the images here too, with cmp(1): the first differing byte is in the first range.
    const cmp = run("cmp", [join(dir, "a.img"), join(dir, "b.img")], { check: false });
    expect(cmp.status).toBe(1);
    const firstByte = Number(/byte (\d+)/.exec(cmp.stdout)![1]) - 1;
    expect(firstByte).toBeGreaterThanOrEqual(state.ranges[0].start);
    expect(firstByte).toBeLessThan(state.ranges[0].end);
    // The images are kept: asking again into the same directory is refused, not overwritten.
    const again = await runLwlog(["diff", "--state-at-mark", "files", "--images-dir", dir, ext4.path, xfs.path]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/a\.img: already exists/);
  });

  it("compares across sector sizes, and the disks of a log against itself are identical (exit 0)", async () => {
    const j = await diffJson(["--state", "--images", ext44k.path, ext4.path]);
    expect(j.code).toBe(1);
    expect(j.json.state).toMatchObject({ at: "end", granularity: 512, images: { agree: true } });
    const self = await runLwlog(["diff", "--state", ext4.path, ext4.path]);
    expect(self.code).toBe(0);
    expect(self.stdout).toMatch(/^disks identical at the end: .* equal by data hash, 0 B compared byte by byte$/m);
    const brief = await runLwlog(["diff", "-q", "--state-at-mark", "mkfs", ext4.path, xfs.path]);
    expect(brief).toMatchObject({ code: 1, stdout: `the disks of ${ext4.path} and ${xfs.path} at mark "mkfs" differ\n` });
  });

  it("lists discards, writes and marks in the unified diff without trailing blanks; --json hunks stream change by change and parse", async () => {
    const raw = kernelLogs().find((l) => l.file === "raw-512.log")!;
    const r = await runLwlog(["diff", ext4.path, raw.path]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^[-+ ] +\d* +\d* +discard +at \d+ +len \d+$/m);
    expect(r.stdout.split("\n").filter((l) => / $/.test(l))).toEqual([]);
    const j = await diffJson([ext4.path, raw.path]);
    const changes = (j.json.hunks as Json[]).reduce((n, h) => n + (h.changes as unknown[]).length, 0);
    expect(changes).toBe(j.json.totals.changed + j.json.totals.removed + j.json.totals.added);
  });

  it("a group of hunks on both sides of a shared mark is labelled from the first segment's start to the last one's end", async () => {
    const { LogWriter } = await import("@lwlog/codec");
    const make = async (name: string, variant: number) => {
      const path = join(tmp.path, name);
      const w = await LogWriter.create(path, { sectorSize: 512 });
      await w.write(0n, new Uint8Array(512).fill(1));
      await w.write(8n, new Uint8Array(512).fill(2 + variant));
      await w.mark("middle");
      await w.write(16n, new Uint8Array(512).fill(4 + variant));
      await w.write(24n, new Uint8Array(512).fill(6));
      await w.close();
      return path;
    };
    const r = await runLwlog(["diff", await make("seg-a.log", 0), await make("seg-b.log", 10)]);
    expect(r.code).toBe(1);
    expect(r.stdout.split("\n").filter((l) => l.startsWith("@@"))).toEqual(["@@ -0,5 +0,5 @@ (start) … (end)"]);
  });

  it("prints the differing ranges with their last writers, and a table per segment", async () => {
    const r = await runLwlog(["diff", "--state-at-mark", "mkfs", ext4.path, xfs.path]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^disks differ at mark "mkfs" \(entries 0\.\.100 of a, 0\.\.75 of b\): .* in \d+ ranges \(512-byte blocks\)/m);
    expect(r.stdout).toMatch(/^BYTES \(INCLUSIVE\) +LENGTH +LAST WRITERS IN A +LAST WRITERS IN B$/m);
    expect(r.stdout).toMatch(/^\(start\) … mkfs +100 +75 /m);
  });
});

describe("lwlog diff: usage and trouble exit 2, like diff(1)", () => {
  const ext4 = kernelLogs().find((l) => l.file === "ext4-512.log")!;

  it("exits 2 for a missing file, a bad log, a mark one log lacks, and conflicting options", async () => {
    const missing = await runLwlog(["diff", ext4.path, join(tmp.path, "nope.log")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.log: no such file \[LWLOG_NOT_FOUND\]/);
    const bad = join(tmp.path, "bad.log");
    writeFileSync(bad, new Uint8Array(4096).fill(7));
    const r = await runLwlog(["diff", ext4.path, bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.log: .*\[LWLOG_BAD_MAGIC\]/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    const mark = await runLwlog(["diff", "--state-at-mark", "nosuch", ext4.path, ext4.path]);
    expect(mark.code).toBe(2);
    expect(mark.stderr).toMatch(/ext4-512\.log: no mark named "nosuch" \(marks: "mkfs", "files", .*\) \[LWLOG_NO_SUCH_MARK\]/);
    const both = await runLwlog(["diff", "--state", "--state-at-mark", "x", ext4.path, ext4.path]);
    expect(both.code).toBe(2);
    expect((await runLwlog(["diff", ext4.path])).code).toBe(2);
  });
});

describe("lwlog diff --plot", () => {
  const logs = kernelLogs();
  const ext4 = logs.find((l) => l.file === "ext4-512.log")!;
  const ext44k = logs.find((l) => l.file === "ext4-4k.log")!;

  it("draws both logs on one time axis with the differing entries highlighted, and never overwrites unasked", async () => {
    const out = join(tmp.path, "diff.svg");
    const r = await runLwlog(["diff", "--plot", out, ext4.path, ext44k.path]);
    expect(r.code).toBe(1);
    const svg = readFileSync(out, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/class="mark-rect role-mark entries_marks"/g)).toHaveLength(2);
    expect(svg).toContain('fill="#e45756"');
    expect(svg).toContain("aligned position (time)");
    const again = await runLwlog(["diff", "--plot", out, ext4.path, ext44k.path]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/diff\.svg: already exists \(refusing to overwrite it; pass --force to replace it\) \[LWLOG_EXISTS\]/);
    expect((await runLwlog(["diff", "--plot", out, "--force", ext4.path, ext4.path])).code).toBe(0);
  });
});

describe("the built lwlog diff (scans in worker threads)", () => {
  it("gives the same JSON as the in-process run", async () => {
    const main = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
    expect(existsSync(main), "build lwlog first (turbo builds before testing)").toBe(true);
    const logs = kernelLogs();
    const [x, y] = [logs.find((l) => l.file === "xfs-4k.log")!.path, logs.find((l) => l.file === "xfs-512.log")!.path];
    const spawned = run(process.execPath, [main, "diff", "--json", "--state", x, y], { check: false });
    expect(spawned.status).toBe(1);
    const inProcess = await runLwlog(["diff", "--json", "--state", x, y]);
    expect(JSON.parse(spawned.stdout)).toEqual(JSON.parse(inProcess.stdout));
  });
});
