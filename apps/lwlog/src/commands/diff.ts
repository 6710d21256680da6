import { basename } from "node:path";
import type { Command } from "commander";
import type { Change, Hunk, LogDiff, LogScan, StateDiff, ImageProof } from "@lwlog/diff";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { humanBytes, renderTable, toJson } from "../format.js";
import { Output, palette } from "../io.js";
import { parseCount } from "../options.js";
import { resolvePath } from "../paths.js";

/** Options of `lwlog diff`. */
export interface DiffCommandOptions {
  epochs?: boolean;
  state?: boolean;
  stateAtMark?: string;
  images?: boolean;
  imagesDir?: string;
  base?: string;
  context?: number;
  brief?: boolean;
  json?: boolean;
  tail?: boolean;
  plot?: string;
  force?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("diff")
    .description("compare two logs: where their write streams part ways, and whether the disks they leave are the same")
    .argument("<a>", "the first log (file or device)")
    .argument("<b>", "the second log")
    .option("--epochs", "compare each flush epoch as a multiset: the order of writes between two flushes is ignored, the order across flushes is not")
    .option("--state", "also compare the disks the two logs leave at their end (from the logs, without writing images); the exit status then says whether the disks differ")
    .option("--state-at-mark <name>", "like --state, at the first mark of this name in each log (it must be in both)")
    .option("--images", "also replay both logs to image files and compare them byte by byte, to prove the --state result (implies --state)")
    .option("--images-dir <dir>", "keep the replayed images there as a.img and b.img (implies --images)")
    .option("--base <image>", "the image both disks start from (default: zeros)")
    .option("-U, --context <n>", "entries of context around each difference", parseCount("--context"), 3)
    .option("-q, --brief", "only say whether the logs (or, with --state, the disks) differ")
    .option("--plot <out.svg>", "also draw both logs on one time axis, differing entries highlighted, as an SVG")
    .option("-f, --force", "let --plot replace an existing file")
    .option("--tail", "also compare the valid entries past each superblock's declared count")
    .option("--json", "print one JSON document (schema in docs/cli.md)")
    .action(
      ctx.action((a: string, b: string, opts: DiffCommandOptions) =>
        runDiff(ctx, resolvePath(ctx.io, a), resolvePath(ctx.io, b), {
          ...opts,
          ...(opts.imagesDir !== undefined ? { imagesDir: resolvePath(ctx.io, opts.imagesDir) } : {}),
          ...(opts.base !== undefined ? { base: resolvePath(ctx.io, opts.base) } : {}),
          ...(opts.plot !== undefined ? { plot: resolvePath(ctx.io, opts.plot) } : {}),
        }),
      ),
    );
}

/**
 * `lwlog diff`: exit 0 when the logs (or, with a state option, the disks) are the same, 1
 * when they differ, 2 for a usage error or a log that cannot be read or compared (as diff(1)).
 */
export async function runDiff(ctx: CommandContext, pathA: string, pathB: string, opts: DiffCommandOptions): Promise<number> {
  if (opts.state && opts.stateAtMark !== undefined) throw new UsageError("give --state or --state-at-mark, not both");
  try {
    return await diffCommand(ctx, pathA, pathB, opts);
  } catch (err) {
    // diff(1) says 2 for "trouble": a log that cannot be read is not "different".
    const { LwlogError } = await import("@lwlog/codec/core");
    if (err instanceof LwlogError && !(err instanceof CommandFailure) && !(err instanceof UsageError)) {
      throw new CommandFailure(`${palette(ctx.io, ctx.io.stderr).red("error")}: ${err.describe()} [${err.code}]`, ExitCode.USAGE, err.code);
    }
    throw err;
  }
}

