import { rmSync } from "node:fs";
import { DurableImage } from "./durable.js";
import { expectationsOf, makeJudge, markOf, minimiseOne, type JudgeParts } from "./engine.js";
import { CrashInterruptedError } from "./errors.js";
import type { Verdict } from "./judge.js";
import { windowOf } from "./persisted.js";
import { pointStates, shapeOf, type CrashPlan, type PlannedPoint } from "./plan.js";
import type { MinimalRecord, StateRecord } from "./records.js";
import { stateKey, type Deviation } from "./state.js";

/** Options of `minimiseRecorded`. */
export interface RecordedMinimiseOptions extends JudgeParts {
  plan: CrashPlan;
  /** The points whose failures to minimise, each with every one of its states recorded. */
  points: readonly PlannedPoint[];
  /** Records by ordinal: every state of `points` must be there. */
  records: ReadonlyMap<number, StateRecord>;
  /** Where the durable image goes (created, must not exist; removed at the end). */
  durablePath: string;
  size?: number;
  /** Checks each failing state's minimisation may run (the plan's budget). */
  budget: number;
  /** After each minimised failure: how many of `failures` are done. */
  onProgress?: (done: number, failures: number, checks: number) => void;
}

/** What `minimiseRecorded` found. */
export interface RecordedMinimal {
  /** The minimal record of each failing state of the points, by ordinal. */
  minimal: Map<number, MinimalRecord>;
  /** States judged (minimisation checks). */
  checks: number;
}

/**
 * Minimises the failing states of recorded points exactly as `runCrashStates` would have in
 * one run: the point's states taken in ordinal order, each recorded verdict entering the
 * point's cache when its state comes up, each failure minimised right then with that cache
 * and the minimal sets found before it at the point. Only minimisation checks are judged
 * (on views of a durable image advanced in one forward pass over the points); the recorded
 * verdicts are trusted. This is how a campaign's report minimises the failures of points its
 * jobs shared, and gets the minimal states (and check counts) a one-machine run gets.
 */
export async function minimiseRecorded(options: RecordedMinimiseOptions): Promise<RecordedMinimal> {
  const { log, file, plan } = options;
  const size = options.size ?? Math.max(log.extent, log.sectorSize);
  const out: RecordedMinimal = { minimal: new Map(), checks: 0 };
  const points = [...options.points].sort((a, b) => a.position - b.position);
  const failures = points.reduce((n, p) => n + countFailures(options.records, p), 0);
  if (failures === 0 || options.budget <= 0) return out;
  const interrupted = () => new CrashInterruptedError(`interrupted while minimising (${out.minimal.size} of ${failures} failures done)`, 0, { file: log.path });
  const expectations = await expectationsOf(options, points, options.durablePath, size);
  const durable = DurableImage.create(options.durablePath, size);
  try {
    for (const point of points) {
      if (countFailures(options.records, point) === 0) continue;
      await durable.advanceTo(log, file, point.flush);
      const window = options.persisted ? windowOf(options.persisted.windows, point.position) : undefined;
      const judgeOne = makeJudge(options, durable, point, window, window ? expectations.get(window) : undefined);
      const cache = new Map<string, Verdict>();
      const known: Deviation[][] = [];
      const { candidates } = shapeOf(log, point, plan.options.torn);
      const idPoint = { fingerprint: log.fingerprints[point.position]!, candidates: candidates.length };
      for (const planned of pointStates(log, plan, point)) {
        const record = options.records.get(planned.ordinal);
        if (record === undefined) throw new RangeError(`state ${planned.ordinal} of point ${point.position} has no record`);
        const verdict = verdictOfRecord(record);
        cache.set(stateKey(planned.state), verdict);
        if (verdict.ok) continue;
        if (options.signal?.aborted) throw interrupted();
        const minimal = await minimiseOne({ log, candidates, idPoint, state: planned.state, verdict, cache, known, budget: options.budget }, async (state, id) => {
          out.checks++;
          const { verdict: v } = await judgeOne(state, { log: log.path, id, position: point.position, ordinal: -1, ...markOf(log, point.position), ...(options.signal ? { signal: options.signal } : {}) });
          if (options.signal?.aborted || v.aborted) throw interrupted();
          return v;
        });
        out.minimal.set(planned.ordinal, minimal);
        options.onProgress?.(out.minimal.size, failures, out.checks);
      }
    }
  } finally {
    durable.close();
    rmSync(options.durablePath, { force: true });
  }
  return out;
}

/** The verdict a record holds (what minimisation compares: passed or not, and which judge failed). */
export function verdictOfRecord(r: StateRecord): Verdict {
  const v: Verdict = { ok: r.verdict === "passed", exit: r.exit, output: r.output.join("\n") };
  if (r.judge !== undefined) v.judge = r.judge;
  if (r.signal !== undefined) v.signal = r.signal;
  if (r.files !== undefined) v.files = r.files;
  return v;
}

function countFailures(records: ReadonlyMap<number, StateRecord>, point: PlannedPoint): number {
  let n = 0;
  for (let o = point.first; o < point.first + point.count; o++) if (records.get(o)?.verdict === "failed") n++;
  return n;
}
