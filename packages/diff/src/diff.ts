import { alignRange, pairChanged, type Equal, type Region } from "./align.js";
import { pairMarks, type Anchor } from "./anchors.js";
import { epochOrder } from "./epochs.js";
import { differingFields, sameEntry, scanLogs, type LogScan, type ScanManyOptions } from "./scan.js";

/** Options of `diffLogs`. */
export interface DiffOptions extends ScanManyOptions {
  /** Compare each flush epoch as a multiset: order ignored inside, respected across (default false). */
  epochs?: boolean;
  /** Comparisons one Myers run may make before patience splits the range (see `alignRange`). */
  budget?: number;
}

/** One stretch of the logs between two anchors (or a log's start or end). */
export interface Segment {
  /** The anchor that opens the segment; undefined for the first. */
  from: Anchor | undefined;
  /** The anchor that closes it; undefined for the last. */
  to: Anchor | undefined;
  /** Entry index ranges `[start, end)` of each log, anchors excluded. */
  a: { start: number; end: number };
  b: { start: number; end: number };
  removed: number;
  added: number;
  changed: number;
}

/**
 * A run of differing entries. Positions are places in each log's compared sequence: the
 * entry index itself, or with `epochs` the place in the epoch-sorted order (see `LogDiff.entryA`).
 */
export interface Hunk extends Region {
  /** Index in `LogDiff.segments`. */
  segment: number;
  /** Changed pairs, as flattened [aPos, bPos, …], increasing in both. */
  pairs: number[];
  removed: number;
  added: number;
  changed: number;
}

/** One difference, with entry indexes (`a`, `b`) and the positions it sits at. */
export type Change =
  | { type: "changed"; a: number; b: number; aPos: number; bPos: number; fields: string[] }
  | { type: "removed"; a: number; aPos: number; bPos: number }
  | { type: "added"; b: number; aPos: number; bPos: number };

/** The alignment of two logs and everything found while making it. */
export class LogDiff {
  readonly a: LogScan;
  readonly b: LogScan;
  readonly epochs: boolean;
  readonly anchors: readonly Anchor[];
  readonly segments: readonly Segment[];
  readonly hunks: readonly Hunk[];
  private readonly orderA: Uint32Array | undefined;
  private readonly orderB: Uint32Array | undefined;

  constructor(parts: {
    a: LogScan;
    b: LogScan;
    epochs: boolean;
    anchors: Anchor[];
    segments: Segment[];
    hunks: Hunk[];
    orderA: Uint32Array | undefined;
    orderB: Uint32Array | undefined;
  }) {
    this.a = parts.a;
    this.b = parts.b;
    this.epochs = parts.epochs;
    this.anchors = parts.anchors;
    this.segments = parts.segments;
    this.hunks = parts.hunks;
    this.orderA = parts.orderA;
    this.orderB = parts.orderB;
  }

  /** True when no entry differs (with `epochs`: every epoch holds the same multiset). */
  get identical(): boolean {
    return this.hunks.length === 0;
  }

  /** Entry index of A at position `p`. */
  entryA(p: number): number {
    return this.orderA === undefined ? p : this.orderA[p]!;
  }

  /** Entry index of B at position `p`. */
  entryB(p: number): number {
    return this.orderB === undefined ? p : this.orderB[p]!;
  }

  /** Totals over every hunk. */
  get totals(): { removed: number; added: number; changed: number; hunks: number; approximate: number } {
    const t = { removed: 0, added: 0, changed: 0, hunks: this.hunks.length, approximate: 0 };
    for (const h of this.hunks) {
      t.removed += h.removed;
      t.added += h.added;
      t.changed += h.changed;
      if (h.approximate) t.approximate += 1;
    }
    return t;
  }

  /** The changes of a hunk, in order: removed entries before the added ones at each place. */
  *changes(h: Hunk): Generator<Change> {
    let i = h.a0;
    let j = h.b0;
    const upTo = (ie: number, je: number): Change[] => {
      const out: Change[] = [];
      for (; i < ie; i++) out.push({ type: "removed", a: this.entryA(i), aPos: i, bPos: j });
      for (; j < je; j++) out.push({ type: "added", b: this.entryB(j), aPos: i, bPos: j });
      return out;
    };
    for (let k = 0; k < h.pairs.length; k += 2) {
      const pi = h.pairs[k]!;
      const pj = h.pairs[k + 1]!;
      yield* upTo(pi, pj);
      const a = this.entryA(pi);
      const b = this.entryB(pj);
      yield { type: "changed", a, b, aPos: pi, bPos: pj, fields: differingFields(this.a, a, this.b, b) };
      i = pi + 1;
      j = pj + 1;
    }
    yield* upTo(h.a1, h.b1);
  }

  /** The first difference in log order, or undefined when the logs are identical. */
  firstDivergence(): Change | undefined {
    const h = this.hunks[0];
    if (h === undefined) return undefined;
    return this.changes(h).next().value as Change;
  }
}

