import { crashRow, type CrashRowDrawn, type CrashRowInput } from "./crash-row.js";
import { FLUSH_BIT, FUA_BIT, PLOT_KIND, type PlotSeries } from "./series.js";

/** Options of `plotLogs`. */
export interface PlotOptions {
  /** Width of the plot area in pixels (default 1000). */
  width?: number;
  /** Height of each log's plot area in pixels (default 320). */
  height?: number;
  /** Title over the picture. */
  title?: string;
  /** Title of the time axis (default `entry index`). */
  xTitle?: string;
  /** Draw every entry when the time axis has at most this many positions (default: one per pixel, `width`); else bin. */
  maxEntries?: number;
  /** Columns and rows of the grid binned entries are counted in (default width / 3 and height / 4). */
  columns?: number;
  rows?: number;
  /** Vertical rules per kind (flush, FUA, mark) drawn one per entry at most; past it, one per column (default 200). */
  maxRules?: number;
  /** Mark names written on the picture at most (default 40; the others keep their rule). */
  maxLabels?: number;
  /** A crash campaign's states under the log (one series): passed, failed and not judged at each crash point. */
  crashes?: CrashRowInput;
}

/** What was drawn, for callers and tests. */
export interface PlotResult {
  svg: string;
  /** True when entries were counted into a grid rather than drawn one by one. */
  binned: boolean;
  /** Time axis, in entries (positions). */
  xDomain: [number, number];
  /** Offset axis, in `yUnit`s. */
  yDomain: [number, number];
  yUnit: string;
  /** Bytes per `yUnit`. */
  yScale: number;
  /** Items of each layer (rectangles, rules, labels) over all series. */
  drawn: { writes: number; discards: number; differs: number; lost: number; flushes: number; fua: number; marks: number; labels: number; crashes?: CrashRowDrawn };
}

type Cat = "write" | "discard" | "differs" | "lost in a failure" | "flush" | "FUA" | "mark" | "passed" | "failed" | "not judged";
const CATS: Cat[] = ["write", "discard", "differs", "lost in a failure", "flush", "FUA", "mark", "passed", "failed", "not judged"];
const COLOURS = ["#4c78a8", "#54a24b", "#e45756", "#7f0000", "#b5b5b5", "#f58518", "#8a52a8", "#72b7b2", "#c62828", "#d9d9d9"];
const UNITS: [string, number][] = [
  ["TiB", 2 ** 40],
  ["GiB", 2 ** 30],
  ["MiB", 2 ** 20],
  ["KiB", 2 ** 10],
  ["B", 1],
];

/**
 * Draws one log, or two logs of a diff on one time axis, as an SVG picture of the write
 * pattern in the manner of seekwatcher and blktrace's iowatcher: time (entry index) across,
 * device offset up; each write a bar as tall as its length, discards in another colour,
 * flushes and FUA writes as vertical rules, marks as labelled rules, differing entries red.
 * A log with more entries than the picture has room for is binned into a grid whose cells
 * are shaded by how many entries touch them, so a million entries read as well as a hundred.
 *
 * The picture is a Vega-Lite specification rendered to SVG by Vega's headless renderer (no
 * browser, no canvas).
 */