async function diffCommand(ctx: CommandContext, pathA: string, pathB: string, opts: DiffCommandOptions): Promise<number> {
  const { diffLogs, diffStates, entriesUntil, scanState, proveWithImages } = await import("@lwlog/diff");
  const images = opts.images === true || opts.imagesDir !== undefined;
  const wantState = opts.state === true || opts.stateAtMark !== undefined || images;
  // The picture's path is checked before the work (an existing file needs --force; a log or a directory is refused).
  const plotOut = opts.plot === undefined ? undefined : await (await import("./plot.js")).prepareOutput(opts.plot, opts.force, [pathA, pathB]);
  const diff = await diffLogs(pathA, pathB, { epochs: opts.epochs ?? false, tail: opts.tail ?? false });
  for (const s of [diff.a, diff.b]) noteUnreadTail(ctx, s);

  let state: StateDiff | undefined;
  let proof: ImageProof | undefined;
  if (wantState) {
    const ua = entriesUntil(diff.a, opts.stateAtMark);
    const ub = entriesUntil(diff.b, opts.stateAtMark);
    state = diffStates(diff.a, scanState(diff.a, ua), diff.b, scanState(diff.b, ub), opts.base !== undefined ? { base: opts.base } : {});
    if (images) {
      proof = await proveWithImages(diff.a, diff.b, state, {
        tail: opts.tail ?? false,
        ...(opts.imagesDir !== undefined ? { dir: opts.imagesDir } : {}),
        ...(opts.base !== undefined ? { base: opts.base } : {}),
      });
    }
  }

  if (plotOut !== undefined) {
    const { renderDiffPlot } = await import("./plot.js");
    await renderDiffPlot(diff, plotOut);
  }

  const at = opts.stateAtMark === undefined ? undefined : { mark: opts.stateAtMark };
  if (opts.json) {
    await writeJson(ctx, diff, state, proof, at);
  } else if (opts.brief) {
    const same = state ? state.identical : diff.identical;
    const what = state ? `the disks of ${pathA} and ${pathB}${at ? ` at mark ${JSON.stringify(at.mark)}` : ""}` : `${pathA} and ${pathB}`;
    ctx.io.stdout.write(`${what} ${same ? "are identical" : "differ"}\n`);
  } else {
    await report(ctx, diff, state, proof, at, opts.context ?? 3);
  }
  if (proof !== undefined && !proof.agree) {
    throw new CommandFailure(
      "the replayed images differ in other ranges than the interval maps said: this is a bug in lwlog, please report it with both logs",
      ExitCode.BUG,
      "LWLOG_STATE_MISMATCH",
    );
  }
  const same = state ? state.identical : diff.identical;
  return same ? ExitCode.OK : ExitCode.FAILED;
}

/** A note on stderr when a log has bytes past its declared entries that were not compared. */
function noteUnreadTail(ctx: CommandContext, s: LogScan): void {
  if (s.end.reason === "declared" && s.end.offset < s.fileSize) {
    ctx.io.stderr.write(`lwlog: note: ${s.path}: ${s.fileSize - s.end.offset} bytes after the ${s.count} declared entries were not compared (--tail compares the valid entries there)\n`);
  }
}

// ---------------------------------------------------------------------------------------
// Entries as JSON and as text.

const KIND_NAMES = ["write", "discard", "flush", "mark", "noop"] as const;

/** An entry of a scan, the way `diff --json` shows it (field names as `dump --json`). */
function entryJson(s: LogScan, i: number, names: Map<number, string>) {
  const S = s.sectorSize;
  const kind = KIND_NAMES[s.kinds[i]!]!;
  const flags = s.flags(i);
  const out: Record<string, unknown> = {
    index: i,
    kind,
    flags,
    flagNames: flagNames(flags),
    sector: s.offsets[i]! / S,
    nrSectors: s.lengths[i]! / S,
    byteOffset: s.offsets[i]!,
    byteLength: s.lengths[i]!,
  };
  if (kind === "mark") out.mark = names.get(i);
  if (kind === "write" || kind === "mark") out.xxh64 = hashOf(s, i);
  return out;
}

const FLAG_BITS: [string, bigint][] = [
  ["FLUSH", 1n],
  ["FUA", 2n],
  ["DISCARD", 4n],
  ["MARK", 8n],
  ["METADATA", 16n],
];

