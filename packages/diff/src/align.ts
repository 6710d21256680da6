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
   * Ranges with more than this many elements on each side are split on patience anchors
   * before Myers is tried (default: never; patience only once Myers is over its budget).
   * Measured on two 236 000-entry logs 1% apart: Myers first 59 ms, patience first 190 ms.
   */
  patienceAbove?: number;
  /**
   * Keys of positions for patience anchoring, non-negative 31-bit integers: equal elements
   * have equal keys. Different elements may share a key (a hash): an anchor is only taken
   * when its two elements are equal.
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
 * 2. what is left goes to Myers' O(ND) algorithm (fast-myers-diff, linear space, minimal)
 *    with a budget of comparisons, which two near-identical ranges never reach;
 * 3. past the budget, the range is split on the elements that occur exactly once in each
 *    side, chained by a longest increasing subsequence (patience sorting), and the gaps
 *    between those anchors are aligned the same way, recursively;
 * 4. a range with no unique common element that is still past the budget is reported as
 *    one approximate region (all removed, all added).
 *
 * (`patienceAbove` puts step 3 before step 2 for big ranges, as git's --patience does.)
 *
 * Memory is O(range) for the patience step and O(min(N, M) + D) for Myers.
 */
export function alignRange(eq: Equal, a0: number, a1: number, b0: number, b1: number, options: AlignOptions, out: Region[]): void {
  const budget = options.budget ?? 1 << 22;
  const patienceAbove = options.patienceAbove ?? Infinity;
  // Work list of ranges still to align, in reverse order so that popping keeps output order.
  const todo: [number, number, number, number][] = [[a0, a1, b0, b1]];
  const split = (i0: number, i1: number, j0: number, j1: number, anchors: Int32Array) => {
    // Gaps between anchors, pushed last-first.
    todo.push([anchors[anchors.length - 2]! + 1, i1, anchors[anchors.length - 1]! + 1, j1]);
    for (let k = anchors.length - 2; k >= 0; k -= 2) {
      const pi = k > 0 ? anchors[k - 2]! + 1 : i0;
      const pj = k > 0 ? anchors[k - 1]! + 1 : j0;
      todo.push([pi, anchors[k]!, pj, anchors[k + 1]!]);
    }
  };
  while (todo.length > 0) {
    let [i0, i1, j0, j1] = todo.pop()!;
    while (i0 < i1 && j0 < j1 && eq(i0, j0)) (i0++, j0++);
    while (i1 > i0 && j1 > j0 && eq(i1 - 1, j1 - 1)) (i1--, j1--);
    if (i0 === i1 && j0 === j1) continue;
    if (i0 === i1 || j0 === j1) {
      push(out, { a0: i0, a1: i1, b0: j0, b1: j1, approximate: false });
      continue;
    }
    const big = i1 - i0 > patienceAbove && j1 - j0 > patienceAbove;
    if (big) {
      const anchors = patienceAnchors(eq, options, i0, i1, j0, j1);
      if (anchors.length > 0) {
        split(i0, i1, j0, j1, anchors);
        continue;
      }
    }
    const myers = tryMyers(eq, i0, i1, j0, j1, budget);
    if (myers !== undefined) {
      for (const r of myers) push(out, r);
      continue;
    }
    const anchors = big ? new Int32Array(0) : patienceAnchors(eq, options, i0, i1, j0, j1);
    if (anchors.length > 0) split(i0, i1, j0, j1, anchors);
    else push(out, { a0: i0, a1: i1, b0: j0, b1: j1, approximate: true });
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
 * Pairs of positions whose key occurs exactly once in each side and whose elements are
 * equal, reduced to the longest chain increasing in both (patience sorting, O(n log n)), as
 * flattened [aPos, bPos, …]. The keys go into an open-addressing table in typed arrays, a few
 * nanoseconds an element where a Map takes a hundred.
 */
function patienceAnchors(eq: Equal, options: AlignOptions, i0: number, i1: number, j0: number, j1: number): Int32Array {
  let cap = 16;
  while (cap < 2 * (i1 - i0)) cap *= 2;
  const mask = cap - 1;
  const keys = new Int32Array(cap).fill(-1);
  // posA: the one position in A, or -2 once the key is seen twice; posB likewise (-1: not seen).
  const posA = new Int32Array(cap);
  const posB = new Int32Array(cap).fill(-1);
  const slotOf = (k: number, insert: boolean): number => {
    let h = Math.imul(k, 0x9e3779b1) & mask;
    for (;;) {
      const at = keys[h]!;
      if (at === k) return h;
      if (at === -1) {
        if (!insert) return -1;
        keys[h] = k;
        posA[h] = -1;
        return h;
      }
      h = (h + 1) & mask;
    }
  };
  for (let i = i0; i < i1; i++) {
    const h = slotOf(options.keyA(i), true);
    posA[h] = posA[h] === -1 ? i : -2;
  }
  for (let j = j0; j < j1; j++) {
    const h = slotOf(options.keyB(j), false);
    if (h < 0 || posA[h]! < 0) continue;
    posB[h] = posB[h] === -1 ? j : -2;
  }
  // In A's order: the key's unique A position, its unique B position, and the two equal
  // (different elements may share a key).
  const pairs: number[] = [];
  for (let i = i0; i < i1; i++) {
    const h = slotOf(options.keyA(i), false);
    const j = posB[h]!;
    if (posA[h] === i && j >= 0 && eq(i, j)) pairs.push(i, j);
  }
  return longestIncreasing(pairs);
}

/** The longest subsequence of `pairs` ([a, b, …], increasing in a) whose b increase too. */
function longestIncreasing(pairs: number[]): Int32Array {
  const n = pairs.length / 2;
  const tails: number[] = []; // pair index of the smallest tail of each length
  const prev = new Int32Array(n).fill(-1);
  for (let p = 0; p < n; p++) {
    const b = pairs[2 * p + 1]!;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pairs[2 * tails[mid]! + 1]! < b) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[p] = tails[lo - 1]!;
    tails[lo] = p;
  }
  const out = new Int32Array(2 * tails.length);
  let k = out.length;
  for (let p = tails.length > 0 ? tails[tails.length - 1]! : -1; p >= 0; p = prev[p]!) {
    out[--k] = pairs[2 * p + 1]!;
    out[--k] = pairs[2 * p]!;
  }
  return out;
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
