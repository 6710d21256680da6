import { Option, type Command } from "commander";
import type { CrashLog, CrashPlan, CrashReport, PersistedWindow, Pipeline, PlannedPoint, PointRule, StateRecord, ViewMaker } from "@lwlog/crash";
import { LogFormatError, LwlogError } from "@lwlog/codec/errors";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { toJson } from "../format.js";
import { Output, palette } from "../io.js";
import { parseChoice, parseCount, parsePositive, parseSize } from "../options.js";
import { resolvePath } from "../paths.js";
import { startProgress, type Progress } from "../progress.js";
import { registerCampaign } from "./crashes-campaign.js";
import { planLines, reportJson, reportText, type RunFacts } from "./crashes-report.js";

/** Options of `lwlog crashes`. */
export interface CrashesCommandOptions {
  points?: PointRule[];
  fromMark?: string;
  untilMark?: string;
  tail?: boolean;
  torn?: boolean;
  maxExhaustive?: number;
  samples?: number;
  seed?: number;
  size?: number | "auto";
  fs?: "ext4" | "xfs" | "btrfs" | "auto";
  exec?: string;
  persisted?: string;
  minimise?: number;
  state?: string;
  to?: string;
  force?: boolean;
  scratch?: string;
  view?: "reflink" | "overlay" | "copy" | "auto";
  dryRun?: boolean;
  json?: boolean;
  ndjson?: boolean;
  quiet?: boolean;
  /** The log as the command line gave it (for the commands the report suggests). */
  logArg?: string;
  /** Write a campaign plan to this directory instead of judging (crashes-campaign.ts). */
  plan?: string;
  jobsCount?: number;
  /** Judge with this many worker processes (crashes-parallel.ts). */
  parallel?: number;
}

export function register(program: Command, ctx: CommandContext): void {
  const command = program
    .command("crashes")
    .description("check the states a power cut could leave: the durable prefix plus any subset of the writes since the last flush, at each crash point")
    .argument("<log>", "the log file (or device)")
    .option("--points <rules>", "crash points: flush (before each FLUSH entry, the default), fua (after each FUA write), mark (after each mark), every:N, all; comma-separated", parsePoints)
    .option("--from-mark <name>", "only crash points after the first mark of this name (e.g. the end of mkfs)")
    .option("--until-mark <name>", "only crash points up to the first mark of this name after the start")
    .option("--tail", "also use the valid entries past the superblock's declared count")
    .option("--torn", "also tear multi-sector writes: a kept write may hold only some of its sectors")
    .addOption(new Option("--max-exhaustive <n>", "a crash point with at most N states gets every one; one with more gets N, sampled").default(1024).argParser(parsePositive("--max-exhaustive")))
    .option("--samples <n>", "the whole run's budget of states, spread over the crash points (the prefix state of each first)", parsePositive("--samples"))
    .addOption(new Option("--seed <s>", "seed of the sampling (same seed, same states)").default(1).argParser(parseSeed))
    .option("--size <bytes|auto>", "size of the disk the states are built on (default auto: the log's highest byte)", parseTargetSize)
    .option("--fs <type>", "judge each state as a kernel would find it: recovery (ext4 journal replay with e2fsck; xfs and btrfs: mount and unmount through a loop device, as root), then the read-only check (e2fsck -fn, xfs_repair -n, btrfs check --readonly); auto: from the superblock", parseChoice("--fs", ["ext4", "xfs", "btrfs", "auto"] as const))
    .option("--exec <cmd>", "judge each state with this command, run by sh on a scratch copy-on-write view: {image} is the view's file, {nbd} an NBD URI of it; env LWLOG_ENTRY, LWLOG_MARK, LWLOG_STATE, LWLOG_LOG, LWLOG_IMAGE; exit status 0 passes")
    .option("--persisted <file>", "the data judge: lines MARK: PATH (fsynced: dir/a.txt); in every state after that mark and up to the next, the file must be as it was at the mark")
    .addOption(new Option("--minimise <checks>", "states a failing state's minimisation may judge (0: none)").default(200).argParser(parseCount("--minimise")))
    .option("--state <id>", "just this state (an id printed by lwlog crashes): describe it, write it with --to, judge it with --exec")
    .option("--to <image>", "with --state: write the state to this new image file")
    .option("-f, --force", "let --to replace an existing regular file")
    .option("--scratch <dir>", "where the durable image and the scratch views go (default: the system's temporary directory); on xfs or btrfs views are reflink clones")
    .addOption(new Option("--view <strategy>", "how scratch views are made: reflink (a clone: xfs, btrfs), overlay (lwlog's NBD server with a copy-on-write overlay, shown as a file by nbdfuse), copy (a sparse copy), auto").default("auto").argParser(parseChoice("--view", ["reflink", "overlay", "copy", "auto"] as const)))
    .option("--dry-run", "print the plan (crash points and states) without judging anything; with --ndjson, every planned state")
    .option("--json", "print one JSON document at the end (schema in docs/cli.md)")
    .option("--ndjson", "print one JSON record a state, as each is judged")
    .option("-q, --quiet", "no progress bar and no plan lines (the report is still printed)")
    .option("--plan <dir>", "write a campaign plan (DIR/plan.json) for lwlog crashes run DIR --job K on any host, judge nothing")
    .option("--jobs-count <n>", "with --plan: split the states into N jobs of similar cost", parsePositive("--jobs-count"))
    .option("--parallel <p>", "judge with P worker processes on this machine (each with its own scratch views); same verdicts as one", parsePositive("--parallel"))
    .action(
      ctx.action((log: string, opts: CrashesCommandOptions) =>
        runCrashes(ctx, resolvePath(ctx.io, log), {
          ...opts,
          logArg: log,
          ...(opts.to !== undefined ? { to: resolvePath(ctx.io, opts.to) } : {}),
          ...(opts.persisted !== undefined ? { persisted: resolvePath(ctx.io, opts.persisted) } : {}),
          ...(opts.scratch !== undefined ? { scratch: resolvePath(ctx.io, opts.scratch) } : {}),
          ...(opts.plan !== undefined ? { plan: resolvePath(ctx.io, opts.plan) } : {}),
        }),
      ),
    );
  // Options after `crashes run|report|plan-k8s` are the sub-command's own (several share names with these).
  command.enablePositionalOptions();
  registerCampaign(command, ctx);
}

