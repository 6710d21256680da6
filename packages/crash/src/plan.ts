import { exhaustiveState, generatedState, type StateShape } from "./generate.js";
import { encodeStateId } from "./id.js";
import { KIND, type CrashLog } from "./log-table.js";
import { candidatesOf, choosePoints, type CrashPoint, type PointOptions, type PointRule } from "./points.js";
import { pointSeed, Prng } from "./prng.js";
import { isPrefix, type CrashState } from "./state.js";

/** Options that decide a run's states (with the log, they decide the plan, byte for byte). */
export interface CrashPlanOptions extends PointOptions {
  /** Also tear multi-sector writes at sector granularity (default false). */
  torn?: boolean;
  /** A point with at most this many states gets all of them; one with more gets this many, sampled (default 1024). */
  maxExhaustive?: number;
  /** The whole run's budget of states, spread over the points (prefix states first); overrides the per-point rule. */
  samples?: number;
  /** Seed of the sampling (default 1). */
  seed?: number;
}

/** The defaults of `CrashPlanOptions`. */
export const PLAN_DEFAULTS = { torn: false, maxExhaustive: 1024, seed: 1 } as const;

/** A crash point of a plan, and the states planned there. */
export interface PlannedPoint extends CrashPoint {
  /** log2 of the number of states a crash here could leave. */
  bits: number;
  /** True when every state of the point is planned. */
  exhaustive: boolean;
  /** Ordinal of the point's first state in the plan; its states are `[first, first + count)`. */
  first: number;
  count: number;
  /**
   * Sampled points: the generator seed of each state after the prefix state (state `first` is
   * the prefix state; state `first + 1 + k` is seed `seeds[k]`). Empty for exhaustive points,
   * whose state `first + k` is enumeration number `k`.
   */
  seeds: number[];
}

/**
 * Every state a run will judge, in order: a deterministic function of the log's headers and
 * the options (same inputs, same plan), so a run can be split into jobs by ordinal and the
 * jobs' records merged. The states of a point are consecutive; points are in log order.
 */
export interface CrashPlan {
  log: string;
  sectorSize: number;
  entries: number;
  options: Required<Pick<CrashPlanOptions, "torn" | "maxExhaustive" | "seed">> & Pick<CrashPlanOptions, "samples" | "fromMark" | "untilMark"> & { rules: PointRule[] };
  points: PlannedPoint[];
  /** Positions the rules matched whose point got no state (`samples` below the number of points). */
  unsampled: number[];
  /** States in the plan. */
  states: number;
  /** Set when the rules matched no position: what they missed (with a hint), the end being the only crash point. */
  unmatched?: string;
}

/** One planned state, with everything needed to build it. */
export interface PlannedState {
  ordinal: number;
  point: PlannedPoint;
  state: CrashState;
  id: string;
  /** Where it comes from: the prefix state, enumeration number `k`, or a generator seed. */
  source: { kind: "prefix" } | { kind: "exhaustive"; k: number } | { kind: "sampled"; seed: number };
  /** The point's candidates (entry indexes; shared by the point's states). */
  candidates: Int32Array;
}

/**
 * Plans a run: the crash points, then for each the states to judge: all of them when there
 * are at most `maxExhaustive`, else the prefix state and `maxExhaustive - 1` distinct states
 * sampled with generator 1 from seeds drawn for the point from `seed` and its position. With
 * `samples`, that many states in all: the prefix state of every point first (of `samples`
 * points spread evenly when there are more points than that), the rest shared evenly, a point
 * never getting more than it has (then it is exhaustive).
 */
