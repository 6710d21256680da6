import { basename } from "node:path";
import { Option, type Command } from "commander";
import type { CampaignFile, CampaignJudge, CampaignOptions, CrashLog, CrashPlan, OpenCampaign, StateRecord } from "@lwlog/crash";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { humanBytes, toJson } from "../format.js";
import { Output } from "../io.js";
import { parseChoice, parsePositive } from "../options.js";
import { resolvePath } from "../paths.js";
import { startProgress, type Progress } from "../progress.js";
import { judgeName, makePipeline, openScratch, type CrashesCommandOptions } from "./crashes.js";
import { planLines, type RunFacts } from "./crashes-report.js";

/** Options of `lwlog crashes run`. */
export interface RunJobOptions {
  job?: number;
  log?: string;
  scratch?: string;
  view?: "reflink" | "overlay" | "copy" | "auto";
  json?: boolean;
  ndjson?: boolean;
  quiet?: boolean;
  /** Hidden: the caller (--parallel) checked the log's sha256 a moment ago. */
  logChecked?: boolean;
}

/** Registers `lwlog crashes run`, `report` and `plan-k8s` under `lwlog crashes`. */
export function registerCampaign(crashes: Command, ctx: CommandContext): void {
  crashes
    .command("run")
    .description("run one job of a campaign planned with lwlog crashes LOG --plan DIR: judge its states, write DIR/results/K.ndjson")
    .argument("<dir>", "the campaign directory (holding plan.json)")
    .option("--job <k>", "the job to run, from 0 (default: $JOB_COMPLETION_INDEX, which Kubernetes sets in an Indexed Job)", parseJob("--job"))
    .option("--log <path>", "the log, when it is not where the plan says (its path relative to DIR, then its absolute path at planning)")
    .option("--scratch <dir>", "where the durable image and the scratch views go (default: the system's temporary directory)")
    .addOption(new Option("--view <strategy>", "how scratch views are made: reflink, overlay, copy, auto").default("auto").argParser(parseChoice("--view", ["reflink", "overlay", "copy", "auto"] as const)))
    .option("--json", "print what the job did as one JSON document")
    .option("--ndjson", "print each state's record as it is judged (as lwlog crashes --ndjson)")
    .option("-q, --quiet", "no progress bar and no summary")
    .addOption(new Option("--log-checked").hideHelp())
    .action(
      ctx.action((dir: string, opts: RunJobOptions) =>
        runJob(ctx, resolvePath(ctx.io, dir), { ...opts, ...(opts.log !== undefined ? { log: resolvePath(ctx.io, opts.log) } : {}), ...(opts.scratch !== undefined ? { scratch: resolvePath(ctx.io, opts.scratch) } : {}) }),
      ),
    );
  crashes
    .command("report")
    .description("merge the results of a campaign's jobs: the report of lwlog crashes, and which jobs are missing")
    .argument("<dir>", "the campaign directory")
    .option("--log <path>", "the log, when it is not where the plan says")
    .option("--plot <svg>", "also draw the campaign: crash points along the log, passed and failed states, marks")
    .option("-f, --force", "let --plot replace an existing file")
    .option("--scratch <dir>", "where failures at crash points shared by two jobs are minimised (default: the system's temporary directory)")
    .addOption(new Option("--view <strategy>", "how scratch views are made: reflink, overlay, copy, auto").default("auto").argParser(parseChoice("--view", ["reflink", "overlay", "copy", "auto"] as const)))
    .option("--json", "print one JSON document (lwlog crashes --json's, and a campaign member)")
    .option("-q, --quiet", "no progress bar")
    .action(
      ctx.action(async (dir: string, opts: import("./crashes-campaign-report.js").ReportOptions) =>
        (await import("./crashes-campaign-report.js")).runReport(ctx, resolvePath(ctx.io, dir), {
          ...opts,
          ...(opts.log !== undefined ? { log: resolvePath(ctx.io, opts.log) } : {}),
          ...(opts.plot !== undefined ? { plot: resolvePath(ctx.io, opts.plot) } : {}),
          ...(opts.scratch !== undefined ? { scratch: resolvePath(ctx.io, opts.scratch) } : {}),
        }),
      ),
    );
  crashes
    .command("plan-k8s")
    .description("print a Kubernetes Indexed Job that runs every job of a campaign (one pod per job, the plan on a shared volume)")
    .argument("<dir>", "the campaign directory")
    .requiredOption("--image <image>", "a container image with lwlog and the judges' tools on its PATH")
    .option("--completions <n>", "the Job's completions: the plan's number of jobs (given to check it)", parsePositive("--completions"))
    .option("--parallelism <p>", "pods running at once (default: every job, at most 32)", parsePositive("--parallelism"))
    .option("--claim <pvc>", "the PersistentVolumeClaim holding the plan directory (and the log)")
    .option("--host-path <dir>", "instead of --claim: a directory of every node holding the plan directory")
    .option("--mount-path <path>", "where the volume is mounted in the pod", "/campaign")
    .option("--plan-path <path>", "the plan directory inside the volume (default: its name, at the volume's root)")
    .option("--log-path <path>", "the log's path in the pod, when it is not on the volume where the plan says")
    .option("--name <name>", "the Job's name (default: lwlog-crashes- and the plan's digest)")
    .option("--namespace <ns>", "the Job's namespace")
    .option("--privileged", "run the pods privileged (default: when the judge mounts: xfs, btrfs, auto)")
    .option("--no-privileged", "never run the pods privileged")
    .option("--cpu <q>", "CPU each pod requests", "1")
    .option("--memory <q>", "memory each pod requests (and is limited to)", "1Gi")
    .option("--retries <n>", "retries of one job before it counts as failed (backoffLimitPerIndex)", parseCountOption("--retries"), 2)
    .option("-o, --output <file>", "write the manifest to this file (default: standard output)")
    .option("-f, --force", "let --output replace an existing file")
    .action(
      ctx.action(async (dir: string, opts: import("./crashes-k8s.js").K8sOptions) =>
        (await import("./crashes-k8s.js")).runPlanK8s(ctx, resolvePath(ctx.io, dir), { ...opts, ...(opts.output !== undefined ? { output: resolvePath(ctx.io, opts.output) } : {}) }),
      ),
    );
}

