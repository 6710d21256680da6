/** The states judged at one crash point of a crash campaign. */
export interface CrashPointCounts {
  /** The crash point: the crash comes before this entry (drawn at the boundary between entries `position - 1` and `position`). */
  position: number;
  passed: number;
  failed: number;
  /** Planned states not judged (yet): a missing job, an interrupted run. */
  missing: number;
}

/** The crash row under a log's picture (`PlotOptions.crashes`). */
export interface CrashRowInput {
  points: readonly CrashPointCounts[];
  /** The row's title (default `crash states`). */
  label?: string;
}

/** What the crash row drew. */
export interface CrashRowDrawn {
  /** Bars drawn per kind (one per crash point, or per column when binned). */
  passed: number;
  failed: number;
  missing: number;
  /** States counted in those bars. */
  passedStates: number;
  failedStates: number;
  missingStates: number;
}

type CrashCat = "passed" | "failed" | "not judged";

interface CrashBar {
  x: number;
  x2: number;
  y: number;
  y2: number;
  cat: CrashCat;
  n: number;
}

/**
 * The crash row of a picture: at each crash point, a bar as tall as its states, stacked
 * passed (bottom), failed, not judged, on the log's time axis. Points closer than a few pixels
 * are summed into the grid's columns (the log row's columns when it is binned), so a campaign
 * of a hundred thousand crash points reads as well as one of ten.
 */
export function crashRow(
  input: CrashRowInput,
  frame: { width: number; height: number; xMax: number; xEnc: object; colour: object; columns: number; marks?: readonly { x: number; short?: boolean }[] },
): { spec: object; cats: Set<CrashCat>; drawn: CrashRowDrawn } {
  const pxPerX = frame.width / frame.xMax;
  // One bar per point while they are at least 3 px apart on average; else summed per column.
  const columns = input.points.length * 3 <= frame.width ? 0 : Math.max(1, frame.columns);
  const colWidth = columns > 0 ? frame.xMax / columns : 0;
  const groups = new Map<number, { x: number; x2: number; passed: number; failed: number; missing: number }>();
  const half = Math.max(0.5, 1 / pxPerX);
  for (const p of input.points) {
    const c = columns > 0 ? Math.min(columns - 1, Math.floor(p.position / colWidth)) : p.position;
    let g = groups.get(c);
    if (g === undefined) {
      g = columns > 0 ? { x: c * colWidth, x2: (c + 1) * colWidth, passed: 0, failed: 0, missing: 0 } : { x: Math.max(0, p.position - half), x2: Math.min(frame.xMax, p.position + half), passed: 0, failed: 0, missing: 0 };
      groups.set(c, g);
    }
    g.passed += p.passed;
    g.failed += p.failed;
    g.missing += p.missing;
  }
  const bars: CrashBar[] = [];
  const drawn: CrashRowDrawn = { passed: 0, failed: 0, missing: 0, passedStates: 0, failedStates: 0, missingStates: 0 };
  let yMax = 1;
  for (const g of [...groups.values()].sort((a, b) => a.x - b.x)) {
    let y = 0;
    for (const [cat, n, key] of [
      ["passed", g.passed, "passed"],
      ["failed", g.failed, "failed"],
      ["not judged", g.missing, "missing"],
    ] as const) {
      if (n === 0) continue;
      bars.push({ x: g.x, x2: g.x2, y, y2: y + n, cat, n });
      y += n;
      drawn[key] += 1;
      drawn[`${key}States`] += n;
    }
    if (y > yMax) yMax = y;
  }
  const cats = new Set(bars.map((b) => b.cat));
  const yEnc = { field: "y", type: "quantitative", scale: { domain: [0, yMax], nice: false, zero: true }, axis: { tickMinStep: 1, format: "d" }, title: "states" };
  const layer: object[] = (["passed", "failed", "not judged"] as const).map((cat) => ({
    name: cat === "not judged" ? "crash_missing" : `crash_${cat}`,
    data: { values: bars.filter((b) => b.cat === cat) },
    mark: { type: "rect", stroke: null },
    encoding: { x: frame.xEnc, x2: { field: "x2" }, y: yEnc, y2: { field: "y2" }, color: frame.colour, tooltip: { field: "n", type: "quantitative" } },
  }));
  // The log's marks again, as thin rules: where each crash point lies in the workload.
  if (frame.marks !== undefined && frame.marks.length > 0) {
    layer.push({ name: "crash_marks", data: { values: frame.marks.map((m) => ({ x: m.x })) }, mark: { type: "rule", strokeWidth: 1, strokeDash: [2, 2] }, encoding: { x: frame.xEnc, color: { datum: "mark", type: "nominal" } } });
  }
  return { spec: { title: { text: input.label ?? "crash states", anchor: "start", fontSize: 12 }, width: frame.width, height: Math.max(60, Math.round(frame.height / 2)), layer }, cats, drawn };
}