export function planCrashes(log: CrashLog, options: CrashPlanOptions): CrashPlan {
  const torn = options.torn ?? PLAN_DEFAULTS.torn;
  const maxExhaustive = options.maxExhaustive ?? PLAN_DEFAULTS.maxExhaustive;
  const seed = (options.seed ?? PLAN_DEFAULTS.seed) >>> 0;
  if (!Number.isSafeInteger(maxExhaustive) || maxExhaustive < 1) throw new RangeError("maxExhaustive must be a whole number ≥ 1");
  if (options.samples !== undefined && (!Number.isSafeInteger(options.samples) || options.samples < 1)) throw new RangeError("samples must be a whole number ≥ 1");
  const notes: string[] = [];
  const chosen = choosePoints(log, options, notes);
  const bits = chosen.map((p) => (torn ? p.units : p.candidates));
  const sizes = bits.map((b) => (b < 53 ? 2 ** b : Infinity));
  let counts: number[];
  let unsampled: number[] = [];
  if (options.samples === undefined) {
    counts = sizes.map((s) => Math.min(s, maxExhaustive));
  } else {
    counts = allocate(options.samples, sizes);
    unsampled = chosen.filter((_, i) => counts[i] === 0).map((p) => p.position);
  }
  const points: PlannedPoint[] = [];
  let first = 0;
  chosen.forEach((p, i) => {
    const count = counts[i]!;
    if (count === 0) return;
    const exhaustive = count >= sizes[i]!;
    const planned: PlannedPoint = { ...p, bits: bits[i]!, exhaustive, first, count, seeds: [] };
    if (!exhaustive) {
      planned.seeds = sampleSeeds(log, planned, torn, seed, count - 1);
      planned.count = planned.seeds.length + 1;
    }
    first += planned.count;
    points.push(planned);
  });
  const plan: CrashPlan = {
    log: log.path,
    sectorSize: log.sectorSize,
    entries: log.count,
    options: { rules: options.rules, torn, maxExhaustive, seed },
    points,
    unsampled,
    states: first,
  };
  if (notes.length > 0) plan.unmatched = notes.join("; ");
  if (options.samples !== undefined) plan.options.samples = options.samples;
  if (options.fromMark !== undefined) plan.options.fromMark = options.fromMark;
  if (options.untilMark !== undefined) plan.options.untilMark = options.untilMark;
  return plan;
}

/**
 * The shape of a point's states: each candidate's units (sectors of a write, 1 for a
 * discard) and whether tears are allowed. O(entries since the point's flush).
 */
export function shapeOf(log: CrashLog, point: { flush: number; position: number }, torn: boolean): { candidates: Int32Array; shape: StateShape } {
  const candidates = candidatesOf(log, point);
  const units = new Float64Array(candidates.length);
  for (let j = 0; j < candidates.length; j++) {
    const e = candidates[j]!;
    units[j] = log.kinds[e] === KIND.write ? log.lengths[e]! / log.sectorSize : 1;
  }
  return { candidates, shape: { units, torn } };
}

/**
 * The states of one point, in plan order (prefix first), built one at a time: all of them, or
 * those of `ordinals` (ascending) that belong to the point. The point's shape is computed
 * once; each state is expanded when asked for.
 */
export function* pointStates(log: CrashLog, plan: CrashPlan, point: PlannedPoint, ordinals?: Iterable<number>): Generator<PlannedState> {
  const { candidates, shape } = shapeOf(log, point, plan.options.torn);
  const idPoint = { fingerprint: log.fingerprints[point.position]!, candidates: candidates.length };
  const end = point.first + point.count;
  const wanted = ordinals ?? range(point.first, end);
  for (const ordinal of wanted) {
    if (ordinal < point.first || ordinal >= end) continue;
    const k = ordinal - point.first;
    let state: CrashState;
    let source: PlannedState["source"];
    let id: string;
    if (point.exhaustive) {
      state = exhaustiveState(point.position, shape, k);
      source = k === 0 ? { kind: "prefix" } : { kind: "exhaustive", k };
      id = encodeStateId(state, idPoint);
    } else if (k === 0) {
      state = { position: point.position, dropped: [], torn: [] };
      source = { kind: "prefix" };
      id = encodeStateId(state, idPoint);
    } else {
      const s = point.seeds[k - 1]!;
      state = generatedState(point.position, shape, s);
      source = { kind: "sampled", seed: s };
      id = encodeStateId(state, idPoint, { seed: s, torn: plan.options.torn });
    }
    yield { ordinal, point, state, id, source, candidates };
  }
}

