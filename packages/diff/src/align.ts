import { diff_core, lcs } from "fast-myers-diff";

/**
 * A run of positions where the two sequences differ: `[a0, a1)` of A is replaced by
 * `[b0, b1)` of B (either may be empty). `approximate` when the range was too different to
 * align within the work budget and is reported as all removed and all added.
 */
export interface Region {
  a0: number;
  a1: number;
  b0: number;
  b1: number;
  approximate: boolean;
}

/** Equality of position `i` of A and position `j` of B. */
export type Equal = (i: number, j: number) => boolean;

/** Options of `alignRange`. */
export interface AlignOptions {
  /**
   * Element comparisons one Myers run may make before the range is split by patience
   * anchors instead (default 2^22, ~20 ms). This bounds the time of a diff of two very
   * different logs, where Myers alone is O(N·D).
   */
  budget?: number;
  /**
   * Keys of positions for patience anchoring: equal elements have equal keys. Different
   * elements may share a key (a hash): such a key is simply not unique, so never an anchor.
   */
  keyA: (i: number) => number;
  keyB: (j: number) => number;
}

class BudgetExceeded extends Error {}

/**
 * Aligns `[a0, a1)` of A with `[b0, b1)` of B and appends the differing regions, in order,
 * to `out`. The algorithm is git's "patience, then Myers":
 *
 * 1. common prefix and suffix are matched directly;
 * 2. what is left goes to Myers' O(ND) algorithm (fast-myers-diff, linear space) with a
 *    budget of comparisons, which two near-identical ranges never reach (measured: 82 ms
 *    for two 236 000-entry logs with 1% of entries changed, where patience first took 175);
 * 3. past the budget, the elements that occur exactly once in each side are matched by a
 *    longest increasing subsequence (patience sorting) and the gaps between those anchors
 *    are aligned the same way, recursively;
 * 4. a gap with no unique common element and too big for the budget is reported as one
 *    approximate region (all removed, all added).
 *
 * Memory is O(range) for the patience step and O(min(N, M) + D) for Myers.
 */
export function alignRange(eq: Equal, a0: number, a1: number, b0: number, b1: number, options: AlignOptions, out: Region[]): void {
  const budget = options.budget ?? 1 << 22;
  // Work list of ranges still to align, in reverse order so that popping keeps output order.
  const todo: [number, number, number, number][] = [[a0, a1, b0, b1]];
  while (todo.length > 0) {
    let [i0, i1, j0, j1] = todo.pop()!;
    while (i0 < i1 && j0 < j1 && eq(i0, j0)) (i0++, j0++);
    while (i1 > i0 && j1 > j0 && eq(i1 - 1, j1 - 1)) (i1--, j1--);
    if (i0 === i1 && j0 === j1) continue;
    if (i0 === i1 || j0 === j1) {
      push(out, { a0: i0, a1: i1, b0: j0, b1: j1, approximate: false });
      continue;
    }
    const myers = tryMyers(eq, i0, i1, j0, j1, budget);
    if (myers !== undefined) {
      for (const r of myers) push(out, r);
      continue;
    }
    const anchors = patienceAnchors(options, i0, i1, j0, j1);
    if (anchors.length === 0) {
      push(out, { a0: i0, a1: i1, b0: j0, b1: j1, approximate: true });
      continue;
    }
    // Gaps between anchors, pushed last-first.
    const gaps: [number, number, number, number][] = [];
    let pi = i0;
    let pj = j0;
    for (const [ai, bj] of anchors) {
      gaps.push([pi, ai, pj, bj]);
      pi = ai + 1;
      pj = bj + 1;
    }
    gaps.push([pi, i1, pj, j1]);
    for (let g = gaps.length - 1; g >= 0; g--) todo.push(gaps[g]!);
  }
}

/** Appends a region, merging it with the previous one when they touch. */
function push(out: Region[], r: Region): void {
  const last = out[out.length - 1];
  if (last !== undefined && last.a1 === r.a0 && last.b1 === r.b0 && last.approximate === r.approximate) {
    last.a1 = r.a1;
    last.b1 = r.b1;
    return;
  }
  out.push(r);
}

