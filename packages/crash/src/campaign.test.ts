import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import type { LogFile } from "@lwlog/codec";
import { costModel, splitJobs, type CampaignJob } from "./campaign-split.js";
import { indexedJobManifest, podPaths, quantity } from "./campaign-k8s.js";
import { makeCampaign } from "./campaign-plan.js";
import { minimiseRecorded } from "./deferred.js";
import { runCrashStates } from "./engine.js";
import type { StateJudge } from "./judge.js";
import type { CrashLog } from "./log-table.js";
import { planCrashes, type CrashPlan } from "./plan.js";
import type { StateRecord } from "./records.js";
import { fileViews, openCrashLog, writeTestLog, type TestEntry } from "./test-logs.js";

const tmp = makeTempDir("lwlog-crash-campaign-");
const S = 512;
let file: LogFile;
let log: CrashLog;

// Five groups of writes, each a journal block J, its commit block C, some other writes, and a
// flush (the last ended by the log's end): points of 2^(3..7) states.
const entries: TestEntry[] = [];
const GROUPS = [3, 5, 4, 7, 3];
GROUPS.forEach((n, g) => {
  const base = 64 * S * g;
  entries.push({ m: `g${g}` });
  entries.push({ w: base, len: S, seed: 1000 + g }); // J
  entries.push({ w: base + S, len: S, seed: 2000 + g }); // C
  for (let k = 2; k < n; k++) entries.push({ w: base + 4 * S * k, len: 2 * S, seed: 3000 + 10 * g + k });
  if (g < GROUPS.length - 1) entries.push({ f: true });
});

/** Fails a state that holds a commit block without its journal block. */
const judge: StateJudge = async (views) => {
  const view = await views.fresh();
  const j = new Uint8Array(S);
  const c = new Uint8Array(S);
  for (let g = 0; g < GROUPS.length; g++) {
    view.readInto(j, 64 * S * g);
    view.readInto(c, 64 * S * g + S);
    if (Buffer.compare(c, randomBytes(S, 2000 + g)) === 0 && Buffer.compare(j, randomBytes(S, 1000 + g)) !== 0) return { ok: false, judge: "exec", exit: 3, output: `group ${g}` };
  }
  return { ok: true, exit: 0 };
};

beforeAll(async () => {
  await writeTestLog(join(tmp.path, "g.log"), S, entries);
  ({ file, log } = openCrashLog(join(tmp.path, "g.log")));
});
afterAll(() => {
  file.close();
  tmp.cleanup();
});

function check(jobs: CampaignJob[], plan: CrashPlan, n: number): void {
  expect(jobs).toHaveLength(n);
  let at = 0;
  jobs.forEach((j, k) => {
    expect(j.job).toBe(k);
    expect(j.first).toBe(at);
    expect(j.end).toBeGreaterThanOrEqual(j.first);
    at = j.end;
    // A shared point is the job's first or last, and its states lie on both sides of a job boundary.
    for (const pos of j.shared) {
      const p = plan.points.find((q) => q.position === pos)!;
      expect(p.first < j.first || p.first + p.count > j.end).toBe(true);
    }
  });
  expect(at).toBe(plan.states);
}

