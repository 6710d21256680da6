import { KIND, type CrashLog } from "./log-table.js";
import type { CrashPlan } from "./plan.js";

/**
 * What a job is estimated to cost, in bytes of work (a byte replayed or written onto a view is
 * one; a check is `judgeBytes`): the forward pass to its last point, and its states.
 */
export interface JobCost {
  /** Log data the job's durable image replays: every write before the flush of its last point. */
  replayBytes: number;
  /** Bytes its states write onto their views (each state: the writes since its point's flush). */
  stateBytes: number;
  /** Its states times the judge's fixed cost. */
  judgeBytes: number;
  total: number;
}

/** One job of a campaign: a contiguous range of state ordinals `[first, end)`. */
export interface CampaignJob {
  job: number;
  first: number;
  end: number;
  /** Positions of its first and last crash points (null for an empty job). */
  points: [number, number] | null;
  /** Positions of its crash points whose states other jobs hold too: their failures are minimised by the report. */
  shared: number[];
  cost: JobCost;
}

/**
 * How the split weighs a check against the bytes the engine moves: a check (starting the
 * judge, a view, the judge's own work) costs as much as replaying `judgeBytes` of the log.
 * Rough by design: the split needs proportions, not seconds.
 */
export interface CostModel {
  judgeBytes: number;
}

/** A job may end this much short of its share to end at a crash point (so that no other job shares it). */
const POINT_SLACK = 0.25;

const MiB = 1 << 20;

/**
 * The cost model of a judge: a file-system check (recovery, then fsck, maybe a mount) is
 * counted as replaying 64 MiB plus a sixteenth of the image (fsck reads metadata, which grows
 * with the file system); a user's command alone as 4 MiB (a fork and an exec).
 */
export function costModel(judge: { fs?: string; exec?: string; persisted?: unknown }, imageBytes: number): CostModel {
  if (judge.fs !== undefined || judge.persisted !== undefined) return { judgeBytes: 64 * MiB + Math.round(imageBytes / 16) };
  return { judgeBytes: 4 * MiB };
}

/**
 * Splits a plan's states into `n` jobs of similar estimated cost, each a contiguous range of
 * ordinals (so of crash points in log order). A job's cost is its forward pass (every write
 * before the flush of its last point: jobs run alone, each from entry 0) plus, per state, the
 * judge's fixed cost and the bytes the state writes on its view. The split finds the smallest
 * bound that `n` greedy jobs can keep to (bisection), where a job ends at a crash point's
 * boundary when that leaves it at most a quarter short (states of one point share the forward
 * pass, and a point split between jobs has its failures minimised by the report); then, while
 * fewer than `n` jobs are used, splits the costliest. Deterministic: same plan, same split.
 */
export function splitJobs(log: CrashLog, plan: CrashPlan, n: number, model: CostModel): CampaignJob[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError("the number of jobs must be a whole number ≥ 1");
  const S = plan.states;
  const points = plan.points;
  // Bytes written before each point's flush and position: one pass over the log's columns.
  const marks = new Set<number>();
  for (const p of points) {
    marks.add(p.flush);
    marks.add(p.position);
  }
  const written = new Map<number, number>();
  let sum = 0;
  for (let i = 0; i <= log.count; i++) {
    if (marks.has(i)) written.set(i, sum);
    if (i < log.count && log.kinds[i] === KIND.write) sum += log.lengths[i]!;
  }
  const pointOf = new Int32Array(S);
  const prefix = new Float64Array(S + 1); // prefix[i]: the state costs of ordinals [0, i)
  const stateBytesPrefix = new Float64Array(S + 1);
  points.forEach((p, k) => {
    const since = written.get(p.position)! - written.get(p.flush)!;
    for (let o = p.first; o < p.first + p.count; o++) {
      pointOf[o] = k;
      prefix[o + 1] = prefix[o]! + model.judgeBytes + since;
      stateBytesPrefix[o + 1] = stateBytesPrefix[o]! + since;
    }
  });
  const replay = (end: number) => (end === 0 ? 0 : written.get(points[pointOf[end - 1]!]!.flush)!);
  const cost = (s: number, e: number) => (e <= s ? 0 : replay(e) + prefix[e]! - prefix[s]!);
  const boundaries = points.map((p) => p.first).concat([S]);

  /** The jobs greedy takes under `bound` (undefined when one state alone is over it, or more than `n` jobs are needed). */
  const greedy = (bound: number): number[] | undefined => {
    const ends: number[] = [];
    let s = 0;
    while (s < S) {
      if (ends.length === n) return undefined;
      if (cost(s, s + 1) > bound) return undefined;
      let lo = s + 1;
      let hi = S;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (cost(s, mid) <= bound) lo = mid;
        else hi = mid - 1;
      }
      let e = lo;
      const b = lastBoundary(boundaries, s, e);
      if (b !== undefined && b !== e && cost(s, b) >= (1 - POINT_SLACK) * cost(s, e)) e = b;
      ends.push(e);
      s = e;
    }
    return ends;
  };

  let ends: number[] = [];
  if (S > 0) {
    let lo = 0;
    let hi = cost(0, S);
    let best = greedy(hi)!;
    for (let k = 0; k < 64 && hi - lo > Math.max(1, hi * 1e-9); k++) {
      const mid = (lo + hi) / 2;
      const got = greedy(mid);
      if (got !== undefined) {
        best = got;
        hi = mid;
      } else lo = mid;
    }
    ends = best;
    // Fewer jobs than asked (a bound that fits fewer): split the costliest job at its middle.
    while (ends.length < Math.min(n, S)) {
      let worst = -1;
      let worstCost = -1;
      ends.forEach((e, j) => {
        const s = j === 0 ? 0 : ends[j - 1]!;
        const c = cost(s, e);
        if (e - s >= 2 && c > worstCost) {
          worst = j;
          worstCost = c;
        }
      });
      const s = worst === 0 ? 0 : ends[worst - 1]!;
      const e = ends[worst]!;
      let mid = s + 1;
      while (mid < e - 1 && cost(s, mid + 1) * 2 <= cost(s, e)) mid++;
      ends.splice(worst, 0, mid);
    }
  }
  const jobs: CampaignJob[] = [];
  let s = 0;
  for (let j = 0; j < n; j++) {
    const e = j < ends.length ? ends[j]! : S;
    jobs.push(describeJob(j, s, e));
    s = e;
  }
  return jobs;

  function describeJob(job: number, first: number, end: number): CampaignJob {
    if (end <= first) return { job, first, end: first, points: null, shared: [], cost: { replayBytes: 0, stateBytes: 0, judgeBytes: 0, total: 0 } };
    const a = points[pointOf[first]!]!;
    const b = points[pointOf[end - 1]!]!;
    const shared: number[] = [];
    if (a.first < first || a.first + a.count > end) shared.push(a.position);
    if (b !== a && b.first + b.count > end) shared.push(b.position);
    const replayBytes = replay(end);
    const stateBytes = stateBytesPrefix[end]! - stateBytesPrefix[first]!;
    const judgeBytes = (end - first) * model.judgeBytes;
    return { job, first, end, points: [a.position, b.position], shared, cost: { replayBytes, stateBytes, judgeBytes, total: replayBytes + stateBytes + judgeBytes } };
  }
}

/** The last boundary `b` with `s < b ≤ e`, if any (binary search over the sorted boundaries). */
function lastBoundary(boundaries: readonly number[], s: number, e: number): number | undefined {
  let lo = 0;
  let hi = boundaries.length - 1;
  let found: number | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const b = boundaries[mid]!;
    if (b <= e) {
      if (b > s) found = b;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
