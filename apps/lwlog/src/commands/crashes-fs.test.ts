import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, requireTool, run, testDataDir } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

/**
 * `lwlog crashes` on real filesystems: the workloads `lwlog record` recorded in
 * test-data/recorded (ext4 with barriers, ext4 -o barrier=0, xfs), judged by the real tools.
 */
const tmp = makeTempDir("lwlog-crashes-fs-");
afterAll(() => tmp.cleanup());
const recorded = (name: string) => join(testDataDir, "recorded", name);

/** e2fsck as the kernel would find the image: journal recovery, then the read-only check. */
function e2fsckAfterRecovery(image: string): number {
  const e2fsck = requireTool("e2fsck");
  const copy = `${image}.judged`;
  copyFileSync(image, copy);
  run(e2fsck, ["-y", "-E", "journal_only", copy], { check: false });
  return run(e2fsck, ["-fn", copy], { check: false }).status;
}

describe("lwlog crashes on real filesystems", () => {
  it("ext4 mounted barrier=0: crash states after mkfs fail fsck after journal recovery; each minimises to a dropped write; --state reproduces it", async () => {
    requireTool("e2fsck");
    const log = recorded("ext4-nobarrier.log");
    // No FLUSH after mkfs: the default points find nothing, and say what to use.
    const none = await runLwlog(["crashes", log, "--from-mark", "mkfs", "--fs", "ext4"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/0 FUA entries, 0 FLUSH entries, 6 marks, \d+ positions there; try --points mark \[LWLOG_NO_CRASH_POINTS\]/);
    const r = await runLwlog(["crashes", log, "--from-mark", "mkfs", "--points", "mark", "--samples", "12", "--seed", "3", "--fs", "ext4", "--minimise", "40", "--json"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.states).toBe(12);
    expect(doc.failed).toBeGreaterThan(0);
    for (const f of doc.failures) {
      expect(f.judge).toBe("fs");
      expect(f.output[0]).toMatch(/^e2fsck -fn after journal recovery: exit status [1-9]/);
      // A real missing-flush bug: some writes the state dropped, not the prefix state.
      expect(f.dropped.length).toBeGreaterThan(0);
      expect(f.minimal.dropped.length).toBeGreaterThan(0);
      expect(f.minimal.dropped.length).toBeLessThan(f.dropped.length + 1);
    }
    const minimal = doc.failures.find((f: { minimal: { complete: boolean } }) => f.minimal.complete).minimal;
    expect(minimal.entries[0]).toMatchObject({ how: "dropped", kind: "write" });
    const img = join(tmp.path, "minimal.img");
    const w = await runLwlog(["crashes", log, "--state", minimal.id, "--to", img]);
    expect(w.code).toBe(0);
    expect(e2fsckAfterRecovery(img)).not.toBe(0);
    const again = await runLwlog(["crashes", log, "--state", minimal.id, "--fs", "ext4", "--json"]);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: minimal.id, dropped: minimal.dropped, verdict: { verdict: "failed", judge: "fs" } });
  }, 120_000);

  it("ext4 with barriers: sampled crash states after mkfs pass, and the --persisted files hold in all of them", async () => {
    requireTool("e2fsck");
    const r = await runLwlog(["crashes", recorded("ext4.log"), "--from-mark", "mkfs", "--samples", "9", "--seed", "7", "--fs", "ext4", "--persisted", recorded("ext4.persisted"), "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ states: 9, passed: 9, failed: 0 });
  }, 120_000);

  it("xfs: sampled crash states after mkfs pass log recovery and xfs_repair -n", async () => {
    requireTool("xfs_repair");
    requireTool("losetup");
    const r = await runLwlog(["crashes", recorded("xfs.log"), "--from-mark", "mkfs", "--samples", "8", "--seed", "2", "--fs", "xfs", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ states: 8, passed: 8, failed: 0 });
  }, 120_000);
});
