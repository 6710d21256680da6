import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { deviationKey, minimise } from "./minimise.js";
import type { Deviation } from "./state.js";

const drops = (n: number): Deviation[] => Array.from({ length: n }, (_, o) => ({ kind: "drop", ordinal: o }));

describe("delta debugging of a failing state", () => {
  it("finds exactly the culprits when the failure needs all of them (and counts its checks)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), async (n, picks) => {
        const culprits = new Set(picks.map((p) => p % n));
        let checks = 0;
        const r = await minimise(drops(n), async (devs) => {
          checks++;
          const have = new Set(devs.map((d) => d.ordinal));
          return [...culprits].every((c) => have.has(c));
        });
        expect(r.complete).toBe(true);
        expect(r.deviations.map((d) => d.ordinal).sort((a, b) => a - b)).toEqual([...culprits].sort((a, b) => a - b));
        // ddmin on k culprits among n: O(k² log n) checks.
        expect(checks).toBeLessThanOrEqual(8 * culprits.size * culprits.size * Math.ceil(Math.log2(n + 1)) + 8);
      }),
      { numRuns: 100 },
    );
  });

  it("gives a 1-minimal set for any failure predicate: taking one more deviation away passes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.array(fc.array(fc.nat(39), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }), async (n, groups) => {
        // Fails when the set holds any one group whole (several independent bugs).
        const gs = groups.map((g) => [...new Set(g.map((x) => x % n))]);
        const fails = (devs: Deviation[]) => {
          const have = new Set(devs.map((d) => d.ordinal));
          return gs.some((g) => g.every((x) => have.has(x)));
        };
        const r = await minimise(drops(n), async (d) => fails(d));
        expect(fails(r.deviations)).toBe(true);
        for (let k = 0; k < r.deviations.length; k++) expect(fails(r.deviations.filter((_, q) => q !== k))).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it("takes a known failing subset at once, and stops when the check budget is spent", async () => {
    const seen: string[] = [];
    const r = await minimise(
      drops(10),
      async (devs) => {
        seen.push(devs.map(deviationKey).join());
        return devs.some((d) => d.ordinal === 7);
      },
      [[{ kind: "drop", ordinal: 7 }], [{ kind: "drop", ordinal: 12 }]],
    );
    expect(r).toEqual({ deviations: [{ kind: "drop", ordinal: 7 }], complete: true });
    expect(seen).toEqual(["d7"]);
    let budget = 3;
    const cut = await minimise(drops(64), async (devs) => (budget-- > 0 ? devs.some((d) => d.ordinal === 5) : undefined));
    expect(cut.complete).toBe(false);
    expect(cut.deviations.some((d) => d.ordinal === 5)).toBe(true);
  });

  it("tears are deviations like drops", async () => {
    const devs: Deviation[] = [
      { kind: "drop", ordinal: 0 },
      { kind: "tear", ordinal: 1, runs: [1, 3] },
      { kind: "drop", ordinal: 2 },
    ];
    const r = await minimise(devs, async (d) => d.some((x) => x.kind === "tear"));
    expect(r.deviations).toEqual([{ kind: "tear", ordinal: 1, runs: [1, 3] }]);
  });
});
