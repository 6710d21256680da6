import { join } from "node:path";
import { DOMParser } from "linkedom";
import { afterAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, randomBytes } from "@lwlog/testkit";
import { plotLogs, readPlotSeries, PLOT_KIND, type PlotSeries } from "./index.js";

const tmp = makeTempDir("lwlog-plot-");
afterAll(() => tmp.cleanup());

function parse(svg: string) {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  const all = (sel: string) => [...doc.querySelectorAll(sel)];
  const axis = (title: string) => {
    const a = all("g.role-axis").find((g) => [...g.querySelectorAll("g.role-axis-title text")].some((t) => t.textContent === title));
    expect(a, `an axis titled ${title}`).toBeDefined();
    return [...a!.querySelectorAll("g.role-axis-label text")].map((t) => Number(t.textContent!.replace(/,/g, "")));
  };
  return { doc, all, axis };
}

/** The x of a `<line transform="translate(x,y)">` rule, in pixels from the plot's left edge. */
const lineX = (el: { getAttribute(name: string): string | null }) => Number(/translate\(([-0-9.]+),/.exec(el.getAttribute("transform") ?? "")?.[1]);

describe("plotLogs on a real kernel log (ext4, 4 KiB sectors, 304 entries)", () => {
  const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;

  it("draws every write and discard, a rule per flush, FUA write and mark, and labels the marks", async () => {
    const s = await readPlotSeries(k.path, { label: "ext4-4k.log" });
    const r = await plotLogs([s], { width: 1000, height: 300 });
    expect(r.binned).toBe(false);
    const { all, axis } = parse(r.svg);
    const writes = k.entries - k.flag_counts.FLUSH! - k.flag_counts.MARK! - k.flag_counts.DISCARD!;
    expect(all("g.entries_marks path")).toHaveLength(writes + k.flag_counts.DISCARD!);
    expect(all("g.flushes_marks line")).toHaveLength(k.flag_counts.FLUSH!);
    // FUA writes: every FUA entry but the 13 split-off empty flushes that keep the FUA bit.
    let fuaWrites = 0;
    for (let i = 0; i < s.count; i++) if (s.kinds[i] === PLOT_KIND.write && (s.flagsLo[i]! & 2) !== 0) fuaWrites++;
    expect(fuaWrites).toBe(25);
    expect(all("g.fua_marks line")).toHaveLength(fuaWrites);
    const markLines = all("g.marks_marks line");
    expect(markLines).toHaveLength(k.marks.length);
    // Each mark's rule stands at its entry's place on the time axis.
    k.marks.forEach((m, j) => expect(lineX(markLines[j]!)).toBeCloseTo(((m.entry_index + 0.5) / k.entries) * 1000, 0));
    const labels = all("g.labels_marks text").map((t) => t.textContent);
    expect(labels.slice(0, 4)).toEqual(["mkfs", "files", "rm", "umount"]);
    // Axes: entries 0 … 304 across, 0 … 64 MiB up (the data device is 64 MiB and the
    // whole-device discard reaches its end).
    expect(r.xDomain).toEqual([0, k.entries]);
    expect(r.yDomain).toEqual([0, k.data_device_bytes / 2 ** 20]);
    const xs = axis("entry index");
    expect(xs[0]).toBe(0);
    expect(Math.max(...xs)).toBeLessThanOrEqual(k.entries);
    expect(Math.max(...xs)).toBeGreaterThan(k.entries - 50);
    const ys = axis("device offset (MiB)");
    expect(ys[0]).toBe(0);
    expect(Math.max(...ys)).toBeLessThanOrEqual(64);
    expect(Math.max(...ys)).toBeGreaterThanOrEqual(60);
  });
});

describe("plotLogs colours", () => {
  it("draws discards in their own colour, apart from writes, and keeps every bar inside the plot area", async () => {
    const k = kernelLogs().find((l) => l.file === "raw-512.log")!;
    const s = await readPlotSeries(k.path);
    const r = await plotLogs([s], { width: 1000, height: 300 });
    const { all } = parse(r.svg);
    const fills = all("g.entries_marks path").map((p) => p.getAttribute("fill"));
    let writes = 0;
    let discards = 0;
    for (let i = 0; i < s.count; i++) {
      if (s.kinds[i] === PLOT_KIND.write) writes++;
      if (s.kinds[i] === PLOT_KIND.discard) discards++;
    }
    expect(discards).toBe(k.flag_counts.DISCARD);
    expect(fills.filter((f) => f === "#4c78a8")).toHaveLength(writes);
    expect(fills.filter((f) => f === "#54a24b")).toHaveLength(discards);
    // A bar drawn taller than its write (the 2-pixel minimum) still ends inside the plot area.
    for (const p of all("g.entries_marks path")) {
      const [, y, h] = /^M[-0-9.e]+,([-0-9.e]+)h[-0-9.e]+v([-0-9.e]+)/.exec(p.getAttribute("d")!)!.map(Number);
      expect(Math.min(y!, y! + h!)).toBeGreaterThanOrEqual(-1e-6);
      expect(Math.max(y!, y! + h!)).toBeLessThanOrEqual(300 + 1e-6);
    }
  });
});

describe("plotLogs: 100 entries and a million", () => {
  it("draws a 100-entry log entry by entry, each bar as tall as its write", async () => {
    const path = join(tmp.path, "hundred.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    const pending: Promise<number>[] = [];
    // 16 KiB … 128 KiB writes in eight 128 KiB slots (1 MiB): all tall enough to measure.
    for (let i = 0; i < 90; i++) pending.push(w.write(BigInt((i % 8) * 256), randomBytes(16384 * (1 + (i % 8)), i + 1)));
    for (let i = 0; i < 9; i++) pending.push(w.flush());
    pending.push(w.mark("done"));
    await Promise.all(pending);
    await w.close();
    const r = await plotLogs([await readPlotSeries(path)], { width: 800, height: 200 });
    expect(r.binned).toBe(false);
    expect(r.yUnit).toBe("KiB");
    const { all } = parse(r.svg);
    const bars = all("g.entries_marks path");
    expect(bars).toHaveLength(90);
    // The 8-sector writes are 8 times as tall as the 1-sector ones (path "M x,y h w v h h -w Z").
    const heights = bars.map((b) => Number(/v([-0-9.]+)/.exec(b.getAttribute("d")!)![1]));
    expect(Math.max(...heights) / Math.min(...heights)).toBeCloseTo(8, 1);
    expect(all("g.flushes_marks line")).toHaveLength(9);
    expect(all("g.labels_marks text").map((t) => t.textContent)).toEqual(["done"]);
  });

  it("bins a million entries into a fixed grid and keeps the rules to one tick per column", async () => {
    const n = 1_000_000;
    const s: PlotSeries = {
      label: "a million",
      count: n,
      x: new Float64Array(n),
      kinds: new Uint8Array(n),
      offsets: new Float64Array(n),
      lengths: new Float64Array(n).fill(4096),
      flagsLo: new Uint32Array(n),
      marks: [],
    };
    const marks: { name: string; index: number }[] = [];
    for (let i = 0; i < n; i++) {
      s.x[i] = i;
      // A sequential stream that wraps every 250 000 writes (1 GiB), a flush every 64.
      s.offsets[i] = (i % 250_000) * 4096;
      if (i % 64 === 63) {
        s.kinds[i] = PLOT_KIND.flush;
        s.lengths[i] = 0;
        s.flagsLo[i] = 1;
      }
      if (i % 100_000 === 99_999) {
        s.kinds[i] = PLOT_KIND.mark;
        s.lengths[i] = 0;
        s.flagsLo[i] = 8;
        marks.push({ name: `m${i}`, index: i });
      }
    }
    s.marks = marks;
    const r = await plotLogs([s], { width: 900, height: 300, columns: 300, rows: 75 });
    expect(r.binned).toBe(true);
    expect(r.xDomain).toEqual([0, n]);
    expect(r.yUnit).toBe("MiB");
    const { all, axis } = parse(r.svg);
    const cells = all("g.cells_marks path");
    // A sequential stream touches about one row per column: far fewer cells than entries.
    expect(cells.length).toBeGreaterThan(300);
    expect(cells.length).toBeLessThanOrEqual(300 * 75);
    expect(cells.length).toBe(r.drawn.writes);
    const flushes = all("g.flushes_marks line");
    expect(flushes).toHaveLength(300);
    expect(all("g.marks_marks line")).toHaveLength(10);
    expect(Math.max(...axis("entry index"))).toBeLessThanOrEqual(n);
    expect(Math.max(...axis("device offset (MiB)"))).toBeLessThanOrEqual(1024);
  });
});

describe("plotLogs for a diff", () => {
  it("puts both logs on one time axis and draws differing entries in their own layer colour", async () => {
    const k = kernelLogs().find((l) => l.file === "xfs-512.log")!;
    const a = await readPlotSeries(k.path, { label: "a" });
    const b = await readPlotSeries(k.path, { label: "b" });
    b.differs = new Uint8Array(b.count);
    for (const i of [10, 11, 12]) b.differs[i] = 1;
    const r = await plotLogs([a, b], { width: 600, height: 150 });
    const { all } = parse(r.svg);
    expect(all("g.entries_marks")).toHaveLength(2);
    expect(r.drawn.differs).toBe([10, 11, 12].filter((i) => b.kinds[i] === PLOT_KIND.write || b.kinds[i] === PLOT_KIND.discard).length);
    expect(r.svg).toContain('fill="#e45756"');
    expect(all("g.role-title text").map((t) => t.textContent)).toEqual(expect.arrayContaining(["a", "b"]));
  });
});
