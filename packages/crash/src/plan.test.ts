import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import type { LogFile } from "@lwlog/codec";
import { allocate, planCrashes, pointOfState, pointStates } from "./plan.js";
import { decodeStateId } from "./id.js";
import { shapeOf } from "./plan.js";
import { isPrefix, stateKey } from "./state.js";
import { openCrashLog, writeTestLog, type TestEntry } from "./test-logs.js";
import type { CrashLog } from "./log-table.js";
import { flushBefore } from "./points.js";

const tmp = makeTempDir("lwlog-crash-plan-");
let file: LogFile;
let log: CrashLog;
// Points: 1 (before the first flush): 1 candidate; 6 (before the second): 4 candidates (16
// states); the end, 19: 12 candidates (4096 states).
const entries: TestEntry[] = [{ w: 0, len: 512, seed: 1 }, { f: true }];
for (let i = 0; i < 4; i++) entries.push({ w: i * 1024, len: 1024, seed: 10 + i });
entries.push({ f: true });
for (let i = 0; i < 12; i++) entries.push({ w: i * 512, len: 512, seed: 20 + i });

beforeAll(async () => {
  await writeTestLog(join(tmp.path, "p.log"), 512, entries);
  ({ file, log } = openCrashLog(join(tmp.path, "p.log")));
});
afterAll(() => {
  file.close();
  tmp.cleanup();
});

function allStates(plan: ReturnType<typeof planCrashes>) {
  return plan.points.flatMap((p) => [...pointStates(log, plan, p)]);
}

describe("crash plans", () => {
  it("exhaustive up to --max-exhaustive, sampled beyond, prefix states first, all distinct", () => {
    const plan = planCrashes(log, { rules: ["flush"], maxExhaustive: 100 });
    expect(plan.points.map((p) => [p.position, p.exhaustive, p.count])).toEqual([
      [1, true, 2],
      [6, true, 16],
      [19, false, 100],
    ]);
    expect(plan.states).toBe(118);
    const states = allStates(plan);
    expect(states.map((s) => s.ordinal)).toEqual([...Array(118).keys()]);
    for (const at of [0, 2, 18]) expect(isPrefix(states[at]!.state)).toBe(true);
    expect(new Set(states.map((s) => stateKey(s.state))).size).toBe(118);
    // Every id decodes to its state.
    const unitsAt = (p: number) => shapeOf(log, { flush: flushBefore(log, p), position: p }, false).shape.units;
    for (const s of states) expect(stateKey(decodeStateId(s.id, log, unitsAt).state)).toBe(stateKey(s.state));
    expect(pointOfState(plan, 1).position).toBe(1);
    expect(pointOfState(plan, 17).position).toBe(6);
    expect(pointOfState(plan, 18).position).toBe(19);
  });

  it("is the same for the same inputs, and another seed samples other states", () => {
    const a = planCrashes(log, { rules: ["flush"], maxExhaustive: 50, seed: 7 });
    const b = planCrashes(log, { rules: ["flush"], maxExhaustive: 50, seed: 7 });
    const c = planCrashes(log, { rules: ["flush"], maxExhaustive: 50, seed: 8 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(allStates(a).map((s) => s.id)).toEqual(allStates(b).map((s) => s.id));
    expect(allStates(c).map((s) => s.id)).not.toEqual(allStates(a).map((s) => s.id));
  });

  it("--samples spreads a fixed budget: prefix states first, a small point exhausted, the rest to the big one", () => {
    const plan = planCrashes(log, { rules: ["flush"], samples: 40 });
    expect(plan.points.map((p) => [p.position, p.exhaustive, p.count])).toEqual([
      [1, true, 2],
      [6, true, 16],
      [19, false, 22],
    ]);
    const one = planCrashes(log, { rules: ["flush"], samples: 1 });
    expect(one.points.map((p) => p.position)).toEqual([6]);
    expect(one.unsampled).toEqual([1, 19]);
    expect(one.states).toBe(1);
  });

  it("with tears the space is every subset of the candidates' sectors", () => {
    const plan = planCrashes(log, { rules: ["flush"], torn: true, maxExhaustive: 300 });
    expect(plan.points[1]).toMatchObject({ position: 6, bits: 8, exhaustive: true, count: 256 });
    const states = [...pointStates(log, plan, plan.points[1]!)];
    expect(states.filter((s) => s.state.torn.length > 0).length).toBeGreaterThan(0);
    expect(new Set(states.map((s) => stateKey(s.state))).size).toBe(256);
  });

  it("allocate: water-filling with caps, and evenly spread prefixes when the budget is short", () => {
    expect(allocate(10, [2, 100, 100])).toEqual([2, 4, 4]);
    expect(allocate(11, [2, 100, 100])).toEqual([2, 5, 4]);
    expect(allocate(5, [2, 2, 2])).toEqual([2, 2, 1]);
    expect(allocate(100, [2, 2, 2])).toEqual([2, 2, 2]);
    expect(allocate(2, [9, 9, 9, 9, 9])).toEqual([0, 1, 0, 1, 0]);
    expect(allocate(12, [Infinity, 3, Infinity])).toEqual([5, 3, 4]);
  });

  it("plans the kernel's ext4 log after mkfs, with tears, in seconds", () => {
    const k = kernelLogs().find((l) => l.file === "ext4-512.log")!;
    const o = openCrashLog(k.path);
    try {
      const began = Date.now();
      const plan = planCrashes(o.log, { rules: ["flush"], fromMark: "mkfs", torn: true });
      expect(Date.now() - began).toBeLessThan(5000);
      expect(plan.points.length).toBeGreaterThan(5);
      expect(plan.states).toBeGreaterThan(plan.points.length);
    } finally {
      o.file.close();
    }
  });
});