function parseJob(name: string): (value: string) => number {
  return (value: string) => {
    if (!/^[0-9]+$/.test(value.trim())) throw new UsageError(`${name} takes a job number (0, 1, …), not ${JSON.stringify(value)}`);
    return Number(value.trim());
  };
}

function parseCountOption(name: string): (value: string) => number {
  return (value: string) => {
    if (!/^[0-9]+$/.test(value)) throw new UsageError(`${name} takes a whole number ≥ 0, not ${JSON.stringify(value)}`);
    return Number(value);
  };
}

/** The campaign options and judges of a run's command line. */
export async function campaignParts(opts: CrashesCommandOptions, plan: CrashPlan): Promise<{ options: CampaignOptions; judge: CampaignJudge }> {
  const options: CampaignOptions = {
    rules: plan.options.rules,
    tail: opts.tail ?? false,
    torn: plan.options.torn,
    maxExhaustive: plan.options.maxExhaustive,
    seed: plan.options.seed,
    size: opts.size ?? "auto",
    minimise: opts.minimise ?? 200,
  };
  if (plan.options.fromMark !== undefined) options.fromMark = plan.options.fromMark;
  if (plan.options.untilMark !== undefined) options.untilMark = plan.options.untilMark;
  if (plan.options.samples !== undefined) options.samples = plan.options.samples;
  const judge: CampaignJudge = {};
  if (opts.fs !== undefined) judge.fs = opts.fs;
  if (opts.exec !== undefined) judge.exec = opts.exec;
  if (opts.persisted !== undefined) {
    const { readFileSync } = await import("node:fs");
    const { ioError } = await import("@lwlog/codec/core");
    try {
      judge.persisted = { file: basename(opts.persisted), text: readFileSync(opts.persisted, "utf8") };
    } catch (err) {
      throw ioError(err, opts.persisted, "read the --persisted list");
    }
  }
  return { options, judge };
}

