import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogFile, LogFlags } from "@lwlog/codec";
import { kernelLogs, makeTempDir, requireTool, sha256File } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-replay-fs-");
afterAll(() => tmp.cleanup());
let n = 0;
const fresh = (name = "img") => join(tmp.path, `${name}-${++n}.img`);
const kernel = (file: string) => kernelLogs().find((k) => k.file === file)!;
beforeAll(() => {
  for (const t of ["e2fsck", "xfs_repair", "mount", "losetup"]) requireTool(t);
});

/** Replays `log` up to its mark "mkfs" onto a new image: the state every flush check after mkfs starts from. */
async function afterMkfs(log: string, image: string): Promise<void> {
  const r = await runLwlog(["replay", log, "--to", image, "--size", "auto", "--until-mark", "mkfs", "-q"]);
  expect(r.code, r.stderr).toBe(0);
}

/** FLUSH entries after entry `after`. */
function flushesAfter(path: string, after: number): number {
  const log = LogFile.openSync(path);
  try {
    let count = 0;
    const c = log.cursor();
    for (let e = c.next(); e !== undefined; e = c.next()) if (e.index > after && (e.flags & LogFlags.FLUSH) !== 0n) count += 1;
    return count;
  } finally {
    log.close();
  }
}

describe("lwlog replay --check flush --fs: the kernel's recovery, then the read-only check, on scratch views", () => {
  // xfs-512.log is the workload of xfs-4k.log on 512-byte sectors: left out to keep the file
  // under a minute (each xfs checkpoint is a loop mount, an unmount and xfs_repair).
  it.each(["ext4-4k.log", "ext4-512.log", "xfs-4k.log"])("%s passes at every flush after mkfs with --fs auto", async (file) => {
    const k = kernel(file);
    const image = fresh(file);
    await afterMkfs(k.path, image);
    const r = await runLwlog(["replay", k.path, "--to", image, "--from-mark", "mkfs", "--check", "flush", "--fs", "auto", "--keep-going", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.checkpoints.run).toBe(flushesAfter(k.path, k.marks.find((m) => m.name === "mkfs")!.entry_index));
    expect(s.checkpoints.run).toBeGreaterThanOrEqual(20);
    expect(s.checkpoints.failed).toEqual([]);
    // The checkers changed views only: the image is the log's state at its end.
    expect(sha256File(image)).toBe(k.marks[k.marks.length - 1]!.sha256);
  });

  it("e2fsck -fn alone fails states the ext4 judge passes (journal not recovered), and --exec after --fs runs on the recovered view", async () => {
    const k = kernel("ext4-512.log");
    const raw = fresh("raw");
    await afterMkfs(k.path, raw);
    const plain = await runLwlog(["replay", k.path, "--to", raw, "--from-mark", "mkfs", "--check", "flush", "--exec", "e2fsck -fn {image}", "--keep-going", "--json"]);
    expect(plain.code).toBe(1);
    const bad = JSON.parse(plain.stdout).checkpoints.failed.map((f: { entry: number }) => f.entry);
    expect(bad.length).toBeGreaterThan(0);
    const judged = fresh("judged");
    await afterMkfs(k.path, judged);
    const r = await runLwlog(["replay", k.path, "--to", judged, "--from-mark", "mkfs", "--check", "flush", "--fs", "ext4", "--exec", "e2fsck -fn {image}", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).checkpoints.failed).toEqual([]);
  });
});