describe("splitJobs", () => {
  it("contiguous jobs covering every state, of similar cost, the same split every time", () => {
    const plan = planCrashes(log, { rules: ["flush"] });
    expect(plan.states).toBe(8 + 32 + 16 + 128 + 8);
    const model = costModel({ exec: "x" }, log.extent);
    for (const n of [1, 2, 3, 4, 5, 8, 13]) {
      const jobs = splitJobs(log, plan, n, model);
      check(jobs, plan, n);
      expect(splitJobs(log, plan, n, model)).toEqual(jobs);
      // No job costs more than the even share plus the costliest state (a state cannot be split), plus a quarter kept for point boundaries.
      const total = jobs.reduce((s, j) => s + j.cost.total, 0);
      const perState = model.judgeBytes + 8 * S * 1; // a check and a few sectors
      for (const j of jobs) expect(j.cost.total).toBeLessThanOrEqual((total / n) * 1.34 + perState * 2);
    }
  });

  it("ends jobs at crash points where that costs little, splits a point when it must", () => {
    const plan = planCrashes(log, { rules: ["flush"] });
    const model = costModel({ exec: "x" }, log.extent);
    // Two jobs: the fat point (128 states of 192) must be split.
    const two = splitJobs(log, plan, 2, model);
    const fat = plan.points[3]!;
    expect(two[0]!.shared).toEqual([fat.position]);
    expect(two[1]!.shared).toEqual([fat.position]);
    // One job a point: as many jobs as points, each ending at a point (nothing shared) when the points are alike.
    const even = planCrashes(log, { rules: ["flush"], maxExhaustive: 8 });
    const five = splitJobs(log, even, 5, model);
    expect(five.map((j) => j.end - j.first)).toEqual([8, 8, 8, 8, 8]);
    expect(five.flatMap((j) => j.shared)).toEqual([]);
  });

  it("more jobs than states: the extra jobs are empty", () => {
    const plan = planCrashes(log, { rules: ["flush"], samples: 5 });
    const jobs = splitJobs(log, plan, 8, costModel({ fs: "ext4" }, 1 << 20));
    check(jobs, plan, 8);
    expect(jobs.filter((j) => j.end > j.first)).toHaveLength(5);
    expect(jobs[7]).toMatchObject({ first: 5, end: 5, points: null, shared: [], cost: { total: 0 } });
  });

  it("a job's forward pass is every write before its last point's flush", () => {
    const plan = planCrashes(log, { rules: ["flush"], maxExhaustive: 8 });
    const jobs = splitJobs(log, plan, 5, costModel({ exec: "x" }, log.extent));
    let written = 0;
    const flushes: number[] = [];
    entries.forEach((e, i) => {
      if ("f" in e) flushes.push(written);
      if ("w" in e) written += e.len;
      void i;
    });
    expect(jobs.map((j) => j.cost.replayBytes)).toEqual([0, ...flushes]);
  });
});

describe("minimiseRecorded", () => {
  it("minimises recorded failures exactly as the one run does: the same minimal states and checks", async () => {
    const plan = planCrashes(log, { rules: ["flush"] });
    const one: StateRecord[] = [];
    await runCrashStates({ log, file, plan, durablePath: join(tmp.path, "d1.img"), views: fileViews(tmp.path), judge, onRecord: (r) => void one.push(r) });
    const failing = one.filter((r) => r.verdict === "failed");
    expect(failing.length).toBeGreaterThan(20);
    expect(failing.every((r) => r.minimal !== undefined)).toBe(true);
    // Jobs that left every point to the report, then the report.
    const recorded = new Map<number, StateRecord>();
    for (const range of [
      [0, 50],
      [50, 120],
      [120, plan.states],
    ]) {
      const ordinals = Array.from({ length: range[1]! - range[0]! }, (_, k) => range[0]! + k);
      await runCrashStates({ log, file, plan, ordinals, durablePath: join(tmp.path, "d2.img"), views: fileViews(tmp.path), judge, minimiseAt: () => false, onRecord: (r) => void recorded.set(r.ordinal, r) });
    }
    expect([...recorded.values()].some((r) => r.minimal !== undefined)).toBe(false);
    const found = await minimiseRecorded({ log, file, plan, points: plan.points, records: recorded, durablePath: join(tmp.path, "d3.img"), views: fileViews(tmp.path), judge, budget: 200 });
    expect(found.minimal.size).toBe(failing.length);
    for (const r of failing) expect(found.minimal.get(r.ordinal)).toEqual(r.minimal);
    expect(found.checks).toBe(failing.reduce((n, r) => n + r.minimal!.checks, 0));
  });
});

describe("Indexed Job manifests", () => {
  it("canonical quantities, the pod's paths, privileges from the judge", () => {
    expect(quantity(1 << 30)).toBe("1Gi");
    expect(quantity(3 * (1 << 30) + 1)).toBe("3073Mi");
    const plan = planCrashes(log, { rules: ["flush"] });
    const c = makeCampaign({ dir: join(tmp.path, "camp"), log, plan, sha256: "0".repeat(64), bytes: 1, options: { rules: ["flush"], tail: false, torn: false, maxExhaustive: 1024, seed: 1, size: "auto", minimise: 200 }, judge: { fs: "btrfs" }, jobs: 3 });
    expect(podPaths(c, { dir: join(tmp.path, "camp") })).toEqual({ plan: "/campaign/camp", log: "/campaign/g.log", logOnVolume: true });
    const m = indexedJobManifest(c, { image: "i", digest: "ab".repeat(32), dir: join(tmp.path, "camp"), volume: { claim: "p" } }) as { spec: { completions: number; template: { spec: { containers: { securityContext?: unknown }[] } } } };
    expect(m.spec.completions).toBe(3);
    expect(m.spec.template.spec.containers[0]!.securityContext).toEqual({ privileged: true });
  });
});
