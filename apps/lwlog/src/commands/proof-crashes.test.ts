/**
 * `lwlog crashes` on ext4 workloads recorded through `lwlog record` (test-data/recorded): the
 * barrier-on log passes every sampled crash state and its --persisted list; the same
 * workload mounted -o barrier=0 has real failing states, minimised and reproducible by id.
 * Views are sparse copies (`--view copy`): the cheapest here, and the strategies' verdicts
 * are compared in crashes.test.ts.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, recordedLog, runAsync } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-proof-crashes-");
afterAll(() => tmp.cleanup());
const ext4 = recordedLog("ext4");
const nobarrier = recordedLog("ext4-nobarrier");

/** One `--ndjson` state record of `lwlog crashes`. */
interface StateRecord {
  type: "state";
  id: string;
  point: number;
  source: string;
  dropped: number[];
  verdict: "passed" | "failed";
  judge?: string;
  output: string[];
  minimal?: { id: string; dropped: number[]; complete: boolean };
}

function states(ndjson: string): StateRecord[] {
  return ndjson
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string })
    .filter((r): r is StateRecord => r.type === "state");
}

/**
 * What a kernel does after a crash, journal recovery, then the read-only check. Recovery
 * that does more than replay the journal (exit 1: it fell through to a full check and
 * repaired, e.g. a journal with data under a superblock that says none is needed) is a
 * failure too, as `--fs ext4` judges it.
 */
async function fsckAfterRecovery(image: string): Promise<{ ok: boolean; output: string }> {
  const recovery = await runAsync("e2fsck", ["-y", "-E", "journal_only", image], { check: false });
  if (recovery.status !== 0) return { ok: false, output: `journal recovery: exit ${recovery.status}\n${recovery.stdout}` };
  const r = await runAsync("e2fsck", ["-fn", image], { check: false });
  return { ok: r.status === 0, output: `e2fsck -fn: exit ${r.status}\n${r.stdout}` };
}