/** `lwlog crashes LOG … --plan DIR --jobs-count N`: writes the plan, judges nothing. */
export async function writePlan(ctx: CommandContext, log: CrashLog, plan: CrashPlan, opts: CrashesCommandOptions, facts: RunFacts): Promise<number> {
  const crash = await import("@lwlog/crash");
  const dir = opts.plan!;
  const { options, judge } = await campaignParts(opts, plan);
  const { sha256, bytes } = await crash.sha256OfFile(log.path);
  const campaign = crash.makeCampaign({ dir, log, plan, sha256, bytes, options, judge, jobs: opts.jobsCount! });
  const status = crash.writeCampaign(dir, campaign);
  const out = new Output(ctx.io.stdout);
  if (opts.json) {
    await out.line(toJson({ file: `${dir}/plan.json`, status, ...campaign }));
  } else if (!opts.quiet) {
    for (const l of planLines(plan, facts)) await out.line(l);
    for (const l of planSummary(dir, campaign, status)) await out.line(l);
  }
  await out.flush();
  return ExitCode.OK;
}

/** The plan's jobs in a table, and how to run them. */
export function planSummary(dir: string, c: CampaignFile, status: "written" | "unchanged"): string[] {
  const n = c.jobs.length;
  const lines = [
    `plan: ${dir}/plan.json (${status === "written" ? "written" : "unchanged: the directory already holds this plan, and its results are kept"})`,
    `log: ${c.log.path} (${humanBytes(c.log.bytes)}, sha256 ${c.log.sha256.slice(0, 16)}…); jobs find it at ${c.log.relative} from the plan directory, or at that path`,
    `jobs: ${n}, contiguous ranges of states of similar estimated cost (a check counted as replaying ${humanBytes(c.cost.judgeBytes)})`,
    "",
    "  JOB  STATES  CRASH POINTS          EST. COST  SHARED POINTS",
  ];
  for (const j of c.jobs) {
    const pts = j.points === null ? "-" : j.points[0] === j.points[1] ? `${j.points[0]}` : `${j.points[0]}..${j.points[1]}`;
    lines.push(`  ${String(j.job).padStart(3)}  ${String(j.end - j.first).padStart(6)}  ${pts.padEnd(20)}  ${humanBytes(j.cost.total).padStart(9)}  ${j.shared.length > 0 ? j.shared.join(", ") : "-"}`);
  }
  const q = shellWord(dir);
  lines.push(
    "",
    `run one job:  lwlog crashes run ${q} --job K   (K = 0 … ${n - 1}; or JOB_COMPLETION_INDEX=K)`,
    `run them all: seq 0 ${n - 1} | parallel lwlog crashes run ${q} --job {}   (add --sshlogin … for other hosts)`,
    `Kubernetes:   lwlog crashes plan-k8s ${q} --image IMAGE --claim PVC > job.json`,
    `then:         lwlog crashes report ${q}`,
  );
  return lines;
}

/** `lwlog crashes run DIR --job K`: exit 0 when the job's result is written (or was already), whatever the verdicts. */
export async function runJob(ctx: CommandContext, dir: string, opts: RunJobOptions): Promise<number> {
  if (opts.json && opts.ndjson) throw new UsageError("choose one of --json and --ndjson");
  const job = jobNumber(ctx, opts.job);
  const crash = await import("@lwlog/crash");
  const open = await crash.openCampaign(dir, { ...(opts.log !== undefined ? { log: opts.log } : {}), verify: opts.logChecked !== true });
  try {
    return await runOpenJob(ctx, open, job, opts);
  } finally {
    open.file.close();
  }
}