function flagNames(flags: bigint): string[] {
  const names = FLAG_BITS.filter(([, bit]) => (flags & bit) !== 0n).map(([n]) => n);
  const unknown = flags & ~0x1fn;
  if (unknown !== 0n) names.push(`UNKNOWN(0x${unknown.toString(16)})`);
  return names;
}

function hashOf(s: LogScan, i: number): string {
  return (s.hashes[2 * i + 1]! >>> 0).toString(16).padStart(8, "0") + (s.hashes[2 * i]! >>> 0).toString(16).padStart(8, "0");
}

function markNames(s: LogScan): Map<number, string> {
  return new Map(s.marks.map((m) => [m.index, m.name]));
}

/** One entry as a line of text: kind, place and length in bytes, flags, data hash or mark name. */
function entryText(s: LogScan, i: number, names: Map<number, string>, w: Widths): string {
  const kind = KIND_NAMES[s.kinds[i]!]!;
  // The flag that makes the kind goes without saying; the others are shown.
  const own = kind === "discard" ? 4n : kind === "flush" ? 1n : kind === "mark" ? 8n : 0n;
  const extra = s.flags(i) & ~own;
  const fl = extra === 0n ? "" : `  ${flagNames(extra).join("|")}`;
  if (kind === "mark") return `mark     ${JSON.stringify(shorten(names.get(i) ?? "", 60))}${fl}`;
  if (kind === "flush" && s.offsets[i] === 0) return `flush${fl}`;
  const where = `${kind.padEnd(8)} at ${String(s.offsets[i]!).padEnd(w.offset)}  len ${String(s.lengths[i]!)}`;
  if (kind !== "write") return `${where}${fl}`;
  return `${where.padEnd(where.length + w.length - String(s.lengths[i]!).length)}${fl}  xxh64 ${hashOf(s, i)}`;
}

/** Column widths of byte offsets and lengths, so that the entry lines line up. */
interface Widths {
  offset: number;
  length: number;
}

function widths(...scans: LogScan[]): Widths {
  let off = 0;
  let len = 0;
  for (const s of scans) {
    for (let i = 0; i < s.count; i++) {
      if (s.offsets[i]! > off) off = s.offsets[i]!;
      if (s.lengths[i]! > len) len = s.lengths[i]!;
    }
  }
  return { offset: String(off).length, length: String(len).length };
}

function shorten(t: string, n: number): string {
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

/** "FROM … TO": the marks around segment `k` (or around segments `k` to `last`, for a group of hunks that spans several). */
function segmentLabel(diff: LogDiff, k: number, last = k): string {
  const from = diff.segments[k]!.from;
  const to = diff.segments[last]!.to;
  return `${from ? shorten(from.name, 30) : "(start)"} … ${to ? shorten(to.name, 30) : "(end)"}`;
}

function changeJson(diff: LogDiff, c: Change, na: Map<number, string>, nb: Map<number, string>) {
  if (c.type === "changed") return { type: c.type, fields: c.fields, a: entryJson(diff.a, c.a, na), b: entryJson(diff.b, c.b, nb) };
  if (c.type === "removed") return { type: c.type, a: entryJson(diff.a, c.a, na), bPosition: c.bPos };
  return { type: c.type, b: entryJson(diff.b, c.b, nb), aPosition: c.aPos };
}

function logJson(s: LogScan) {
  return {
    path: s.path,
    sectorSize: s.sectorSize,
    entries: s.count,
    bytesWritten: s.bytesWritten(0, s.count),
    marks: s.marks.length,
    end: s.end.reason,
  };
}

/**
 * Writes the `diff --json` document (its schema is in docs/cli.md). The hunks are written one
 * at a time through `Output`, so a diff of two very different logs does not build its whole
 * document in memory first.
 */
async function writeJson(ctx: CommandContext, diff: LogDiff, state: StateDiff | undefined, proof: ImageProof | undefined, at: { mark: string } | undefined): Promise<void> {
  const { hunks: _none, state: stateJson, ...head } = diffJson(diff, state, proof, at);
  const out = new Output(ctx.io.stdout);
  const indent = (text: string, by: string) => text.replace(/\n/g, `\n${by}`);
  // `head` as JSON without its closing brace, then the hunks, then the state.
  await out.write(toJson(head).replace(/\n}$/, ""));
  await out.write(`,\n  "hunks": [`);
  const na = markNames(diff.a);
  const nb = markNames(diff.b);
  let first = true;
  for (const h of diff.hunks) {
    // The hunk's head, then its changes one at a time: a hunk of two very different logs
    // can hold a million changes, too many for one string.
    const head = { segment: h.segment, a: { start: h.a0, end: h.a1 }, b: { start: h.b0, end: h.b1 }, approximate: h.approximate, changes: [] };
    const [open, close] = indent(toJson(head), "    ").split("[]") as [string, string];
    let pending = out.write(`${first ? "" : ","}\n    ${open}[`);
    if (pending) await pending;
    let firstChange = true;
    for (const c of diff.changes(h)) {
      pending = out.write(`${firstChange ? "" : ","}\n        ${indent(toJson(changeJson(diff, c, na, nb)), "        ")}`);
      if (pending) await pending;
      firstChange = false;
    }
    pending = out.write(`${firstChange ? "" : "\n      "}]${close}`);
    if (pending) await pending;
    first = false;
  }
  await out.write(`${first ? "" : "\n  "}],\n  "state": ${indent(toJson(stateJson), "  ")}\n}\n`);
  await out.flush();
}

