import { afterAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { runCrashStates } from "./engine.js";
import { decodeStateId } from "./id.js";
import type { StateJudge } from "./judge.js";
import { planCrashes, shapeOf } from "./plan.js";
import { flushBefore } from "./points.js";
import { mergeRecords, type StateRecord } from "./records.js";
import { fileViews, openCrashLog, writeTestLog, type TestEntry } from "./test-logs.js";
import { CrashInterruptedError } from "./errors.js";
import { stateKey } from "./state.js";

const tmp = makeTempDir("lwlog-crash-engine-");
afterAll(() => tmp.cleanup());

const S = 512;
// A journal block J at 0, its commit block C at 512, a home write H at 1024, with no flush
// between J and C (the missing-flush bug); then a flush; then the same done right (J2, FLUSH,
// C2 with FUA), then another home write H2.
const entries: TestEntry[] = [
  { m: "start" },
  { w: 0, len: 512, seed: 1 }, // 1 J
  { w: 512, len: 512, seed: 2 }, // 2 C
  { w: 1024, len: 1024, seed: 3 }, // 3 H (2 sectors)
  { f: true }, // 4
  { m: "next" }, // 5
  { w: 4096, len: 512, seed: 4 }, // 6 J2
  { f: true }, // 7
  { w: 4608, len: 512, seed: 5, flags: 2n }, // 8 C2 (FUA)
  { w: 2048, len: 512, seed: 6 }, // 9 H2
  { f: true }, // 10
];

/** Fails when a commit block (at 512, 4608) is there and its journal block (at 0, 4096) is not. */
const commitJudge: StateJudge = async (views) => {
  const view = await views.fresh();
  const j = new Uint8Array(512);
  const c = new Uint8Array(512);
  const pairs: [number, number, number][] = [
    [0, 1, 2],
    [4096, 4, 5],
  ];
  for (const [at, js, cs] of pairs) {
    view.readInto(j, at);
    view.readInto(c, at + 512);
    if (Buffer.compare(c, randomBytes(512, cs)) === 0 && Buffer.compare(j, randomBytes(512, js)) !== 0) {
      return { ok: false, judge: "exec", exit: 4, output: `commit ${cs} without its journal block ${js}\nsecond line` };
    }
  }
  return { ok: true, exit: 0 };
};

async function setup(name: string) {
  const path = join(tmp.path, `${name}.log`);
  await writeTestLog(path, S, entries);
  return openCrashLog(path);
}

describe("the crash engine", () => {
  it("judges every state of every point on views of the durable prefix, and minimises each failure to the dropped journal block", async () => {
    const { file, log } = await setup("a");
    try {
      const plan = planCrashes(log, { rules: ["flush"] });
      expect(plan.points.map((p) => [p.position, p.count])).toEqual([
        [4, 8],
        [7, 2],
        [10, 2],
      ]);
      const views = fileViews(tmp.path);
      const records: StateRecord[] = [];
      const summary = await runCrashStates({ log, file, plan, durablePath: join(tmp.path, "a.durable"), views, judge: commitJudge, onRecord: (r) => void records.push(r) });
      expect(summary).toMatchObject({ judged: 12, passed: 10, failed: 2 });
      expect(views.live).toBe(0);
      expect(existsSync(join(tmp.path, "a.durable"))).toBe(false);
      expect(records.map((r) => r.ordinal)).toEqual([...Array(12).keys()]);
      const failed = records.filter((r) => r.verdict === "failed");
      expect(failed.map((r) => r.dropped)).toEqual([[1], [1, 3]]);
      for (const r of failed) {
        expect(r).toMatchObject({ point: 4, judge: "exec", exit: 4, output: ["commit 2 without its journal block 1", "second line"] });
        expect(r.minimal).toMatchObject({ dropped: [1], torn: [], complete: true, entries: [{ index: 1, kind: "write", sector: 0, sectors: 1, how: "dropped", flags: "NONE" }] });
      }
      // The first failure's minimal state is itself (already minimal); the second is found from it.
      expect(failed[0]!.minimal!.id).toBe(failed[0]!.id);
      expect(failed[1]!.minimal!.id).toBe(failed[0]!.id);
      const report = mergeRecords(plan, log, records);
      expect(report).toMatchObject({ states: 12, passed: 10, failed: 2, missing: [], points: 3 });
      expect(report.minimal).toMatchObject([{ id: failed[0]!.id, failures: 2, dropped: [1] }]);
      expect(report.failures[0]!.marks).toEqual({ before: { name: "start", entry: 0 }, after: { name: "next", entry: 5 } });
      // Every id decodes to its record's state.
      const unitsAt = (p: number) => shapeOf(log, { flush: flushBefore(log, p), position: p }, false).shape.units;
      for (const r of records) expect(decodeStateId(r.id, log, unitsAt).state.position).toBe(r.point);
    } finally {
      file.close();
    }
  });

  it("a job judges only its ordinals, and the merged records of two jobs are the whole run's", async () => {
    const { file, log } = await setup("b");
    try {
      const plan = planCrashes(log, { rules: ["flush"], torn: true });
      const whole: StateRecord[] = [];
      await runCrashStates({ log, file, plan, durablePath: join(tmp.path, "b0.durable"), views: fileViews(tmp.path), judge: commitJudge, onRecord: (r) => void whole.push(r) });
      const jobs: StateRecord[][] = [[], []];
      for (const k of [1, 0]) {
        const ordinals = [...Array(plan.states).keys()].filter((o) => o % 2 === k);
        await runCrashStates({ log, file, plan, ordinals, durablePath: join(tmp.path, `b${k + 1}.durable`), views: fileViews(tmp.path), judge: commitJudge, onRecord: (r) => void jobs[k]!.push(r) });
      }
      const strip = (r: StateRecord) => ({ ...r, seconds: 0, minimal: r.minimal ? { ...r.minimal, checks: 0 } : undefined });
      const merged = mergeRecords(plan, log, [...jobs[1]!, ...jobs[0]!]);
      const one = mergeRecords(plan, log, whole);
      expect(JSON.stringify({ ...merged, failures: merged.failures.map((f) => ({ ...f, minimal: f.minimal ? { ...f.minimal, checks: 0 } : null })) })).toBe(
        JSON.stringify({ ...one, failures: one.failures.map((f) => ({ ...f, minimal: f.minimal ? { ...f.minimal, checks: 0 } : null })) }),
      );
      expect([...jobs[0]!, ...jobs[1]!].map(strip).sort((a, b) => a.ordinal - b.ordinal).map((r) => [r.id, r.verdict])).toEqual(whole.map(strip).map((r) => [r.id, r.verdict]));
      const partial = mergeRecords(plan, log, jobs[0]!);
      expect(partial.missing).toEqual([...Array(plan.states).keys()].filter((o) => o % 2 === 1));
      // With tears: the torn H is a tear of its 2 sectors.
      expect(whole.some((r) => r.torn.some((t) => t.entry === 3 && t.sectors === 2))).toBe(true);
    } finally {
      file.close();
    }
  });

  it("an interruption while a judge runs stops the run (its verdict unused) and leaves no view or image behind", async () => {
    const { file, log } = await setup("c");
    try {
      const plan = planCrashes(log, { rules: ["flush"] });
      const abort = new AbortController();
      const views = fileViews(tmp.path);
      const records: StateRecord[] = [];
      let calls = 0;
      const judge: StateJudge = async (views, ctx) => {
        if (++calls === 3) abort.abort();
        return ctx.signal?.aborted ? { ok: false, aborted: true } : commitJudge(views, ctx);
      };
      await expect(runCrashStates({ log, file, plan, durablePath: join(tmp.path, "c.durable"), views, judge, signal: abort.signal, onRecord: (r) => void records.push(r) })).rejects.toThrowError(CrashInterruptedError);
      expect(records.length).toBe(2);
      expect(views.live).toBe(0);
      expect(existsSync(join(tmp.path, "c.durable"))).toBe(false);
    } finally {
      file.close();
    }
  });

  it("minimisation stays within its budget and says when it is not complete", async () => {
    const { file, log } = await setup("d");
    try {
      const plan = planCrashes(log, { rules: ["flush"] });
      const records: StateRecord[] = [];
      await runCrashStates({ log, file, plan, minimise: 1, ordinals: [5], durablePath: join(tmp.path, "d.durable"), views: fileViews(tmp.path), judge: commitJudge, onRecord: (r) => void records.push(r) });
      // State 5 drops J and H: with one check (the prefix state) nothing more can be tried.
      expect(records[0]).toMatchObject({ ordinal: 5, verdict: "failed", dropped: [1, 3] });
      expect(records[0]!.minimal).toMatchObject({ complete: false, checks: 1, dropped: [1, 3] });
      const none: StateRecord[] = [];
      await runCrashStates({ log, file, plan, minimise: 0, ordinals: [5], durablePath: join(tmp.path, "d2.durable"), views: fileViews(tmp.path), judge: commitJudge, onRecord: (r) => void none.push(r) });
      expect(none[0]!.minimal).toBeUndefined();
      expect(new Set(records.map((r) => stateKey({ position: r.point, dropped: r.dropped, torn: [] }))).size).toBe(1);
    } finally {
      file.close();
    }
  });
});
