import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { scanLog } from "./scan.js";
import { diffStates, scanState, type StateRange } from "./state.js";
import { paint, writeTestLog, type TestEntry } from "./test-logs.js";

const tmp = makeTempDir("lwlog-diff-state-");
afterAll(() => tmp.cleanup());
let serial = 0;
const DISK = 64 << 10;

/** Random writes and discards (and a few flushes) on a 64 KiB disk, in units of `S`. */
function entriesOf(S: number) {
  const units = DISK / S;
  const range = fc.integer({ min: 0, max: units - 1 }).chain((start) => fc.tuple(fc.constant(start), fc.integer({ min: 1, max: Math.min(units - start, 16) })));
  const entry: fc.Arbitrary<TestEntry> = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(range, fc.integer({ min: 1, max: 1 << 30 })).map(([[s, n], seed]) => ({ w: s * S, len: n * S, seed }) as TestEntry) },
    { weight: 2, arbitrary: range.map(([s, n]) => ({ d: s * S, len: n * S }) as TestEntry) },
    { weight: 1, arbitrary: fc.constant({ f: true } as TestEntry) },
  );
  return fc.array(entry, { maxLength: 25 });
}

/** Differing blocks of two byte arrays, merged into ranges. */
function differingRanges(x: Uint8Array, y: Uint8Array, g: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let o = 0; o < x.length; o += g) {
    if (Buffer.compare(x.subarray(o, o + g), y.subarray(o, o + g)) === 0) continue;
    const last = out[out.length - 1];
    if (last && last.end === o) last.end = o + g;
    else out.push({ start: o, end: o + g });
  }
  return out;
}

const spans = (r: StateRange[]) => r.map(({ start, end }) => ({ start, end }));

describe("scanState", () => {
  it("gives, for every byte, the last entry that wrote or discarded it", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(512, 4096).chain((S) => fc.tuple(fc.constant(S), entriesOf(S))), async ([S, entries]) => {
        const path = join(tmp.path, `lw-${serial++}.log`);
        await writeTestLog(path, S, entries);
        const scan = await scanLog(path);
        const map = scanState(scan);
        const expected = new Int32Array(DISK / S).fill(-1);
        entries.forEach((e, i) => {
          if ("w" in e || "d" in e) {
            const start = "w" in e ? e.w : e.d;
            const len = "bytes" in e ? e.bytes.length : e.len;
            for (let o = start; o < start + len; o += S) expected[o / S] = i;
          }
        });
        const got = new Int32Array(DISK / S).fill(-1);
        for (let k = 0; k < map.count; k++) {
          if (k > 0) expect(map.starts[k]).toBeGreaterThanOrEqual(map.ends[k - 1]!);
          for (let o = map.starts[k]!; o < map.ends[k]!; o += S) got[o / S] = map.writers[k]!;
        }
        expect(Array.from(got)).toEqual(Array.from(expected));
      }),
      { numRuns: 40 },
    );
  });

  it("stops at `until`: entries from there on are not applied", async () => {
    const path = join(tmp.path, "until.log");
    await writeTestLog(path, 512, [{ w: 0, len: 4096, seed: 1 }, { m: "here" }, { w: 0, len: 1024, seed: 2 }]);
    const scan = await scanLog(path);
    const map = scanState(scan, 2);
    expect(Array.from(map.writers)).toEqual([0]);
    expect([map.starts[0], map.ends[0]]).toEqual([0, 4096]);
    const all = scanState(scan);
    expect(Array.from(all.writers)).toEqual([2, 0]);
    expect(Array.from(all.starts)).toEqual([0, 1024]);
  });
});

describe("diffStates", () => {
  it("finds exactly the blocks whose bytes differ, across sector sizes, without writing an image", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .tuple(fc.constantFrom(512, 4096), fc.constantFrom(512, 4096))
          .chain(([SA, SB]) => fc.tuple(fc.constant(SA), fc.constant(SB), entriesOf(SA), entriesOf(SB), fc.nat({ max: 25 }))),
        async ([SA, SB, ea, own, cut]) => {
          // B: with the same sector size, mostly A's own entries with a few of its own spliced
          // in (so that most ranges are equal and come from different entries); else its own.
          const eb = SA === SB ? [...ea.slice(0, cut), ...own.slice(0, 3), ...ea.slice(cut)] : own;
          const pa = join(tmp.path, `sa-${serial++}.log`);
          const pb = join(tmp.path, `sb-${serial++}.log`);
          await writeTestLog(pa, SA, ea);
          await writeTestLog(pb, SB, eb);
          const [a, b] = [await scanLog(pa), await scanLog(pb)];
          const d = diffStates(a, scanState(a), b, scanState(b));
          const expected = differingRanges(paint(ea, DISK), paint(eb, DISK), Math.min(SA, SB));
          expect(spans(d.ranges)).toEqual(expected);
          expect(d.identical).toBe(expected.length === 0);
          expect(d.differingBytes).toBe(expected.reduce((n, r) => n + r.end - r.start, 0));
          expect(d.granularity).toBe(Math.min(SA, SB));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("calls two disks equal when the same bytes came through different entries", async () => {
    const data = randomBytes(8192, 5);
    const pa = join(tmp.path, "one-8k.log");
    const pb = join(tmp.path, "two-4k.log");
    await writeTestLog(pa, 512, [{ w: 4096, bytes: data }]);
    await writeTestLog(pb, 4096, [{ w: 8192, bytes: data.subarray(4096) }, { f: true }, { w: 4096, bytes: data.subarray(0, 4096) }]);
    const [a, b] = [await scanLog(pa), await scanLog(pb)];
    const d = diffStates(a, scanState(a), b, scanState(b));
    expect(d.identical).toBe(true);
    expect(d.comparedByRead).toBe(8192);
    // A log against itself needs no read at all: every piece is the same entry.
    const self = diffStates(a, scanState(a), a, scanState(a));
    expect(self).toMatchObject({ identical: true, comparedByRead: 0, equalByHash: 8192 });
  });

  it("treats a discard as zeros and compares untouched bytes with the base image", async () => {
    const base = join(tmp.path, "base.img");
    const baseBytes = randomBytes(16384, 9);
    writeFileSync(base, baseBytes);
    const pa = join(tmp.path, "disc.log");
    const pb = join(tmp.path, "zero.log");
    await writeTestLog(pa, 512, [{ d: 0, len: 4096 }, { w: 8192, bytes: baseBytes.subarray(8192, 12288) }]);
    await writeTestLog(pb, 512, [{ w: 0, bytes: new Uint8Array(4096) }]);
    const [a, b] = [await scanLog(pa), await scanLog(pb)];
    // On zeros: A wrote random bytes at 8192 that B did not.
    const onZeros = diffStates(a, scanState(a), b, scanState(b));
    expect(spans(onZeros.ranges)).toEqual([{ start: 8192, end: 12288 }]);
    expect(onZeros.ranges[0]).toMatchObject({ a: [1], b: [-1] });
    // On the base image, A rewrote what was already there: the same disk.
    const onBase = diffStates(a, scanState(a), b, scanState(b), { base });
    expect(onBase.identical).toBe(true);
  });
});