function* range(from: number, to: number): Generator<number> {
  for (let i = from; i < to; i++) yield i;
}

/** The point a state ordinal belongs to (binary search). */
export function pointOfState(plan: CrashPlan, ordinal: number): PlannedPoint {
  if (!Number.isSafeInteger(ordinal) || ordinal < 0 || ordinal >= plan.states) throw new RangeError(`no state ${ordinal}: the plan has ${plan.states}`);
  let lo = 0;
  let hi = plan.points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (plan.points[mid]!.first <= ordinal) lo = mid;
    else hi = mid - 1;
  }
  return plan.points[lo]!;
}

/**
 * `want` distinct seeds whose states are neither the prefix state nor each other, drawn from
 * the point's own generator; fewer when that many distinct states are not found in 20 times
 * as many draws (a small space nearly exhausted).
 */
function sampleSeeds(log: CrashLog, point: PlannedPoint, torn: boolean, seed: number, want: number): number[] {
  const { shape } = shapeOf(log, point, torn);
  const rng = new Prng(pointSeed(seed, point.position));
  const seen = new Set<string>();
  const seeds: number[] = [];
  const limit = want * 20 + 100;
  for (let draws = 0; seeds.length < want && draws < limit; draws++) {
    const s = rng.nextU32();
    const state = generatedState(point.position, shape, s);
    if (isPrefix(state)) continue;
    const key = stateDigest(state);
    if (seen.has(key)) continue;
    seen.add(key);
    seeds.push(s);
  }
  return seeds;
}

/**
 * A 64-bit digest of a state (two 32-bit hashes over its sets), without building its key: the
 * key of a state that drops half of 100,000 candidates is half a megabyte of text.
 */
function stateDigest(state: CrashState): string {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  const add = (x: number) => {
    a = Math.imul(a ^ x, 0x01000193) >>> 0;
    b = Math.imul(b ^ x, 0x5bd1e995) >>> 0;
    b = (b ^ (b >>> 15)) >>> 0;
  };
  for (const o of state.dropped) add(o);
  add(-1);
  for (const t of state.torn) {
    add(t.ordinal);
    for (const r of t.runs) add(r);
    add(-2);
  }
  return `${a.toString(36)}.${b.toString(36)}.${state.dropped.length}.${state.torn.length}`;
}

/**
 * Shares `budget` states among points with `sizes` states each: one (the prefix state) to
 * every point first, to `budget` points spread evenly when there are more points; then the
 * rest evenly (water-filling: a point never gets more than its size, what it cannot take goes
 * to the others; leftovers go to the earliest points).
 */
export function allocate(budget: number, sizes: readonly number[]): number[] {
  const n = sizes.length;
  const out = new Array<number>(n).fill(0);
  if (budget < n) {
    for (let k = 0; k < budget; k++) out[Math.floor(((k + 0.5) * n) / budget)] = 1;
    return out;
  }
  out.fill(1);
  let rest = budget - n;
  const order = sizes.map((s, i) => ({ cap: s - 1, i })).sort((x, y) => x.cap - y.cap || x.i - y.i);
  let left = n;
  let k = 0;
  for (; k < order.length; k++) {
    const { cap, i } = order[k]!;
    if (cap * left <= rest) {
      out[i]! += cap;
      rest -= cap;
      left--;
    } else break;
  }
  if (left > 0 && rest > 0) {
    const share = Math.floor(rest / left);
    let extra = rest - share * left;
    const remaining = order.slice(k).map((o) => o.i).sort((x, y) => x - y);
    for (const i of remaining) {
      out[i]! += share + (extra > 0 ? 1 : 0);
      if (extra > 0) extra--;
    }
  }
  return out;
}