function parseTargetSize(value: string): number | "auto" {
  return value === "auto" ? "auto" : parseSize("--size")(value);
}

function parseSeed(value: string): number {
  const n = parseCount("--seed")(value);
  if (n > 0xffffffff) throw new UsageError(`--seed takes a whole number from 0 to 4294967295, not ${value}`);
  return n;
}

/** Parses `--points`: flush, fua, mark, all, every:N, comma-separated. */
export function parsePoints(value: string): PointRule[] {
  const rules: PointRule[] = [];
  for (const word of value.split(",").map((s) => s.trim().toLowerCase())) {
    const every = /^every:([0-9]+)$/.exec(word);
    if (every) {
      const n = Number(every[1]);
      if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--points every:N needs N ≥ 1, not ${JSON.stringify(every[1])}`);
      rules.push({ every: n });
    } else if (word === "flush" || word === "fua" || word === "mark" || word === "all") {
      rules.push(word);
    } else {
      throw new UsageError(`--points takes flush, fua, mark, all or every:N (comma-separated), not ${JSON.stringify(word)}`);
    }
  }
  return rules;
}

/** `lwlog crashes`: exit 0 when every state passes, 1 when one fails, 2 for usage, 130 when interrupted. */
export async function runCrashes(ctx: CommandContext, logPath: string, opts: CrashesCommandOptions): Promise<number> {
  checkOptions(opts);
  const crash = await import("@lwlog/crash");
  const { LogFile } = await import("@lwlog/codec/core");
  const file = await LogFile.open(logPath);
  try {
    const log = readCrashLog(crash, file, opts.tail ?? false);
    if (opts.state !== undefined) return await (await import("./crashes-state.js")).runOneState(ctx, log, file, opts);
    const persisted = opts.persisted !== undefined ? crash.persistedWindows(crash.parsePersisted(opts.persisted), log) : undefined;
    const plan = crash.planCrashes(log, {
      rules: opts.points ?? ["flush"],
      ...(opts.fromMark !== undefined ? { fromMark: opts.fromMark } : {}),
      ...(opts.untilMark !== undefined ? { untilMark: opts.untilMark } : {}),
      torn: opts.torn ?? false,
      maxExhaustive: opts.maxExhaustive ?? 1024,
      ...(opts.samples !== undefined ? { samples: opts.samples } : {}),
      seed: opts.seed ?? 1,
    });
    const merged = plan.points.reduce((n, p) => n + p.merged.length, 0);
    const facts: RunFacts = { judge: judgeName(opts, persisted?.length), seconds: 0, checks: 0, interrupted: false, merged };
    if (opts.dryRun) return await printPlan(ctx, log, plan, opts, facts);
    if (opts.fs === undefined && opts.exec === undefined && persisted === undefined) {
      throw new UsageError("give a judge: --fs ext4|xfs|btrfs|auto (recovery, then the read-only check), --exec CMD (your checker), --persisted FILE (the data judge), or --dry-run to see the plan");
    }
    if (opts.plan !== undefined) return await (await import("./crashes-campaign.js")).writePlan(ctx, log, plan, opts, facts);
    if ((opts.parallel ?? 1) > 1) return await (await import("./crashes-parallel.js")).runParallel(ctx, log, file, plan, opts, facts);
    const pipeline = await makePipeline(ctx, opts);
    return await judgeAll(ctx, log, file, plan, pipeline, persisted, opts, facts);
  } finally {
    file.close();
  }
}

/** The log's headers; a crashed writer's log (declared entries missing or cut short) gets the hint convert gives. */
function readCrashLog(crash: typeof import("@lwlog/crash"), file: import("@lwlog/codec/core").LogFile, tail: boolean): CrashLog {
  try {
    return crash.CrashLog.read(file, { tail });
  } catch (err) {
    const codes = ["LWLOG_MISSING_ENTRIES", "LWLOG_TRUNCATED_HEADER", "LWLOG_DATA_PAST_EOF", "LWLOG_EMPTY_ENTRY"];
    if (err instanceof LwlogError && codes.includes(err.code)) {
      throw new LogFormatError(err.code, `${err.message} (lwlog convert --fix-superblock writes a copy that declares the entries that are there)`, {
        ...(err.file !== undefined ? { file: err.file } : {}),
        ...(err.entry !== undefined ? { entry: err.entry } : {}),
        ...(err.offset !== undefined ? { offset: err.offset } : {}),
      });
    }
    throw err;
  }
}

function checkOptions(opts: CrashesCommandOptions): void {
  const formats = [opts.json, opts.ndjson].filter(Boolean).length;
  if (formats > 1) throw new UsageError("choose one of --json and --ndjson");
  if (opts.to !== undefined && opts.state === undefined) throw new UsageError("--to writes one state: give its id with --state ID");
  if (opts.force && opts.to === undefined) throw new UsageError("--force goes with --to");
  if (opts.jobsCount !== undefined && opts.plan === undefined) throw new UsageError("--jobs-count goes with --plan DIR");
  if (opts.plan !== undefined && opts.jobsCount === undefined) throw new UsageError("--plan DIR needs --jobs-count N: how many jobs to split the states into");
  if (opts.plan !== undefined && (opts.dryRun || opts.state !== undefined || opts.parallel !== undefined || opts.ndjson)) {
    throw new UsageError("--plan writes a plan and judges nothing: --dry-run, --state, --parallel and --ndjson do not go with it (lwlog crashes report DIR reports the campaign)");
  }
  if (opts.parallel !== undefined && (opts.state !== undefined || opts.dryRun)) throw new UsageError("--parallel judges a whole run: --state and --dry-run do not go with it");
  if (opts.state !== undefined && (opts.dryRun || opts.samples !== undefined || opts.points !== undefined || opts.torn || opts.fromMark !== undefined || opts.untilMark !== undefined)) {
    throw new UsageError("--state takes one state by its id: --points, --from-mark, --until-mark, --torn, --samples and --dry-run do not apply");
  }
}

/** The states, judged in one forward pass, reported as text, JSON or NDJSON. */
async function judgeAll(
  ctx: CommandContext,
  log: CrashLog,
  file: import("@lwlog/codec/core").LogFile,
  plan: CrashPlan,
  pipeline: Pipeline,
  persisted: PersistedWindow[] | undefined,
  opts: CrashesCommandOptions,
  facts: RunFacts,
): Promise<number> {
  const crash = await import("@lwlog/crash");
  const io = ctx.io;
  const out = new Output(io.stdout);
  const err = palette(io, io.stderr);
  const space = await openScratch(opts);
  facts.views = `${opts.view ?? "auto"} in ${space.dir} (${space.canClone ? "reflink clones possible" : "no reflink here"}${space.canFuse ? "" : ", no FUSE for overlays"})`;
  if (!opts.quiet && !opts.json && !opts.ndjson) for (const l of planLines(plan, facts)) io.stderr.write(`${l}\n`);
  const abort = new AbortController();
  const unhook = io.onInterrupt?.(() => abort.abort());
  const views: ViewMaker = (base, size) => space.view(base, { size });
  const kept: StateRecord[] = [];
  let bar: Progress | undefined;
  const began = process.hrtime.bigint();
  try {
    try {
      const summary = await crash.runCrashStates({
        log,
        file,
        plan,
        durablePath: space.path("durable.img"),
        ...(opts.size !== undefined && opts.size !== "auto" ? { size: opts.size } : {}),
        views,
        judge: pipeline.judge,
        ...(persisted !== undefined ? { persisted: { windows: persisted, expect: pipeline.expect } } : {}),
        minimise: opts.minimise ?? 200,
        signal: abort.signal,
        onProgress: (p) => {
          bar ??= startProgress(io, { total: Math.max(p.total, 1), label: "crashes", quiet: opts.quiet === true || opts.json === true || opts.ndjson === true });
          bar.update(p.done, { extra: ` states | ${p.failed} failed | entry ${p.point}${p.phase === "minimise" ? ` | minimising (${p.checks} checks)` : ""}` });
        },
        onRecord: async (r) => {
          // Passed states are kept as stubs: a run of a million states must not hold a million records.
          kept.push(r.verdict === "failed" ? r : ({ type: "state", ordinal: r.ordinal, verdict: "passed", point: r.point } as StateRecord));
          if (opts.ndjson) await out.line(JSON.stringify(r));
          else if (r.verdict === "failed" && !opts.json && !opts.quiet) {
            bar?.stop();
            bar = undefined;
            io.stderr.write(`lwlog: ${err.red("state failed")}: ${r.id} (crash before entry ${r.point}, ${r.dropped.length} dropped, ${r.torn.length} torn)\n`);
          }
        },
      });
      facts.checks = summary.checks;
    } catch (e) {
      if (!(e instanceof crash.CrashInterruptedError)) throw e;
      facts.interrupted = true;
    }
    bar?.stop();
    facts.seconds = Number(process.hrtime.bigint() - began) / 1e9;
    return await finishRun(out, plan, crash.mergeRecords(plan, log, kept), facts, opts, log.path);
  } finally {
    bar?.stop();
    unhook?.();
    await space.close();
  }
}

/**
 * The end of a run that judged states (here or in workers): the report on stdout (`--json`,
 * or the text; `--ndjson` printed its records already), then exit 1 when a state failed, or
 * the interruption.
 */
export async function finishRun(out: Output, plan: CrashPlan, report: CrashReport, facts: RunFacts, opts: CrashesCommandOptions, logPath: string): Promise<number> {
  if (opts.json) await out.line(toJson(reportJson(plan, report, facts)));
  else if (!opts.ndjson) await out.write(reportText(plan, report, facts, opts.logArg ?? logPath));
  await out.flush();
  if (facts.interrupted) throw new CommandFailure(`interrupted after ${report.states} of ${report.planned} states`, ExitCode.INTERRUPTED, "LWLOG_INTERRUPTED");
  return report.failed > 0 ? ExitCode.FAILED : ExitCode.OK;
}

/** The judges the options ask for (`--persisted` without `--fs` judges with `--fs auto`: files are read after its recovery). */
export async function makePipeline(ctx: CommandContext, opts: CrashesCommandOptions): Promise<Pipeline> {
  const crash = await import("@lwlog/crash");
  const fsChoice = opts.fs ?? (opts.persisted !== undefined ? "auto" : undefined);
  let fs: import("@lwlog/crash").FsCheck | undefined;
  let readFiles: import("@lwlog/crash").FileLister | undefined;
  if (fsChoice !== undefined) {
    const judge = await import("@lwlog/judge");
    fs = judge.fsJudge(fsChoice);
    readFiles = judge.readFiles;
  }
  return crash.judgePipeline({
    ...(fs !== undefined ? { fs } : {}),
    ...(readFiles !== undefined ? { readFiles } : {}),
    ...(opts.exec !== undefined ? { exec: crash.execJudge(opts.exec, ctx.io.env, ctx.io.cwd) } : {}),
  });
}

/** The judges in words. */
export function judgeName(opts: CrashesCommandOptions, windows: number | undefined): string {
  const parts: string[] = [];
  const fs = opts.fs ?? (windows !== undefined ? "auto" : undefined);
  if (fs === "ext4") parts.push("ext4 (journal replay by e2fsck -E journal_only, then e2fsck -fn)");
  else if (fs === "xfs") parts.push("xfs (log recovery by a loop mount, then xfs_repair -n)");
  else if (fs === "btrfs") parts.push("btrfs (log replay by a loop mount, then btrfs check --readonly)");
  else if (fs === "auto") parts.push("the file system's own (auto: from the superblock of each state)");
  if (windows !== undefined) parts.push(`the data judge (${windows} ${windows === 1 ? "mark" : "marks"} of the --persisted list)`);
  if (opts.exec !== undefined) parts.push(`--exec ${opts.exec}`);
  return parts.length > 0 ? parts.join(", then ") : "none";
}

/** The scratch space of a run: where the durable image and the views live. */
export async function openScratch(opts: CrashesCommandOptions): Promise<import("@lwlog/scratch").ScratchSpace> {
  const { ScratchSpace } = await import("@lwlog/scratch");
  return ScratchSpace.open({ ...(opts.scratch !== undefined ? { dir: opts.scratch } : {}), strategy: opts.view ?? "auto" });
}

/** `--dry-run`: the plan, point by point (and with --ndjson, every planned state's id). */
async function printPlan(ctx: CommandContext, log: CrashLog, plan: CrashPlan, opts: CrashesCommandOptions, facts: RunFacts): Promise<number> {
  const crash = await import("@lwlog/crash");
  const out = new Output(ctx.io.stdout);
  const pointJson = (p: PlannedPoint) => ({ position: p.position, kinds: p.kinds, flush: p.flush, candidates: p.candidates, units: p.units, forced: p.forced, bits: p.bits, exhaustive: p.exhaustive, first: p.first, count: p.count, merged: p.merged });
  if (opts.ndjson) {
    for (const p of plan.points) {
      for (const s of crash.pointStates(log, plan, p)) await out.line(JSON.stringify({ type: "planned", ordinal: s.ordinal, id: s.id, point: p.position, source: s.source.kind, dropped: s.state.dropped.length, torn: s.state.torn.length }));
    }
  } else if (opts.json) {
    await out.line(toJson({ log: plan.log, sectorSize: plan.sectorSize, entries: plan.entries, options: plan.options, states: plan.states, unsampledPoints: plan.unsampled, unmatched: plan.unmatched ?? null, points: plan.points.map(pointJson) }));
  } else {
    for (const l of planLines(plan, facts)) await out.line(l);
    await out.line("");
    await out.line("  POINT  FLUSH  CANDIDATES  STATES  HOW");
    for (const p of plan.points) {
      const how = p.exhaustive ? "every state" : `sampled from 2^${p.bits}`;
      await out.line(`  ${String(p.position).padStart(5)}  ${String(p.flush).padStart(5)}  ${String(p.candidates).padStart(10)}  ${String(p.count).padStart(6)}  ${how}${p.kinds.includes("end") ? " (end)" : ""}`);
    }
  }
  await out.flush();
  return ExitCode.OK;
}
