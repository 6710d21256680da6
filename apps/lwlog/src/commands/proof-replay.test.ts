/**
 * The false failures of issue 12 on the logs recorded through lwlog record (test-data/recorded):
 * a read-only check of the replayed state, without the recovery a mount does, fails states no
 * kernel would ever see; `--fs` judges them as a kernel finds them and passes. (The kernel's
 * own logs are checked at every flush in replay-views.test.ts.)
 */
import { afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { makeTempDir, recordedLog } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-proof-replay-");
afterAll(() => tmp.cleanup());

interface Summary {
  checkpoints: { run: number; passed: number; failed: { entry: number; output: string }[] };
}

let n = 0;
/** A fresh image holding the log up to `mark` (inclusive). */
async function imageAt(log: string, mark: string): Promise<string> {
  const image = join(tmp.path, `img-${++n}`);
  const r = await runLwlog(["replay", log, "--to", image, "--size", "auto", "--until-mark", mark, "-q"]);
  expect(r.code, r.stderr).toBe(0);
  return image;
}

async function check(log: string, from: string, until: string, ...judge: string[]): Promise<{ code: number; s: Summary }> {
  const image = await imageAt(log, from);
  const r = await runLwlog(["replay", log, "--to", image, "--from-mark", from, "--until-mark", until, "--check", "flush", ...judge, "--keep-going", "--json"]);
  return { code: r.code, s: JSON.parse(r.stdout) as Summary };
}

describe("checking the flushes of workloads recorded through lwlog record", () => {
  const ext4 = recordedLog("ext4");

  it("ext4: e2fsck -fn on the replayed state fails sound states (journal not recovered); --fs ext4 passes every one", async () => {
    const plain = await check(ext4.path, "mkfs", "files", "--exec", "e2fsck -fn {image}");
    expect(plain.code).toBe(1);
    // The states right after two journal commits of the first step, with some metadata home and the rest in the journal.
    expect(plain.s.checkpoints.failed.map((f) => f.entry)).toEqual([75, 77]);
    expect(plain.s.checkpoints.failed[0]!.output).toMatch(/references inode \d+ found in group 0's unused inodes area/);
    const judged = await check(ext4.path, "mkfs", "files", "--fs", "ext4");
    expect(judged.code, judged.s.checkpoints.failed.map((f) => f.output).join("\n")).toBe(0);
    expect(judged.s.checkpoints.run).toBe(plain.s.checkpoints.run);
    expect(judged.s.checkpoints.passed).toBe(judged.s.checkpoints.run);
    // --exec after --fs runs on the recovered view: the same e2fsck -fn passes there.
    const both = await check(ext4.path, "mkfs", "files", "--fs", "ext4", "--exec", "e2fsck -fn {image}");
    expect(both.code).toBe(0);
  });

  it("xfs: xfs_repair -n on the replayed state fails states with a dirty log; --fs xfs (log recovery by a mount) passes every one", async () => {
    const xfs = recordedLog("xfs");
    const plain = await check(xfs.path, "renamed", "deleted", "--exec", "xfs_repair -n {image}");
    expect(plain.code).toBe(1);
    expect(plain.s.checkpoints.failed.length).toBeGreaterThan(plain.s.checkpoints.run / 2);
    expect(plain.s.checkpoints.failed[0]!.output).toMatch(/valuable metadata changes in a log/);
    const judged = await check(xfs.path, "renamed", "deleted", "--fs", "xfs");
    expect(judged.code, judged.s.checkpoints.failed.map((f) => f.output).join("\n")).toBe(0);
    expect(judged.s.checkpoints.run).toBe(plain.s.checkpoints.run);
    expect(judged.s.checkpoints.run).toBeGreaterThanOrEqual(10);
  });
});
