import { DOMParser } from "linkedom";
import { describe, expect, it } from "vitest";
import { plotLogs, PLOT_KIND, type CrashPointCounts, type PlotSeries } from "./index.js";

/** A synthetic log of `n` entries: writes, a flush every 10th entry, a mark every 50th. */
function series(n: number): PlotSeries {
  const x = new Float64Array(n);
  const kinds = new Uint8Array(n);
  const offsets = new Float64Array(n);
  const lengths = new Float64Array(n);
  const flagsLo = new Uint32Array(n);
  const marks: { name: string; index: number }[] = [];
  for (let i = 0; i < n; i++) {
    x[i] = i;
    if (i % 50 === 0) {
      kinds[i] = PLOT_KIND.mark;
      marks.push({ name: `m${i}`, index: i });
    } else if (i % 10 === 0) {
      kinds[i] = PLOT_KIND.flush;
      flagsLo[i] = 1;
    } else {
      kinds[i] = PLOT_KIND.write;
      offsets[i] = (i * 7919 * 4096) % (64 << 20);
      lengths[i] = 4096;
    }
  }
  return { label: "test.log", count: n, x, kinds, offsets, lengths, flagsLo, marks };
}

function parse(svg: string) {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  return (sel: string) => [...doc.querySelectorAll(sel)];
}

describe("plotLogs with a crash row", () => {
  it("draws a bar per crash point: passed, failed and not judged stacked; the lost entries in their own colour", async () => {
    const s = series(200);
    s.lost = new Uint8Array(200);
    s.lost[13] = 1;
    s.lost[14] = 1;
    const points: CrashPointCounts[] = [];
    for (let p = 10; p <= 200; p += 10) if (p % 50 !== 0) points.push({ position: p, passed: p % 30 === 0 ? 0 : 5, failed: p === 20 || p === 30 ? 3 : 0, missing: p > 170 ? 2 : 0 });
    const r = await plotLogs([s], { width: 800, height: 240, crashes: { points } });
    const all = parse(r.svg);
    const passed = points.filter((p) => p.passed > 0).length;
    expect(all("g.crash_passed_marks path")).toHaveLength(passed);
    expect(all("g.crash_failed_marks path")).toHaveLength(2);
    expect(all("g.crash_missing_marks path")).toHaveLength(points.filter((p) => p.missing > 0).length);
    const missing = points.filter((p) => p.missing > 0).length;
    expect(missing).toBe(2);
    expect(r.drawn.crashes).toEqual({ passed, failed: 2, missing, passedStates: passed * 5, failedStates: 6, missingStates: 2 * missing });
    // The entries a failure loses: drawn in their own colour, on top of the writes; the legend names what is drawn.
    expect(r.drawn.lost).toBe(2);
    expect(all("g.entries_marks path").filter((p) => p.getAttribute("fill") === "#7f0000")).toHaveLength(2);
    const legend = all("g.role-legend-label text").map((t) => t.textContent);
    expect(legend).toEqual(expect.arrayContaining(["write", "lost in a failure", "flush", "mark", "passed", "failed", "not judged"]));
    expect(all("g.role-axis-title text").map((t) => t.textContent)).toContain("states");
    // The failed bar of point 30 stands on its passed states (0 here) and the one of point 20 on 5.
    const failedBars = all("g.crash_failed_marks path").map((p) => p.getAttribute("d")!);
    expect(new Set(failedBars).size).toBe(2);
  });

  it("sums crash points closer than a few pixels into the grid's columns", async () => {
    const s = series(20_000);
    const points: CrashPointCounts[] = [];
    for (let p = 10; p <= 20_000; p += 10) points.push({ position: p, passed: 3, failed: p % 1000 === 0 ? 1 : 0, missing: 0 });
    const r = await plotLogs([s], { width: 600, height: 200, crashes: { points } });
    expect(r.binned).toBe(true);
    const all = parse(r.svg);
    const bars = all("g.crash_passed_marks path");
    expect(bars.length).toBeLessThanOrEqual(200);
    expect(bars.length).toBeGreaterThan(150);
    expect(r.drawn.crashes!.passedStates).toBe(points.length * 3);
    expect(r.drawn.crashes!.failedStates).toBe(20);
    expect(all("g.crash_failed_marks path").length).toBe(r.drawn.crashes!.failed);
  });
});
