import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lastWriters, rangeAt, type StateMap } from "./last-writers.js";
import { StateBuilder } from "./builder.js";

/** Pieces in units of a small disk: [start, length] with length possibly 0. */
const DISK_UNITS = 96;
const piece = fc.integer({ min: 0, max: DISK_UNITS - 1 }).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: 0, max: Math.min(DISK_UNITS - s, 24) })));

/** Where the pieces sit in bytes: `base + unit × u`, so that large offsets use every radix digit. */
const placement = fc.record({
  unit: fc.constantFrom(1, 512, 4096, 2 ** 31 + 3, 2 ** 40),
  base: fc.constantFrom(0, 2 ** 32 - 7, 2 ** 48 + 1, 2 ** 52),
});

/** The naive model: one cell a unit, painted by each listed piece in priority order. */
function paint(pieces: [number, number][], ids: number[]): Int32Array {
  const cells = new Int32Array(DISK_UNITS).fill(-1);
  for (const id of ids) {
    const [s, n] = pieces[id]!;
    cells.fill(id, s, s + n);
  }
  return cells;
}

/** The map read back into cells, checking its shape on the way. */
function cellsOf(map: StateMap, unit: number, base: number): Int32Array {
  const cells = new Int32Array(DISK_UNITS).fill(-1);
  for (let k = 0; k < map.count; k++) {
    const [s, e] = [map.starts[k]!, map.ends[k]!];
    expect(e).toBeGreaterThan(s);
    if (k > 0) expect(s).toBeGreaterThanOrEqual(map.ends[k - 1]!);
    // Canonical: two touching ranges have different writers.
    if (k > 0 && s === map.ends[k - 1]) expect(map.writers[k]).not.toBe(map.writers[k - 1]);
    expect((s - base) % unit).toBe(0);
    expect((e - base) % unit).toBe(0);
    cells.fill(map.writers[k]!, (s - base) / unit, (e - base) / unit);
  }
  return cells;
}

function columns(pieces: [number, number][], unit: number, base: number): [Float64Array, Float64Array] {
  const offsets = new Float64Array(pieces.length);
  const lengths = new Float64Array(pieces.length);
  pieces.forEach(([s, n], i) => {
    offsets[i] = base + s * unit;
    lengths[i] = n * unit;
  });
  return [offsets, lengths];
}

describe("lastWriters", () => {
  it("gives, for every byte, the piece listed last among those covering it", () => {
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 60 }).chain((pieces) =>
          fc.tuple(
            fc.constant(pieces),
            // Any subset of the pieces in any order: priority is the place in `ids`, not the id.
            fc.shuffledSubarray([...pieces.keys()]),
            placement,
          ),
        ),
        ([pieces, ids, { unit, base }]) => {
          const [offsets, lengths] = columns(pieces, unit, base);
          const map = lastWriters(offsets, lengths, ids);
          expect(Array.from(cellsOf(map, unit, base))).toEqual(Array.from(paint(pieces, ids)));
        },
      ),
      { numRuns: 400 },
    );
  });

  it("stays exact with thousands of deeply overlapping pieces", () => {
    fc.assert(
      fc.property(fc.array(piece, { minLength: 2000, maxLength: 5000 }), (pieces) => {
        const ids = [...pieces.keys()];
        const [offsets, lengths] = columns(pieces, 4096, 2 ** 33);
        const map = lastWriters(offsets, lengths, Uint32Array.from(ids));
        expect(Array.from(cellsOf(map, 4096, 2 ** 33))).toEqual(Array.from(paint(pieces, ids)));
      }),
      { numRuns: 20 },
    );
  });

  it("lets a piece listed twice win with its later place", () => {
    const offsets = Float64Array.of(0, 100);
    const lengths = Float64Array.of(200, 50);
    const map = lastWriters(offsets, lengths, [0, 1, 0]);
    expect(map.count).toBe(1);
    expect([map.starts[0], map.ends[0], map.writers[0]]).toEqual([0, 200, 0]);
  });

  it("ignores zero-length pieces and returns an empty map for none", () => {
    const empty = lastWriters(new Float64Array(0), new Float64Array(0), []);
    expect(empty.count).toBe(0);
    const map = lastWriters(Float64Array.of(10, 0), Float64Array.of(0, 4), [0, 1]);
    expect(Array.from(map.writers)).toEqual([1]);
  });

  it("refuses byte positions that are not whole numbers below 2^53", () => {
    expect(() => lastWriters(Float64Array.of(0.5), Float64Array.of(1), [0])).toThrow(RangeError);
    expect(() => lastWriters(Float64Array.of(-1), Float64Array.of(1), [0])).toThrow(RangeError);
    expect(() => lastWriters(Float64Array.of(2 ** 53 - 1), Float64Array.of(2), [0])).toThrow(RangeError);
    expect(() => lastWriters(Float64Array.of(0), Float64Array.of(-1), [0])).toThrow(RangeError);
  });
});

describe("rangeAt", () => {
  it("finds the first range ending after a byte", () => {
    const map = lastWriters(Float64Array.of(10, 40), Float64Array.of(10, 10), [0, 1]);
    expect([0, 10, 19, 20, 39, 49, 50].map((p) => rangeAt(map, p))).toEqual([0, 0, 0, 1, 1, 1, 2]);
  });
});

describe("StateBuilder", () => {
  it("applied segment by segment, leaves the state one map of every piece gives", () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 300 }), fc.constantFrom(1, 20_000), (pieces, budgetBytes) => {
        const b = new StateBuilder({ budgetBytes });
        expect(b.capacity).toBeGreaterThanOrEqual(64);
        const cells = new Int32Array(DISK_UNITS).fill(-1);
        // Each segment's map painted over the cells, as a replay writes each segment's survivors.
        const flush = (firstId: number) => {
          const map = b.build();
          const seg = cellsOf(map, 1, 0);
          seg.forEach((w, u) => {
            if (w >= 0) cells[u] = firstId + w;
          });
          b.reset();
        };
        let first = 0;
        pieces.forEach(([s, n], i) => {
          if (b.full) {
            flush(first);
            first = i;
          }
          expect(b.add(s, n)).toBe(i - first);
        });
        flush(first);
        expect(Array.from(cells)).toEqual(Array.from(paint(pieces, [...pieces.keys()])));
      }),
      { numRuns: 100 },
    );
  });

  it("refuses a piece past its capacity", () => {
    const b = new StateBuilder({ budgetBytes: 1 });
    for (let i = 0; i < b.capacity; i++) b.add(i, 1);
    expect(b.full).toBe(true);
    expect(() => b.add(0, 1)).toThrow(RangeError);
    expect(b.offsets.length).toBe(b.capacity);
    b.reset();
    expect(b.count).toBe(0);
    expect(b.full).toBe(false);
  });
});
