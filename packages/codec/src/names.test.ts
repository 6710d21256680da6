import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { editDistance, MarkNames, missingMarkHint, nearestNames } from "./names.js";

/** The textbook dynamic programme, for comparison. */
function reference(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions and swaps of neighbours", () => {
    expect(editDistance("renamd", "rename")).toBe(1);
    expect(editDistance("fiels", "files")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("mkfs", "mkfs")).toBe(0);
    expect(editDistance("umount", "mount")).toBe(1);
  });

  it("equals the full computation, and stops at the limit without changing a result within it (seeded)", () => {
    const word = fc.string({ unit: fc.constantFrom("a", "b", "c", "-"), maxLength: 12 });
    fc.assert(
      fc.property(word, word, fc.integer({ min: 0, max: 6 }), (a, b, limit) => {
        const full = reference(a, b);
        expect(editDistance(a, b)).toBe(full);
        expect(editDistance(a, b, limit)).toBe(full <= limit ? full : limit + 1);
      }),
      { seed: 11, numRuns: 2000 },
    );
  });
});

describe("nearestNames", () => {
  const marks = ["start", "buffered-1M", "direct-small", "discard-256K", "fua-8K", "direct-2M", "rename", "dm-log-writes-end"];

  it("suggests the near names, best first, case ignored, then names containing what was typed", () => {
    expect(nearestNames("renamd", marks)).toEqual(["rename"]);
    expect(nearestNames("Start", marks)).toEqual(["start"]);
    expect(nearestNames("direct-2m", marks)).toEqual(["direct-2M"]);
    expect(nearestNames("direct", marks)).toEqual(["direct-2M", "direct-small"]);
    expect(nearestNames("xyzzy", marks)).toEqual([]);
    expect(nearestNames("rename", marks)).toEqual([]);
  });

  it("a short typo is not matched to everything short", () => {
    expect(nearestNames("rm", ["mkfs", "files", "rm2", "umount"])).toEqual(["rm2"]);
    expect(nearestNames("ab", ["xy", "cd"])).toEqual([]);
  });
});

describe("missingMarkHint", () => {
  it("suggests and lists a few marks in log order, once each", () => {
    expect(missingMarkHint("fiels", ["mkfs", "files", "rm", "files"])).toBe(`; did you mean "files"? (the log has 3 marks: "mkfs", "files", "rm")`);
    expect(missingMarkHint("zzz", ["one"])).toBe(` (the log has 1 mark: "one")`);
    expect(missingMarkHint("x", [])).toBe("; the log has no marks");
  });

  it("past six marks it lists the first six and points to lwlog marks; long names are cut", () => {
    const many = Array.from({ length: 20 }, (_, i) => `m${i}-${"L".repeat(i === 0 ? 60 : 1)}`);
    const hint = missingMarkHint("m7-x", many);
    expect(hint).toMatch(/^; did you mean "m7-L"/);
    expect(hint).toContain(`(the log has 20 marks: "m0-${"L".repeat(37)}…", "m1-L", "m2-L", "m3-L", "m4-L", "m5-L", …; lwlog marks lists them all)`);
  });
});

describe("MarkNames", () => {
  it("keeps distinct names in log order, and says when it had to leave some out", () => {
    const few = new MarkNames();
    for (const n of ["mkfs", "files", "mkfs"]) few.add(n);
    expect(few.hint("fils")).toBe(`; did you mean "files"? (the log has 2 marks: "mkfs", "files")`);
    const many = new MarkNames();
    for (let i = 0; i < 300; i++) many.add(`${i}-${"x".repeat(4000)}`);
    expect(many.more).toBe(true);
    expect(many.hint("nope")).toMatch(/ \(the log has more than 261 marks: "0-x{38}…", .*, …; lwlog marks lists them all\)$/);
  });
});
