import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { alignRange, pairChanged, type Region } from "./align.js";
import { pairMarks } from "./anchors.js";

/** Length of the longest common subsequence, by the textbook O(NM) table. */
function lcsLength(a: readonly number[], b: readonly number[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(row[j]!, row[j - 1]!);
      diag = up;
    }
  }
  return row[b.length]!;
}

function align(a: readonly number[], b: readonly number[], budget?: number, patienceAbove?: number): Region[] {
  const out: Region[] = [];
  alignRange((i, j) => a[i] === b[j], 0, a.length, 0, b.length, {
    // Keys are non-negative; a key shared by different values is fine (anchors are checked).
    keyA: (i) => a[i]! & 0x3fffffff,
    keyB: (j) => b[j]! & 0x3fffffff,
    ...(budget !== undefined ? { budget } : {}),
    ...(patienceAbove !== undefined ? { patienceAbove } : {}),
  }, out);
  return out;
}

/** Checks that the regions are a valid edit script: what lies between them is equal in order. */
function checkScript(a: readonly number[], b: readonly number[], regions: Region[]): number {
  let i = 0;
  let j = 0;
  let kept = 0;
  for (const r of regions) {
    expect(r.a0).toBeGreaterThanOrEqual(i);
    expect(r.b0).toBeGreaterThanOrEqual(j);
    expect(r.a0 - i).toBe(r.b0 - j);
    for (; i < r.a0; i++, j++, kept++) expect(a[i]).toBe(b[j]);
    expect(r.a1 - r.a0 + (r.b1 - r.b0)).toBeGreaterThan(0);
    i = r.a1;
    j = r.b1;
  }
  expect(a.length - i).toBe(b.length - j);
  for (; i < a.length; i++, j++, kept++) expect(a[i]).toBe(b[j]);
  return kept;
}

const seq = fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 60 });

describe("alignRange", () => {
  it("finds a minimal edit script (Myers) when the budget allows", () => {
    fc.assert(
      fc.property(seq, seq, (a, b) => {
        const kept = checkScript(a, b, align(a, b));
        expect(kept).toBe(lcsLength(a, b));
      }),
      { numRuns: 400 },
    );
  });

  it("still gives a valid edit script when the budget forces patience splits and approximate regions", () => {
    const wide = fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 60 });
    fc.assert(
      fc.property(fc.oneof(seq, wide), fc.oneof(seq, wide), (a, b) => {
        checkScript(a, b, align(a, b, 3));
        // Patience first for every range, as for big segments.
        checkScript(a, b, align(a, b, undefined, 0));
        checkScript(a, b, align(a, b, 3, 0));
      }),
      { numRuns: 400 },
    );
  });

  it("splits a large, very different range on unique common elements (patience)", () => {
    // 20 000 elements each, unique values, with every tenth one replaced in B.
    const a = Array.from({ length: 20_000 }, (_, i) => i);
    const b = a.map((v, i) => (i % 10 === 5 ? -v - 1 : v));
    const regions = align(a, b, 1000);
    expect(checkScript(a, b, regions)).toBe(18_000);
    expect(regions).toHaveLength(2000);
    expect(regions.every((r) => !r.approximate && r.a1 - r.a0 === 1 && r.b1 - r.b0 === 1)).toBe(true);
  });

  it("reports a range with no unique common element past the budget as one approximate region", () => {
    const a = Array.from({ length: 3000 }, (_, i) => i % 2);
    const b = Array.from({ length: 3000 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const regions = align(a, b, 100);
    checkScript(a, b, regions);
    expect(regions.some((r) => r.approximate)).toBe(true);
  });
});

describe("pairChanged", () => {
  it("pairs entries at the same place first, then what is left by kind, position by position", () => {
    // Region: A = [w@0, w@8, f], B = [w@8', f', w@16]; "similar" = same offset.
    const a = [{ k: "w", o: 0 }, { k: "w", o: 8 }, { k: "f", o: 0 }];
    const b = [{ k: "w", o: 8 }, { k: "f", o: 0 }, { k: "w", o: 16 }];
    const pairs = pairChanged(
      { a0: 0, a1: 3, b0: 0, b1: 3, approximate: false },
      (i, j) => a[i]!.k === b[j]!.k && a[i]!.o === b[j]!.o,
      (i, j) => a[i]!.k === b[j]!.k,
    );
    expect(pairs).toEqual([1, 0, 2, 1]);
  });
});

describe("pairMarks", () => {
  it("pairs shared marks in order, duplicates occurrence by occurrence, and skips crossing ones", () => {
    const m = (names: string[]) => names.map((name, i) => ({ name, index: i * 10 }));
    const a = m(["start", "x", "y", "x", "end"]);
    const b = m(["start", "y", "x", "x", "end"]);
    const anchors = pairMarks(a, b);
    // A longest common subsequence: start, y, one x, end (A's first x would cross y).
    expect(anchors.map((x) => x.name)).toEqual(["start", "y", "x", "end"]);
    for (let k = 1; k < anchors.length; k++) {
      expect(anchors[k]!.a).toBeGreaterThan(anchors[k - 1]!.a);
      expect(anchors[k]!.b).toBeGreaterThan(anchors[k - 1]!.b);
    }
    for (const x of anchors) {
      expect(a.find((e) => e.index === x.a)!.name).toBe(x.name);
      expect(b.find((e) => e.index === x.b)!.name).toBe(x.name);
    }
    // Repeated names in both logs pair one to one, in order.
    const rep = pairMarks(m(["fsync", "fsync", "fsync"]), m(["fsync", "fsync"]));
    expect(rep.map((x) => [x.a, x.b])).toEqual([
      [0, 0],
      [10, 10],
    ]);
  });

  it("pairs nothing when one log has no marks (and does not look outside either list)", () => {
    const some = [{ name: "mkfs", index: 2 }];
    expect(pairMarks(some, [])).toEqual([]);
    expect(pairMarks([], some)).toEqual([]);
    expect(pairMarks([], [])).toEqual([]);
  });
});