/**
 * Diffs two logs: scans both (in parallel when it can), pairs their shared marks as
 * anchors, and aligns each segment between anchors on its own (see `alignRange`), so
 * memory beyond the scans' columns is bounded by the largest segment.
 */
export async function diffLogs(pathA: string, pathB: string, options: DiffOptions = {}): Promise<LogDiff> {
  const { epochs = false, budget, ...scanOptions } = options;
  const [a, b] = (await scanLogs([pathA, pathB], scanOptions)) as [LogScan, LogScan];
  return alignScans(a, b, { epochs, ...(budget !== undefined ? { budget } : {}) });
}

/** The alignment part of `diffLogs`, on scans already made. */
export function alignScans(a: LogScan, b: LogScan, options: { epochs?: boolean; budget?: number; patienceAbove?: number } = {}): LogDiff {
  const epochs = options.epochs ?? false;
  const orderA = epochs ? epochOrder(a) : undefined;
  const orderB = epochs ? epochOrder(b) : undefined;
  const ea = (p: number) => (orderA === undefined ? p : orderA[p]!);
  const eb = (p: number) => (orderB === undefined ? p : orderB[p]!);
  const similar: Equal = (i, j) => {
    const x = ea(i);
    const y = eb(j);
    return a.kinds[x] === b.kinds[y] && a.offsets[x] === b.offsets[y] && a.lengths[x] === b.lengths[y];
  };
  const sameKind: Equal = (i, j) => a.kinds[ea(i)] === b.kinds[eb(j)];
  // A 30-bit hash of the signature: a small integer is the fastest Map key. Two different
  // entries sharing one only costs an anchor (see AlignOptions.keyA).
  const key = (s: LogScan, i: number): number => {
    let h = Math.imul(s.hashes[2 * i]! ^ s.kinds[i]!, 0x9e3779b1);
    h = Math.imul(h ^ s.hashes[2 * i + 1]!, 0x85ebca6b);
    h = Math.imul(h ^ s.offsets[i]! % 0x100000000, 0xc2b2ae35);
    h = Math.imul(h ^ s.lengths[i]! % 0x100000000, 0x27d4eb2f);
    return (h ^ s.flagsLo[i]! ^ s.flagsHi[i]!) & 0x3fffffff;
  };
  // Fingerprints first: most comparisons Myers makes are between different entries, and
  // one integer compare rejects them.
  const fpA = new Int32Array(a.count);
  const fpB = new Int32Array(b.count);
  for (let i = 0; i < a.count; i++) fpA[i] = key(a, i);
  for (let j = 0; j < b.count; j++) fpB[j] = key(b, j);
  const eq: Equal =
    orderA === undefined
      ? (i, j) => fpA[i] === fpB[j] && sameEntry(a, i, b, j)
      : (i, j) => fpA[ea(i)] === fpB[eb(j)] && sameEntry(a, ea(i), b, eb(j));
  const alignOptions = {
    keyA: (i: number) => fpA[ea(i)]!,
    keyB: (j: number) => fpB[eb(j)]!,
    ...(options.budget !== undefined ? { budget: options.budget } : {}),
    ...(options.patienceAbove !== undefined ? { patienceAbove: options.patienceAbove } : {}),
  };

  const anchors = pairMarks(a.marks, b.marks);
  const segments: Segment[] = [];
  const hunks: Hunk[] = [];
  let pa = 0;
  let pb = 0;
  for (let s = 0; s <= anchors.length; s++) {
    const to = anchors[s];
    const seg: Segment = {
      from: anchors[s - 1],
      to,
      a: { start: pa, end: to?.a ?? a.count },
      b: { start: pb, end: to?.b ?? b.count },
      removed: 0,
      added: 0,
      changed: 0,
    };
    const regions: Region[] = [];
    alignRange(eq, seg.a.start, seg.a.end, seg.b.start, seg.b.end, alignOptions, regions);
    // The anchor pair itself: same name, but the rest of the entry may differ.
    if (to !== undefined && !sameEntry(a, to.a, b, to.b)) regions.push({ a0: to.a, a1: to.a + 1, b0: to.b, b1: to.b + 1, approximate: false });
    for (const r of regions) {
      const pairs = pairChanged(r, similar, sameKind);
      const changed = pairs.length / 2;
      const h: Hunk = { ...r, segment: s, pairs, changed, removed: r.a1 - r.a0 - changed, added: r.b1 - r.b0 - changed };
      seg.removed += h.removed;
      seg.added += h.added;
      seg.changed += h.changed;
      hunks.push(h);
    }
    segments.push(seg);
    if (to !== undefined) {
      pa = to.a + 1;
      pb = to.b + 1;
    }
  }
  return new LogDiff({ a, b, epochs, anchors, segments, hunks, orderA, orderB });
}
