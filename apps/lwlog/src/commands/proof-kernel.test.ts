/**
 * Sound logs pass: the ext4 and xfs logs a Linux 6.1 kernel wrote (test-data/kernel) and the
 * xfs workload recorded through lwlog record (test-data/recorded), judged by `lwlog crashes`
 * with the filesystem's own recovery first. A sample of states each (xfs mounts every state to
 * replay its log, about a second a state).
 */
import { afterAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir, recordedLog } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-proof-kernel-");
afterAll(() => tmp.cleanup());

interface Report {
  states: number;
  passed: number;
  failed: number;
  failures: { id: string; output: string[] }[];
  judge: string;
}

async function crashes(log: string, ...args: string[]): Promise<Report> {
  const r = await runLwlog(["crashes", log, "--from-mark", "mkfs", "--view", "copy", "--scratch", tmp.path, "--json", "-q", ...args]);
  const report = JSON.parse(r.stdout) as Report;
  expect(r.code, `${log}: ${r.stderr}${report.failures.map((f) => `\n${f.id}: ${f.output.join("\n")}`).join("")}`).toBe(0);
  return report;
}

describe("lwlog crashes on sound logs: every sampled state passes after the filesystem's recovery", () => {
  for (const k of kernelLogs().filter((l) => l.workload === "ext4")) {
    it(`${k.file} (kernel, ext4): crash points before each flush`, async () => {
      const r = await crashes(k.path, "--fs", "ext4", "--samples", "12");
      expect([r.states, r.passed]).toEqual([12, 12]);
      expect(r.judge).toMatch(/^ext4 /);
    });
  }

  it("ext4-4k.log (kernel): crash points after each FUA write, judged by --fs auto", async () => {
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    const r = await crashes(k.path, "--fs", "auto", "--points", "fua", "--samples", "8");
    expect([r.states, r.passed]).toEqual([8, 8]);
    expect(r.judge).toMatch(/auto: from the superblock/);
  });

  for (const k of kernelLogs().filter((l) => l.workload === "xfs")) {
    it(`${k.file} (kernel, xfs)`, async () => {
      const r = await crashes(k.path, "--fs", "xfs", "--samples", "6");
      expect([r.states, r.passed]).toEqual([6, 6]);
      expect(r.judge).toMatch(/^xfs /);
    });
  }

  it("xfs.log (recorded through lwlog record)", async () => {
    const r = await crashes(recordedLog("xfs").path, "--fs", "xfs", "--samples", "6");
    expect([r.states, r.passed]).toEqual([6, 6]);
  });
});