export async function plotLogs(series: readonly PlotSeries[], options: PlotOptions = {}): Promise<PlotResult> {
  const width = options.width ?? 1000;
  const height = options.height ?? 320;
  const maxRules = options.maxRules ?? 200;
  const maxLabels = options.maxLabels ?? 40;
  let xMax = 1;
  let yMaxBytes = 0;
  for (const s of series) {
    for (let i = 0; i < s.count; i++) {
      if (s.x[i]! + 1 > xMax) xMax = s.x[i]! + 1;
      const k = s.kinds[i];
      if ((k === PLOT_KIND.write || k === PLOT_KIND.discard) && s.offsets[i]! + s.lengths[i]! > yMaxBytes) yMaxBytes = s.offsets[i]! + s.lengths[i]!;
    }
  }
  const [yUnit, yScale] = UNITS.find(([, v]) => yMaxBytes >= 2 * v) ?? ["B", 1];
  const yMax = Math.max(yMaxBytes / yScale, 1);
  const binned = xMax > (options.maxEntries ?? width);
  const columns = binned ? Math.max(1, Math.min(options.columns ?? Math.floor(width / 3), Math.ceil(xMax))) : 0;
  const rows = Math.max(1, options.rows ?? Math.floor(height / 4));
  const colWidth = binned ? xMax / columns : 1;
  const drawn: PlotResult["drawn"] = { writes: 0, discards: 0, differs: 0, lost: 0, flushes: 0, fua: 0, marks: 0, labels: 0 };

  const present = new Set<Cat>();
  const colour = {
    field: "cat",
    type: "nominal",
    scale: { domain: CATS, range: COLOURS },
    legend: { title: null, orient: "top", direction: "horizontal", symbolType: "square", symbolOpacity: 1 },
  };
  const xEnc = { field: "x", type: "quantitative", scale: { domain: [0, xMax], nice: false, zero: true }, title: options.xTitle ?? "entry index" };
  const yEnc = { field: "y", type: "quantitative", scale: { domain: [0, yMax], nice: false, zero: true }, title: `device offset (${yUnit})` };

  let firstMarks: Rule[] | undefined;
  const rowSpecs = series.map((s) => {
    const bars = binned ? binnedBars(s, columns, rows, colWidth, yMax * yScale, yScale) : entryBars(s, yScale, (2 * yMax) / height, yMax);
    for (const b of bars) {
      drawn[b.cat === "write" ? "writes" : b.cat === "discard" ? "discards" : b.cat === "differs" ? "differs" : "lost"] += 1;
      present.add(b.cat);
    }
    const flushes = ruleXs(s, (i) => (s.flagsLo[i]! & FLUSH_BIT) !== 0, maxRules, colWidth, binned);
    const fua = ruleXs(s, (i) => s.kinds[i] === PLOT_KIND.write && (s.flagsLo[i]! & FUA_BIT) !== 0, maxRules, colWidth, binned);
    const markXs = ruleXs(s, (i) => s.kinds[i] === PLOT_KIND.mark, maxRules, colWidth, binned);
    const labels = thinLabels(s, maxLabels, width / xMax);
    if (flushes.length > 0) present.add("flush");
    if (fua.length > 0) present.add("FUA");
    if (markXs.length > 0) present.add("mark");
    drawn.flushes += flushes.length;
    drawn.fua += fua.length;
    drawn.marks += markXs.length;
    drawn.labels += labels.length;
    firstMarks ??= markXs;
    const layer: unknown[] = [
      {
        name: binned ? "cells" : "entries",
        data: { values: bars },
        mark: { type: "rect", ...(binned ? {} : { stroke: null }) },
        encoding: {
          x: xEnc,
          x2: { field: "x2" },
          y: yEnc,
          y2: { field: "y2" },
          color: colour,
          ...(binned ? { opacity: { field: "n", type: "quantitative", scale: { type: "log", range: [0.5, 1] }, legend: null } } : {}),
        },
      },
      ruleLayer("flushes", flushes, "flush", xEnc, { strokeWidth: 1 }),
      ruleLayer("fua", fua, "FUA", xEnc, { strokeWidth: 1, strokeDash: [3, 2] }),
      ruleLayer("marks", markXs, "mark", xEnc, { strokeWidth: 1.5 }),
      // Labels twice: a white outline under the text keeps it readable over dense cells.
      labelLayer("halos", labels, xEnc, { stroke: "white", strokeWidth: 3, strokeOpacity: 0.85, color: "white" }),
      labelLayer("labels", labels, xEnc, { color: COLOURS[CATS.indexOf("mark")] }),
    ];
    return { title: { text: s.label, anchor: "start", fontSize: 12 }, width, height, layer };
  });

  if (options.crashes !== undefined) {
    const row = crashRow(options.crashes, { width, height, xMax, xEnc, colour, columns: binned ? columns : Math.floor(width / 3), ...(firstMarks !== undefined ? { marks: firstMarks } : {}) });
    rowSpecs.push(row.spec as (typeof rowSpecs)[number]);
    for (const c of row.cats) present.add(c);
    drawn.crashes = row.drawn;
  }

  // The legend lists only what the picture shows.
  const shown = CATS.filter((c) => present.has(c));
  colour.scale.domain = shown.length > 0 ? shown : ["write"];
  colour.scale.range = (shown.length > 0 ? shown : ["write" as Cat]).map((c) => COLOURS[CATS.indexOf(c)]!);
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(options.title ? { title: { text: options.title, anchor: "start" } } : {}),
    background: "white",
    config: { aria: false, view: { stroke: "#ccc" }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { symbolOpacity: 1, labelFontSize: 11 } },
    vconcat: rowSpecs,
    // A crash row counts states, not bytes: its y axis is its own.
    resolve: { scale: { x: "shared", y: options.crashes !== undefined ? "independent" : "shared", color: "shared" } },
  };
  const [{ compile }, vega] = await Promise.all([import("vega-lite"), import("vega")]);
  const compiled = compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return { svg, binned, xDomain: [0, xMax], yDomain: [0, yMax], yUnit, yScale, drawn };
}

interface Bar {
  x: number;
  x2: number;
  y: number;
  y2: number;
  cat: Cat;
  n?: number;
}

/**
 * One bar per write and discard: as wide as one position, as tall as its length (at least
 * `minH` units); a bar the minimum made taller than its write is moved down to end at `yMax`.
 */