function jobNumber(ctx: CommandContext, job: number | undefined): number {
  if (job !== undefined) return job;
  const env = ctx.io.env.JOB_COMPLETION_INDEX;
  if (env === undefined || env === "") throw new UsageError("give the job: --job K (or JOB_COMPLETION_INDEX=K, as Kubernetes sets it in an Indexed Job)");
  if (!/^[0-9]+$/.test(env.trim())) throw new UsageError(`JOB_COMPLETION_INDEX must be a job number (0, 1, …), not ${JSON.stringify(env)}`);
  return Number(env.trim());
}

async function runOpenJob(ctx: CommandContext, open: OpenCampaign, job: number, opts: RunJobOptions): Promise<number> {
  const crash = await import("@lwlog/crash");
  const io = ctx.io;
  const out = new Output(io.stdout);
  const c = open.campaign;
  const judgeOpts: CrashesCommandOptions = { ...(c.judge.fs !== undefined ? { fs: c.judge.fs } : {}), ...(c.judge.exec !== undefined ? { exec: c.judge.exec } : {}), ...(c.judge.persisted !== undefined ? { persisted: c.judge.persisted.file } : {}) };
  const persisted = c.judge.persisted !== undefined ? crash.persistedWindows(crash.parsePersisted(c.judge.persisted.file, c.judge.persisted.text), open.log) : undefined;
  const pipeline = await makePipeline(ctx, judgeOpts);
  const space = await openScratch({ ...(opts.scratch !== undefined ? { scratch: opts.scratch } : {}), view: opts.view ?? "auto" });
  const abort = new AbortController();
  const unhook = io.onInterrupt?.(() => abort.abort());
  let bar: Progress | undefined;
  const quietBar = opts.quiet === true || opts.json === true || opts.ndjson === true;
  try {
    let outcome: import("@lwlog/crash").CampaignJobOutcome;
    try {
      outcome = await crash.runCampaignJob({
        open,
        job,
        durablePath: space.path("durable.img"),
        views: (base, size) => space.view(base, { size }),
        judge: pipeline.judge,
        ...(persisted !== undefined ? { persisted: { windows: persisted, expect: pipeline.expect } } : {}),
        signal: abort.signal,
        onProgress: (p) => {
          bar ??= startProgress(io, { total: Math.max(p.total, 1), label: `job ${job}`, quiet: quietBar });
          bar.update(p.done, { extra: ` states | ${p.failed} failed | entry ${p.point}${p.phase === "minimise" ? ` | minimising (${p.checks} checks)` : ""}` });
        },
        onRecord: async (r: StateRecord) => {
          if (opts.ndjson) await out.line(JSON.stringify(r));
        },
      });
    } catch (e) {
      if (e instanceof crash.CrashInterruptedError) {
        await out.flush();
        throw new CommandFailure(`job ${job} interrupted; what it judged is kept in ${open.dir}/results and a rerun takes over from there`, ExitCode.INTERRUPTED, "LWLOG_INTERRUPTED");
      }
      throw e;
    }
    bar?.stop();
    const t = outcome.trailer;
    if (opts.json) await out.line(toJson({ job, status: outcome.status, result: outcome.path, states: t.states, passed: t.passed, failed: t.failed, checks: t.checks, resumed: outcome.resumed, seconds: t.seconds }));
    else if (!opts.quiet && !opts.ndjson) {
      const what = outcome.status === "complete" ? "already complete, nothing to do" : `${t.states} states judged${outcome.resumed > 0 ? ` (${outcome.resumed} taken over from an earlier run)` : ""}: ${t.passed} passed, ${t.failed} failed, ${t.seconds.toFixed(1)} s`;
      await out.line(`job ${job} of ${open.campaign.jobs.length}: ${what}; ${outcome.path}`);
    }
    await out.flush();
    return ExitCode.OK;
  } finally {
    bar?.stop();
    unhook?.();
    await space.close();
  }
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Facts of a campaign's judges, as `lwlog crashes` words them. */
export function campaignJudgeName(c: CampaignFile, windows: number | undefined): string {
  return judgeName({ ...(c.judge.fs !== undefined ? { fs: c.judge.fs } : {}), ...(c.judge.exec !== undefined ? { exec: c.judge.exec } : {}) }, windows);
}