/** Myers over the range, or undefined when it would take more than `budget` comparisons. */
function tryMyers(eq: Equal, i0: number, i1: number, j0: number, j1: number, budget: number): Region[] | undefined {
  let left = budget;
  const counted: Equal = (i, j) => {
    if (--left < 0) throw new BudgetExceeded();
    return eq(i, j);
  };
  const regions: Region[] = [];
  try {
    for (const [sx, ex, sy, ey] of diff_core(i0, i1 - i0, j0, j1 - j0, counted)) {
      regions.push({ a0: sx, a1: ex, b0: sy, b1: ey, approximate: false });
    }
  } catch (err) {
    if (err instanceof BudgetExceeded) return undefined;
    throw err;
  }
  return regions;
}

/**
 * Pairs of positions whose key occurs exactly once in each side, reduced to the longest
 * chain increasing in both (patience sorting, O(n log n)).
 */
function patienceAnchors(options: AlignOptions, i0: number, i1: number, j0: number, j1: number): [number, number][] {
  // key -> position in A, or -1 once seen twice; then the same for B, for keys A has.
  const inA = new Map<number, number>();
  for (let i = i0; i < i1; i++) {
    const k = options.keyA(i);
    inA.set(k, inA.has(k) ? -1 : i);
  }
  const inB = new Map<number, number>();
  for (let j = j0; j < j1; j++) {
    const k = options.keyB(j);
    const i = inA.get(k);
    if (i !== undefined && i >= 0) inB.set(k, inB.has(k) ? -1 : j);
  }
  const pairs: [number, number][] = [];
  for (const [k, j] of inB) {
    if (j >= 0) pairs.push([inA.get(k)!, j]);
  }
  pairs.sort((x, y) => x[0] - y[0]);
  return longestIncreasing(pairs);
}

/** The longest subsequence of `pairs` (sorted by A) whose B positions increase. */
function longestIncreasing(pairs: [number, number][]): [number, number][] {
  const tails: number[] = []; // index into pairs of the smallest tail of each length
  const prev = new Int32Array(pairs.length).fill(-1);
  for (let p = 0; p < pairs.length; p++) {
    const b = pairs[p]![1];
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pairs[tails[mid]!]![1] < b) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[p] = tails[lo - 1]!;
    tails[lo] = p;
  }
  const out: [number, number][] = [];
  for (let p = tails.length > 0 ? tails[tails.length - 1]! : -1; p >= 0; p = prev[p]!) out.push(pairs[p]!);
  return out.reverse();
}

/**
 * Pairs the elements of the two sides of a region that are "the same entry, changed":
 * first those that match under `similar` (same kind, offset and length), as a longest
 * common subsequence; then, between those, what is left positionally when `sameKind` holds.
 * Returns flattened [aPos, bPos, …] pairs, increasing in both.
 */
export function pairChanged(r: Region, similar: Equal, sameKind: Equal, budget = 1 << 20): number[] {
  const loose: [number, number][] = [];
  if (!r.approximate && r.a1 > r.a0 && r.b1 > r.b0) {
    let left = budget;
    const counted: Equal = (i, j) => {
      if (--left < 0) throw new BudgetExceeded();
      return similar(i + r.a0, j + r.b0);
    };
    try {
      const xs = { length: r.a1 - r.a0 };
      const ys = { length: r.b1 - r.b0 };
      for (const [sx, sy, l] of lcs(xs, ys, counted)) for (let k = 0; k < l; k++) loose.push([r.a0 + sx + k, r.b0 + sy + k]);
    } catch (err) {
      if (!(err instanceof BudgetExceeded)) throw err;
      loose.length = 0;
    }
  }
  const out: number[] = [];
  let pi = r.a0;
  let pj = r.b0;
  const positional = (ie: number, je: number) => {
    for (let i = pi, j = pj; i < ie && j < je; i++, j++) {
      if (sameKind(i, j)) out.push(i, j);
    }
  };
  for (const [i, j] of loose) {
    positional(i, j);
    out.push(i, j);
    pi = i + 1;
    pj = j + 1;
  }
  positional(r.a1, r.b1);
  return out;
}
