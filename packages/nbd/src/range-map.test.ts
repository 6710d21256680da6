import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RangeMap } from "./range-map.js";

/** What a RangeMap must equal: one label (0 = none) per byte. */
function model(size: number, ops: [number, number, number][]): number[] {
  const bytes = new Array<number>(size).fill(0);
  for (const [s, e, l] of ops) for (let i = s; i < e; i++) bytes[i] = l;
  return bytes;
}

function flatten(map: RangeMap, size: number): number[] {
  const bytes: number[] = [];
  for (const seg of map.segments(0, size)) for (let i = seg.start; i < seg.end; i++) bytes.push(seg.label ?? 0);
  return bytes;
}

describe("RangeMap", () => {
  it("merges touching ranges of one label and splits ranges another label cuts", () => {
    const m = new RangeMap();
    m.set(10, 20, 1);
    m.set(20, 30, 1);
    expect(m.entries()).toEqual([{ start: 10, end: 30, label: 1 }]);
    m.set(15, 18, 2);
    expect(m.entries()).toEqual([
      { start: 10, end: 15, label: 1 },
      { start: 15, end: 18, label: 2 },
      { start: 18, end: 30, label: 1 },
    ]);
    m.set(0, 40, 1);
    expect(m.entries()).toEqual([{ start: 0, end: 40, label: 1 }]);
    expect(m.covered).toBe(40);
    m.set(5, 5, 2);
    expect(m.count).toBe(1);
  });

  it("segments a range into labelled pieces and gaps", () => {
    const m = new RangeMap();
    m.set(4, 8, 1);
    m.set(12, 16, 2);
    expect([...m.segments(0, 20)]).toEqual([
      { start: 0, end: 4, label: undefined },
      { start: 4, end: 8, label: 1 },
      { start: 8, end: 12, label: undefined },
      { start: 12, end: 16, label: 2 },
      { start: 16, end: 20, label: undefined },
    ]);
    expect([...m.segments(6, 13)]).toEqual([
      { start: 6, end: 8, label: 1 },
      { start: 8, end: 12, label: undefined },
      { start: 12, end: 13, label: 2 },
    ]);
    expect([...m.segments(5, 5)]).toEqual([]);
  });

  it("agrees with a byte-by-byte model on random operations, and keeps its invariants", () => {
    const size = 64;
    const op = fc.tuple(fc.nat(size), fc.nat(size), fc.integer({ min: 1, max: 3 })).map(([a, b, l]) => [Math.min(a, b), Math.max(a, b), l] as [number, number, number]);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const m = new RangeMap();
        for (const [s, e, l] of ops) m.set(s, e, l);
        expect(flatten(m, size)).toEqual(model(size, ops));
        const es = m.entries();
        for (let i = 0; i < es.length; i++) {
          expect(es[i]!.start).toBeLessThan(es[i]!.end);
          if (i > 0) {
            expect(es[i - 1]!.end).toBeLessThanOrEqual(es[i]!.start);
            if (es[i - 1]!.end === es[i]!.start) expect(es[i - 1]!.label).not.toBe(es[i]!.label);
          }
        }
      }),
      { seed: 12, numRuns: 500 },
    );
  });
});
