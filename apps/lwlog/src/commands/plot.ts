import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import type { Command } from "commander";
import { ioError } from "@lwlog/codec/core";
import type { AtomicOutput } from "@lwlog/convert/core";
import type { LogDiff } from "@lwlog/diff";
import type { PlotOptions, PlotResult, PlotSeries } from "@lwlog/plot";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { toJson } from "../format.js";
import { parsePositive } from "../options.js";
import { resolvePath } from "../paths.js";

/** Options of `lwlog plot`. */
export interface PlotCommandOptions {
  output: string;
  width?: number;
  height?: number;
  title?: string;
  tail?: boolean;
  force?: boolean;
  json?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("plot")
    .description("draw a log's write pattern as an SVG: entry index across, device offset up, flushes, FUA and marks as rules")
    .argument("<log>", "the log file (or device)")
    .requiredOption("-o, --output <file.svg>", "where to write the SVG (- for stdout)")
    .option("--width <px>", "width of the plot area in pixels", parsePositive("--width"), 1000)
    .option("--height <px>", "height of the plot area in pixels", parsePositive("--height"), 320)
    .option("--title <text>", "title over the picture (default: lwlog plot NAME)")
    .option("--tail", "also draw the valid entries past the superblock's declared count")
    .option("-f, --force", "replace an existing output file")
    .option("--json", "print what was drawn as JSON (the SVG still goes to --output)")
    .action(ctx.action((log: string, opts: PlotCommandOptions) => runPlot(ctx, resolvePath(ctx.io, log), { ...opts, output: opts.output === "-" ? "-" : resolvePath(ctx.io, opts.output) })));
}

/** `lwlog plot`: renders the picture and writes it atomically (or to stdout). */
export async function runPlot(ctx: CommandContext, path: string, opts: PlotCommandOptions): Promise<number> {
  if (opts.output === "-" && opts.json) throw new UsageError("--json and --output - both want stdout: give a file to --output");
  const out = opts.output === "-" ? undefined : await prepareOutput(opts.output, opts.force, [path]);
  const { readPlotSeries, plotLogs } = await import("@lwlog/plot");
  const series = await readPlotSeries(path, { tail: opts.tail ?? false, label: basename(path) });
  const result = await plotLogs([series], plotOptions(opts, `lwlog plot ${basename(path)}`));
  if (out === undefined) ctx.io.stdout.write(result.svg + "\n");
  else await writeOutput(out, result.svg);
  if (opts.json) {
    ctx.io.stdout.write(toJson(summary(opts.output, result, [series])) + "\n");
  } else if (opts.output !== "-") {
    ctx.io.stdout.write(`${opts.output}: ${describe(result, [series])}\n`);
  }
  return 0;
}

/**
 * Checks the picture's path before any work (see `AtomicOutput.prepare`: an existing file
 * needs `force`; an input, a directory or a socket is refused even with it).
 */
export async function prepareOutput(path: string, force: boolean | undefined, inputs: string[]): Promise<AtomicOutput> {
  const { AtomicOutput } = await import("@lwlog/convert/core");
  return AtomicOutput.prepare(path, { overwrite: force ?? false, inputs });
}

/** `lwlog diff --plot`: both logs on one time axis (the alignment), differing entries highlighted. */
export async function renderDiffPlot(diff: LogDiff, output: AtomicOutput, options: PlotOptions = {}): Promise<PlotResult> {
  const { plotLogs } = await import("@lwlog/plot");
  const [sa, sb] = diffSeries(diff);
  const result = await plotLogs([sa, sb], {
    title: `lwlog diff ${basename(diff.a.path)} ${basename(diff.b.path)}${diff.epochs ? " (flush epochs as multisets)" : ""}`,
    xTitle: "aligned position (time)",
    height: 240,
    ...options,
  });
  await writeOutput(output, result.svg);
  return result;
}

/**
 * The two logs of a diff as plot series on one time axis: equal entries share a position,
 * a changed pair shares one, removed and added entries get their own; every entry of a
 * hunk is marked as differing.
 */
export function diffSeries(diff: LogDiff): [PlotSeries, PlotSeries] {
  const xa = new Float64Array(diff.a.count);
  const xb = new Float64Array(diff.b.count);
  const da = new Uint8Array(diff.a.count);
  const db = new Uint8Array(diff.b.count);
  let x = 0;
  let pa = 0;
  let pb = 0;
  const equalUntil = (ea: number) => {
    for (; pa < ea; pa++, pb++, x++) {
      xa[diff.entryA(pa)] = x;
      xb[diff.entryB(pb)] = x;
    }
  };
  for (const h of diff.hunks) {
    equalUntil(h.a0);
    for (const c of diff.changes(h)) {
      if (c.type !== "added") {
        xa[c.a] = x;
        da[c.a] = 1;
      }
      if (c.type !== "removed") {
        xb[c.b] = x;
        db[c.b] = 1;
      }
      x += 1;
    }
    pa = h.a1;
    pb = h.b1;
  }
  equalUntil(diff.a.count);
  const series = (s: LogDiff["a"], xs: Float64Array, differs: Uint8Array): PlotSeries => ({
    label: `${s === diff.a ? "a" : "b"}: ${basename(s.path)}`,
    count: s.count,
    x: xs,
    kinds: s.kinds,
    offsets: s.offsets,
    lengths: s.lengths,
    flagsLo: s.flagsLo,
    differs,
    marks: s.marks,
  });
  return [series(diff.a, xa, da), series(diff.b, xb, db)];
}

function plotOptions(opts: PlotCommandOptions, title: string): PlotOptions {
  return { width: opts.width ?? 1000, height: opts.height ?? 320, title: opts.title ?? title };
}

function describe(r: PlotResult, series: PlotSeries[]): string {
  const n = series.reduce((k, s) => k + s.count, 0);
  const what = r.binned ? `binned into cells (${r.drawn.writes + r.drawn.discards + r.drawn.differs} drawn)` : `${r.drawn.writes} writes, ${r.drawn.discards} discards drawn`;
  return `${n} entries, ${what}, ${r.drawn.flushes} flush and ${r.drawn.fua} FUA rules, ${r.drawn.marks} marks (${r.drawn.labels} labelled); offsets 0 … ${round(r.yDomain[1])} ${r.yUnit}`;
}

function summary(output: string, r: PlotResult, series: PlotSeries[]) {
  return {
    output,
    entries: series.reduce((k, s) => k + s.count, 0),
    binned: r.binned,
    xDomain: r.xDomain,
    yDomain: r.yDomain,
    yUnit: r.yUnit,
    drawn: r.drawn,
    bytes: Buffer.byteLength(r.svg),
  };
}

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/** Writes the picture through the output's temporary file, then puts it in place: never a half-written picture. */
async function writeOutput(out: AtomicOutput, svg: string): Promise<void> {
  try {
    writeFileSync(out.temp, svg, { flag: "wx" });
  } catch (err) {
    out.abort();
    throw ioError(err, out.target, "write the picture");
  }
  await out.commit();
}