describe("lwlog crashes --fs ext4 on ext4 recorded through lwlog record, barriers on", () => {
  it("every sampled crash state passes fsck after journal recovery, and every --persisted file is intact in it", async () => {
    const r = await runLwlog(["crashes", ext4.path, "--from-mark", "mkfs", "--fs", "ext4", "--persisted", ext4.persistedPath, "--samples", "10", "--view", "copy", "--json", "-q"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { states: number; passed: number; failed: number; failures: unknown[]; points: number };
    expect([s.states, s.passed, s.failed, s.failures]).toEqual([10, 10, 0, []]);
    expect(s.points).toBe(10); // the budget spreads over as many crash points as it has states
  });

  it("a wrong --persisted expectation fails, naming the file and how it differs", async () => {
    // a/f0 is renamed by the step after "files", c/n0 appended to after "renamed": a crash after those fsyncs shows it.
    const wrong = join(tmp.path, "wrong.persisted");
    writeFileSync(wrong, "files: a/f0\nrenamed: c/n0\nrenamed: a/f4\n");
    const r = await runLwlog(["crashes", ext4.path, "--from-mark", "mkfs", "--until-mark", "deleted", "--fs", "ext4", "--persisted", wrong, "--samples", "16", "--view", "copy", "--ndjson", "-q"]);
    expect(r.code, r.stderr).toBe(1);
    const failed = states(r.stdout).filter((x) => x.verdict === "failed");
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((x) => x.judge === "data")).toBe(true);
    const said = new Set(failed.map((x) => x.output[0] ?? ""));
    const n0 = ext4.files.renamed!.find((f) => f.path === "c/n0")!;
    expect(said).toContain('a/f0 is missing (it was fsynced by mark "files", 0 bytes)');
    expect([...said].some((l) => l.startsWith(`c/n0 has `) && l.endsWith(`, it had ${n0.size} at mark "renamed"`))).toBe(true);
    expect([...said].some((l) => l.includes("a/f4"))).toBe(false); // left alone by the next step
  });
});

describe("lwlog crashes --fs ext4 on the same workload mounted -o barrier=0", () => {
  let run: StateRecord[] = [];

  it("no FLUSH after mkfs: the default points leave the end of the log as the only crash point, said in the summary, and its states fail", async () => {
    const note = /^note: --points flush matched no position after mark "mkfs" \(0 FUA entries, 0 FLUSH entries, 6 marks, \d+ positions there\): the end of the log \(after entry (\d+)\) is the only crash point, where a power cut may lose any of the \d+ writes and discards since the FLUSH at entry \d+ that are not FUA; try --points mark for more points$/m;
    const r = await runLwlog(["crashes", nobarrier.path, "--from-mark", "mkfs", "--fs", "ext4", "--samples", "6", "--minimise", "0", "--view", "copy", "--json", "-q"]);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as { points: number; states: number; failed: number; unmatched: string; failures: { point: number; dropped: number[] }[] };
    expect([doc.points, doc.states]).toEqual([1, 6]);
    expect(`note: ${doc.unmatched}`).toMatch(note);
    expect(doc.failed).toBeGreaterThan(0);
    for (const f of doc.failures) expect([f.point, f.dropped.length > 0]).toEqual([nobarrier.entries, true]);
    // The text summary says it too (a cheap judge: this is about the report).
    const text = await runLwlog(["crashes", nobarrier.path, "--from-mark", "mkfs", "--exec", "true", "--samples", "1", "-q"]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^1 state: 1 passed, 0 failed/);
    expect(text.stdout).toMatch(note);
  });

  it("has crash states that fail fsck after journal recovery; each failure is minimised", async () => {
    // No FLUSH after mkfs: the crash points are the marks.
    const r = await runLwlog(["crashes", nobarrier.path, "--from-mark", "mkfs", "--points", "mark", "--fs", "ext4", "--samples", "12", "--minimise", "60", "--view", "copy", "--ndjson", "-q"]);
    expect(r.code, r.stderr).toBe(1);
    run = states(r.stdout);
    expect(run).toHaveLength(12);
    // Every prefix state (the disk as the kernel wrote it, in order) passes: prefixes cannot see this bug.
    expect(run.filter((x) => x.source === "prefix").every((x) => x.verdict === "passed")).toBe(true);
    const failed = run.filter((x) => x.verdict === "failed");
    expect(failed.length).toBeGreaterThanOrEqual(1);
    for (const f of failed) {
      expect(f.judge).toBe("fs");
      expect(f.output[0]).toMatch(/^e2fsck (-fn after journal recovery|-y -E journal_only): exit status \d+$/);
      expect(f.minimal, f.id).toBeDefined();
      expect(f.minimal!.complete).toBe(true);
      expect(f.minimal!.dropped.length).toBeGreaterThan(0);
      expect(f.minimal!.dropped.length).toBeLessThanOrEqual(f.dropped.length);
      expect(f.minimal!.dropped.every((i) => f.dropped.includes(i))).toBe(true);
    }
  });

  it("lwlog crashes --state ID --to IMG writes a minimal failing state, and e2fsck fails on it after journal recovery", async () => {
    const f = run.find((x) => x.minimal !== undefined)!;
    expect(f).toBeDefined();
    const minimal = f.minimal!;
    // The same point's prefix state (nothing dropped) passed, so with one dropped write the minimum is exact.
    expect(run.find((x) => x.point === f.point && x.source === "prefix")!.verdict).toBe("passed");
    const image = join(tmp.path, "minimal.img");
    const w = await runLwlog(["crashes", nobarrier.path, "--state", minimal.id, "--to", image]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toContain(`state ${minimal.id}: crash before entry ${f.point}`);
    for (const i of minimal.dropped) expect(w.stdout).toMatch(new RegExp(`drop entry ${i} \\(write sectors `));
    const fsck = await fsckAfterRecovery(image);
    expect(fsck.ok, fsck.output).toBe(false);
    // And lwlog judges that one state the same way.
    const judged = await runLwlog(["crashes", nobarrier.path, "--state", minimal.id, "--fs", "ext4", "--json"]);
    expect(judged.code).toBe(1);
    expect((JSON.parse(judged.stdout) as { verdict: { verdict: string } }).verdict.verdict).toBe("failed");
  });

  it("the data judge names the fsynced files a crash lost", async () => {
    // The first file of each mark's list (the data judge reads every listed file in every state).
    const lines = readFileSync(nobarrier.persistedPath, "utf8").trim().split("\n");
    const firsts = lines.filter((l, i) => i === 0 || l.split(":")[0] !== lines[i - 1]!.split(":")[0]);
    const list = join(tmp.path, "firsts.persisted");
    writeFileSync(list, firsts.join("\n") + "\n");
    const r = await runLwlog(["crashes", nobarrier.path, "--from-mark", "mkfs", "--points", "mark", "--fs", "ext4", "--persisted", list, "--samples", "8", "--view", "copy", "--minimise", "0", "--ndjson", "-q"]);
    expect(r.code, r.stderr).toBe(1);
    const lost = states(r.stdout).filter((x) => x.judge === "data");
    expect(lost.length).toBeGreaterThan(0);
    expect(lost[0]!.output[0]).toMatch(/^\S+ (is missing|has \d+ bytes|differs).*mark "(files|renamed|deleted|rewritten|umount)"/);
  });
});