function entryBars(s: PlotSeries, yScale: number, minH: number, yMax: number): Bar[] {
  const out: Bar[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = s.kinds[i];
    if (k !== PLOT_KIND.write && k !== PLOT_KIND.discard) continue;
    const h = Math.max(s.lengths[i]! / yScale, minH);
    const y = Math.max(0, Math.min(s.offsets[i]! / yScale, yMax - h));
    const cat: Cat = s.differs?.[i] ? "differs" : s.lost?.[i] ? "lost in a failure" : k === PLOT_KIND.write ? "write" : "discard";
    out.push({ x: s.x[i]!, x2: s.x[i]! + 1, y, y2: y + h, cat });
  }
  // Differing (and lost) entries last, so that they are drawn on top.
  const top = (b: Bar) => Number(b.cat === "differs" || b.cat === "lost in a failure");
  return out.sort((p, q) => top(p) - top(q));
}

/**
 * Entries counted into a `columns` × `rows` grid, per category: each write or discard adds
 * one to every cell of its column that its byte range touches (a difference array per
 * column, so a whole-device discard costs O(1), not O(rows)).
 */
function binnedBars(s: PlotSeries, columns: number, rows: number, colWidth: number, yMaxBytes: number, yScale: number): Bar[] {
  const cats: Cat[] = ["write", "discard", "differs", "lost in a failure"];
  const grids = cats.map(() => new Int32Array(columns * (rows + 1)));
  const rowBytes = yMaxBytes / rows;
  for (let i = 0; i < s.count; i++) {
    const k = s.kinds[i];
    if (k !== PLOT_KIND.write && k !== PLOT_KIND.discard) continue;
    const c = Math.min(columns - 1, Math.floor(s.x[i]! / colWidth));
    const r0 = Math.min(rows - 1, Math.floor(s.offsets[i]! / rowBytes));
    const r1 = Math.min(rows - 1, Math.max(r0, Math.ceil((s.offsets[i]! + s.lengths[i]!) / rowBytes) - 1));
    const g = grids[s.differs?.[i] ? 2 : s.lost?.[i] ? 3 : k === PLOT_KIND.write ? 0 : 1]!;
    g[c * (rows + 1) + r0]! += 1;
    g[c * (rows + 1) + r1 + 1]! -= 1;
  }
  const out: Bar[] = [];
  const cellH = yMaxBytes / rows;
  grids.forEach((g, gi) => {
    for (let c = 0; c < columns; c++) {
      let n = 0;
      for (let r = 0; r < rows; r++) {
        n += g[c * (rows + 1) + r]!;
        if (n > 0) out.push({ x: c * colWidth, x2: (c + 1) * colWidth, y: (r * cellH) / yScale, y2: ((r + 1) * cellH) / yScale, cat: cats[gi]!, n });
      }
    }
  });
  return out;
}

/** A vertical rule at `x`; `short` rules are ticks along the top edge (a rug) instead of the full height. */
interface Rule {
  x: number;
  short?: boolean;
}

/**
 * The rules for the entries `pick` selects: one per entry, or, past `max` in a binned
 * picture, one short tick per grid column that has any (full-height rules every few pixels
 * would hide the writes).
 */
function ruleXs(s: PlotSeries, pick: (i: number) => boolean, max: number, colWidth: number, binned: boolean): Rule[] {
  const xs: number[] = [];
  for (let i = 0; i < s.count; i++) if (pick(i)) xs.push(s.x[i]! + 0.5);
  if (xs.length <= max || !binned) return xs.map((x) => ({ x }));
  const cols = new Set(xs.map((x) => Math.floor(x / colWidth)));
  return [...cols].map((c) => ({ x: (c + 0.5) * colWidth, short: true }));
}

function ruleLayer(name: string, values: Rule[], cat: Cat, xEnc: object, mark: object): object {
  const short = values.length > 0 && values[0]!.short === true;
  return {
    name,
    data: { values },
    mark: { type: "rule", ...mark },
    encoding: { x: xEnc, color: { datum: cat, type: "nominal" }, ...(short ? { y: { value: 0 }, y2: { value: 10 } } : {}) },
  };
}

function labelLayer(name: string, values: { x: number; t: string }[], xEnc: object, style: object): object {
  return {
    name,
    data: { values },
    mark: { type: "text", angle: 270, align: "right", baseline: "bottom", dx: -3, dy: -2, fontSize: 10, ...style },
    encoding: { x: xEnc, y: { value: 0 }, text: { field: "t", type: "nominal" } },
  };
}

/**
 * Mark labels that do not overlap: in time order, a label is kept when it is at least a
 * line's height (12 px) right of the last one kept, and at most `max` are kept.
 */
function thinLabels(s: PlotSeries, max: number, pxPerX: number): { x: number; t: string }[] {
  const out: { x: number; t: string }[] = [];
  let last = -Infinity;
  const step = Math.max(12, (s.count * pxPerX) / max);
  for (const m of s.marks) {
    const x = s.x[m.index]! + 0.5;
    if (x * pxPerX - last < step) continue;
    out.push({ x, t: shorten(m.name, 32) });
    last = x * pxPerX;
  }
  return out;
}

function shorten(t: string, n: number): string {
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}
