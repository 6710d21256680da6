/**
 * The state of a disk after some pieces were applied to it, as an interval map: sorted,
 * disjoint byte ranges `[starts[k], ends[k])`, each with the piece that last wrote it
 * (`writers[k]`, a piece id). Bytes in no range were never touched: they hold the base image.
 *
 * A piece is a byte range of the target with an id: a log entry's whole range, or a sub-range
 * of it (a torn write keeps only some of its sectors). What a piece put there (its data, or
 * zeros for a discard) is the caller's to know from the id. For a write piece whose entry
 * starts at target byte `o` and whose data starts at byte `d` of the log, byte `p` of a range
 * it won holds log byte `d + (p − o)`, whatever sub-range of the entry the piece is.
 */
export interface StateMap {
  starts: Float64Array;
  ends: Float64Array;
  writers: Int32Array;
  /** Ranges in the map. */
  count: number;
}

/** The largest byte offset or end a piece may have (offsets are exact whole numbers below it). */
export const MAX_STATE_BYTE = Number.MAX_SAFE_INTEGER;

/**
 * Builds the last-writer map of the pieces `ids` (indexes into `offsets` and `lengths`, the
 * pieces' target byte offsets and lengths), listed in ascending priority: where pieces
 * overlap, the one later in `ids` wins (list them in log order). Pieces of length 0 are
 * ignored. Exact in bytes for any overlap; O(n log n) time and about 88 bytes of memory a
 * piece beyond the inputs.
 *
 * One sweep over the pieces sorted by start: a max-heap of the pieces covering the sweep
 * position, keyed by their place in `ids` (stale ones dropped lazily when they reach the
 * top), says which one wins there.
 *
 * Throws a `RangeError` for an offset or length that is not a whole number, or a piece that
 * ends past `MAX_STATE_BYTE` (a caller's bug: byte positions are narrowed before they get here).
 */
export function lastWriters(offsets: Float64Array, lengths: Float64Array, ids: ArrayLike<number>): StateMap {
  let n = 0;
  for (let r = 0; r < ids.length; r++) if (lengths[ids[r]!]! > 0) n++;
  // The non-empty pieces by rank (their place among them, which is their priority).
  const pStart = new Float64Array(n);
  const pEnd = new Float64Array(n);
  const pId = new Int32Array(n);
  n = 0;
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r]!;
    const o = offsets[id]!;
    const l = lengths[id]!;
    if (!(l > 0)) {
      if (l === 0) continue;
      throw new RangeError(`piece ${id}: length ${l} is not a byte count`);
    }
    const e = o + l;
    if (!(o >= 0 && e <= MAX_STATE_BYTE && Number.isInteger(o) && Number.isInteger(l))) {
      throw new RangeError(`piece ${id}: bytes [${o}, ${o + l}) are not whole numbers within [0, 2^53)`);
    }
    pStart[n] = o;
    pEnd[n] = e;
    pId[n] = id;
    n++;
  }
  const byStart = sortByKey(n, pStart);
  const heap = new RankHeap(n);
  // Every range starts at a piece's start or end, the last end excepted.
  const cap = n === 0 ? 0 : 2 * n - 1;
  const starts = new Float64Array(cap);
  const ends = new Float64Array(cap);
  const writers = new Int32Array(cap);
  let count = 0;
  let cur = -1;
  let curStart = 0;
  let next = 0;
  for (;;) {
    const nextStart = next < n ? pStart[byStart[next]!]! : Infinity;
    const topEnd = heap.size > 0 ? pEnd[heap.top()]! : Infinity;
    const p = nextStart < topEnd ? nextStart : topEnd;
    if (p === Infinity) break;
    while (next < n && pStart[byStart[next]!] === p) heap.push(byStart[next++]!);
    while (heap.size > 0 && pEnd[heap.top()]! <= p) heap.pop();
    const w = heap.size > 0 ? heap.top() : -1;
    if (w !== cur) {
      if (cur >= 0) {
        starts[count] = curStart;
        ends[count] = p;
        writers[count] = pId[cur]!;
        count++;
      }
      cur = w;
      curStart = p;
    }
  }
  // Overlapping pieces leave far fewer ranges than the bound: do not keep the slack.
  if (count * 2 < cap) return { starts: starts.slice(0, count), ends: ends.slice(0, count), writers: writers.slice(0, count), count };
  return { starts: starts.subarray(0, count), ends: ends.subarray(0, count), writers: writers.subarray(0, count), count };
}

/**
 * The ranges `[0, n)` ordered by `keys[r]`, ties in rank order: a stable LSD radix sort on the
 * keys (whole numbers below 2^53) in 16-bit digits, as many as the largest key needs, with the
 * keys moved along with the ranks so that every pass reads them in order. Linear, where a
 * comparison sort of a million pieces takes most of a second.
 */
function sortByKey(n: number, keysIn: Float64Array): Uint32Array {
  let src = new Uint32Array(n);
  let dst = new Uint32Array(n);
  let keys = new Float64Array(keysIn);
  let keysDst = new Float64Array(n);
  let max = 0;
  for (let r = 0; r < n; r++) {
    src[r] = r;
    if (keys[r]! > max) max = keys[r]!;
  }
  const counts = new Uint32Array(65537);
  // Digit d of a whole number k < 2^53: ToUint32 takes k modulo 2^32 for the low two.
  const digit = (k: number, d: number) => (d === 0 ? k & 0xffff : d === 1 ? (k >>> 16) & 0xffff : d === 2 ? (k / 4294967296) & 0xffff : (k / 281474976710656) & 0xffff);
  for (let d = 0, scale = 1; d < 4 && scale <= max; d++, scale *= 65536) {
    counts.fill(0);
    for (let j = 0; j < n; j++) counts[digit(keys[j]!, d) + 1]!++;
    for (let c = 1; c <= 65536; c++) counts[c]! += counts[c - 1]!;
    for (let j = 0; j < n; j++) {
      const at = counts[digit(keys[j]!, d)]!++;
      dst[at] = src[j]!;
      keysDst[at] = keys[j]!;
    }
    [src, dst] = [dst, src];
    [keys, keysDst] = [keysDst, keys];
  }
  return src;
}

/** A max-heap of ranks, in a typed array of a fixed capacity (each rank is pushed once). */
class RankHeap {
  private readonly a: Int32Array;
  size = 0;
  constructor(capacity: number) {
    this.a = new Int32Array(capacity);
  }
  top(): number {
    return this.a[0]!;
  }
  push(v: number): void {
    const a = this.a;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! >= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): void {
    const a = this.a;
    const n = --this.size;
    if (n === 0) return;
    const last = a[n]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]! > a[l]! ? r : l;
      if (a[c]! <= last) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
  }
}

/** The first range of `map` that ends after byte `p` (`map.count` when none does): binary search. */
export function rangeAt(map: StateMap, p: number): number {
  let lo = 0;
  let hi = map.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (map.ends[mid]! <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