/** The `diff --json` document without its hunks (`writeJson` streams those). */
function diffJson(diff: LogDiff, state: StateDiff | undefined, proof: ImageProof | undefined, at: { mark: string } | undefined) {
  const na = markNames(diff.a);
  const nb = markNames(diff.b);
  const first = diff.firstDivergence();
  const t = diff.totals;
  return {
    identical: state ? state.identical : diff.identical,
    entriesIdentical: diff.identical,
    mode: diff.epochs ? "epochs" : "ordered",
    a: logJson(diff.a),
    b: logJson(diff.b),
    anchors: diff.anchors,
    firstDivergence: first === undefined ? null : changeJson(diff, first, na, nb),
    totals: t,
    hunks: undefined,
    segments: diff.segments.map((s, k) => ({
      index: k,
      from: s.from?.name ?? null,
      to: s.to?.name ?? null,
      a: { start: s.a.start, end: s.a.end, entries: s.a.end - s.a.start, bytesWritten: diff.a.bytesWritten(s.a.start, s.a.end) },
      b: { start: s.b.start, end: s.b.end, entries: s.b.end - s.b.start, bytesWritten: diff.b.bytesWritten(s.b.start, s.b.end) },
      changed: s.changed,
      removed: s.removed,
      added: s.added,
    })),
    state:
      state === undefined
        ? null
        : {
            at: at ?? "end",
            identical: state.identical,
            aEntries: state.aUntil,
            bEntries: state.bUntil,
            granularity: state.granularity,
            differingBytes: state.differingBytes,
            equalByHash: state.equalByHash,
            comparedByRead: state.comparedByRead,
            extent: state.extent,
            ranges: state.ranges,
            images: proof === undefined ? null : { agree: proof.agree, size: proof.size, ranges: proof.ranges.length, ...(proof.a ? { a: proof.a, b: proof.b } : {}) },
          },
  };
}

// ---------------------------------------------------------------------------------------
// The text report.

/** Display groups: hunks closer than twice the context are shown together. */
function groups(hunks: readonly Hunk[], context: number): Hunk[][] {
  const out: Hunk[][] = [];
  for (const h of hunks) {
    const g = out[out.length - 1];
    const last = g?.[g.length - 1];
    if (g !== undefined && last !== undefined && h.a0 - last.a1 <= 2 * context) g.push(h);
    else out.push([h]);
  }
  return out;
}

// Lines are awaited only when `Output` hands back a promise (the stream is full): an
// `await` on every line costs a microtask each, tens of milliseconds for thousands of lines.
async function report(ctx: CommandContext, diff: LogDiff, state: StateDiff | undefined, proof: ImageProof | undefined, at: { mark: string } | undefined, context: number): Promise<void> {
  const io = ctx.io;
  const c = palette(io);
  const out = new Output(io.stdout);
  const na = markNames(diff.a);
  const nb = markNames(diff.b);
  const w = widths(diff.a, diff.b);
  let pending: Promise<void> | undefined;
  const wa = String(Math.max(diff.a.count - 1, 0)).length;
  const wb = String(Math.max(diff.b.count - 1, 0)).length;
  const line = (mark: " " | "-" | "+", ia: number | undefined, ib: number | undefined, text: string, note = "") => {
    const body = `${mark} ${ia === undefined ? " ".repeat(wa) : String(ia).padStart(wa)} ${ib === undefined ? " ".repeat(wb) : String(ib).padStart(wb)}  ${text}${note}`;
    return out.line(mark === "-" ? c.red(body) : mark === "+" ? c.green(body) : body);
  };
  const head = (s: LogScan) => `${s.sectorSize}-byte sectors, ${s.count} entries, ${humanBytes(s.bytesWritten(0, s.count))} written, ${s.marks.length} marks`;
  if ((pending = out.line(c.bold(`--- ${diff.a.path}\t${head(diff.a)}`)))) await pending;
  if ((pending = out.line(c.bold(`+++ ${diff.b.path}\t${head(diff.b)}`)))) await pending;
  const first = diff.firstDivergence();
  if (first !== undefined && (pending = out.line(c.bold(`first divergence: ${describeChange(diff, first)}`)))) await pending;

  for (const g of groups(diff.hunks, context)) {
    const h0 = g[0]!;
    const hn = g[g.length - 1]!;
    const before = Math.min(context, h0.a0, h0.b0);
    const after = Math.min(context, diff.a.count - hn.a1, diff.b.count - hn.b1);
    const fa = h0.a0 - before;
    const fb = h0.b0 - before;
    const ta = hn.a1 + after;
    if ((pending = out.line(c.cyan(`@@ -${fa},${ta - fa} +${fb},${hn.b1 + after - fb} @@ ${segmentLabel(diff, h0.segment, hn.segment)}${g.some((h) => h.approximate) ? "  (too different to align within the budget: shown as removed, then added)" : ""}`)))) await pending;
    let pa = fa;
    let pb = fb;
    for (const h of g) {
      for (; pa < h.a0; pa++, pb++) if ((pending = line(" ", diff.entryA(pa), diff.entryB(pb), entryText(diff.a, diff.entryA(pa), na, w)))) await pending;
      for (const ch of diff.changes(h)) {
        if (ch.type !== "added") {
          if ((pending = line("-", ch.a, undefined, entryText(diff.a, ch.a, na, w)))) await pending;
        }
        if (ch.type !== "removed") {
          const note = ch.type === "changed" ? `   (changed: ${ch.fields.join(", ")})` : "";
          if ((pending = line("+", undefined, ch.b, entryText(diff.b, ch.b, nb, w), note))) await pending;
        }
      }
      pa = h.a1;
      pb = h.b1;
    }
    for (; pa < ta; pa++, pb++) if ((pending = line(" ", diff.entryA(pa), diff.entryB(pb), entryText(diff.a, diff.entryA(pa), na, w)))) await pending;
  }
  await out.flush();

  // Per-segment summary table.
  if (!diff.identical || diff.segments.length > 1) {
    const rows = diff.segments.map((s, k) => [
      segmentLabel(diff, k),
      String(s.a.end - s.a.start),
      String(s.b.end - s.b.start),
      humanBytes(diff.a.bytesWritten(s.a.start, s.a.end)),
      humanBytes(diff.b.bytesWritten(s.b.start, s.b.end)),
      String(s.changed),
      String(s.removed),
      String(s.added),
    ]);
    const shown = rows.length > 40 ? rows.filter((_, k) => diff.segments[k]!.changed + diff.segments[k]!.removed + diff.segments[k]!.added > 0) : rows;
    io.stdout.write("\n");
    io.stdout.write(renderTable(io, ["SEGMENT", "A ENTRIES", "B ENTRIES", "A BYTES", "B BYTES", "CHANGED", "REMOVED", "ADDED"], shown, ["left", "right", "right", "right", "right", "right", "right", "right"]));
    if (shown.length < rows.length) io.stdout.write(`(${rows.length - shown.length} of ${rows.length} segments without a difference not shown)\n`);
  }

  const t = diff.totals;
  const mode = diff.epochs ? " (flush epochs compared as multisets)" : "";
  io.stdout.write(
    diff.identical
      ? `${c.green("entries identical")}${mode}: ${diff.a.count} entries, ${diff.anchors.length} shared marks\n`
      : `${c.red("entries differ")}${mode}: ${t.changed} changed, ${t.removed} removed, ${t.added} added in ${t.hunks} hunks\n`,
  );
  if (state !== undefined) stateReport(ctx, state, proof, at);
}

function describeChange(diff: LogDiff, ch: Change): string {
  const a = basename(diff.a.path);
  const b = basename(diff.b.path);
  if (ch.type === "changed") return `entry ${ch.a} of ${a} and entry ${ch.b} of ${b} differ in ${ch.fields.join(", ")}`;
  if (ch.type === "removed") return `entry ${ch.a} of ${a} is not in ${b} (it would come before entry ${ch.bPos < diff.b.count ? diff.entryB(ch.bPos) : diff.b.count} there)`;
  return `entry ${ch.b} of ${b} is not in ${a} (it would come before entry ${ch.aPos < diff.a.count ? diff.entryA(ch.aPos) : diff.a.count} there)`;
}

function stateReport(ctx: CommandContext, s: StateDiff, proof: ImageProof | undefined, at: { mark: string } | undefined): void {
  const io = ctx.io;
  const c = palette(io);
  const where = at ? `at mark ${JSON.stringify(at.mark)} (entries 0..${s.aUntil - 1} of a, 0..${s.bUntil - 1} of b)` : "at the end";
  io.stdout.write("\n");
  if (s.identical) {
    io.stdout.write(`${c.green("disks identical")} ${where}: ${humanBytes(s.equalByHash)} equal by data hash, ${humanBytes(s.comparedByRead)} compared byte by byte\n`);
  } else {
    io.stdout.write(
      `${c.red("disks differ")} ${where}: ${humanBytes(s.differingBytes)} in ${s.ranges.length} ranges (${s.granularity}-byte blocks); ${humanBytes(s.equalByHash)} equal by data hash, ${humanBytes(s.comparedByRead)} compared byte by byte\n`,
    );
    const shown = s.ranges.slice(0, 50);
    const writers = (w: number[]) => w.map((x) => (x < 0 ? "base" : `#${x}`)).join(",");
    io.stdout.write(
      renderTable(
        io,
        ["BYTES (INCLUSIVE)", "LENGTH", "LAST WRITERS IN A", "LAST WRITERS IN B"],
        shown.map((r) => [`${r.start}-${r.end - 1}`, humanBytes(r.end - r.start), writers(r.a), writers(r.b)]),
        ["left", "right", "left", "left"],
      ),
    );
    if (s.ranges.length > shown.length) io.stdout.write(`(${s.ranges.length - shown.length} more ranges: --json lists them all)\n`);
  }
  if (proof !== undefined) {
    io.stdout.write(
      proof.agree
        ? `images: replayed both logs to ${humanBytes(proof.size)} images${proof.a ? ` (${proof.a}, ${proof.b})` : ""}; they differ in exactly these ${proof.ranges.length} ranges\n`
        : `${c.red("images disagree")}: the replayed images differ in ${proof.ranges.length} ranges, the interval maps said ${s.ranges.length}\n`,
    );
  }
}
