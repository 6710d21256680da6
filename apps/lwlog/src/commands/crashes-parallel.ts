import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { LogFile } from "@lwlog/codec/core";
import type { CampaignResults, CrashLog, CrashPlan, OpenCampaign, StateRecord } from "@lwlog/crash";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode } from "../errors.js";
import { Output, palette } from "../io.js";
import { planLines, type RunFacts } from "./crashes-report.js";
import { campaignParts } from "./crashes-campaign.js";
import { mergeCampaign } from "./crashes-campaign-report.js";
import { finishRun, type CrashesCommandOptions } from "./crashes.js";
import { startProgress, type Progress } from "../progress.js";

/**
 * The built CLI a worker runs: this module's sibling `main.js` when it runs built, else (a
 * test running the sources) the package's `dist/main.js`, which `npm run build` makes.
 */
export function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const entry = here.endsWith(".js") ? join(dirname(here), "..", "main.js") : join(dirname(here), "..", "..", "dist", "main.js");
  if (!existsSync(entry)) throw new CommandFailure(`--parallel starts workers from the built lwlog, and ${entry} is missing: run npm run build`, ExitCode.BUG, "LWLOG_NOT_BUILT");
  return entry;
}

/**
 * `lwlog crashes LOG … --parallel P`: the run as a campaign of P jobs in a private directory,
 * each job judged by a worker process (`lwlog crashes run DIR --job K`, its own scratch
 * space and views), the records merged as a report merges them. Failures at crash points
 * two workers shared are minimised at the end, as the one run would have: same states, same
 * verdicts, same minimal states as with one worker; the output differs only in `seconds` and
 * `views` (and, with `--ndjson`, in the order of the records: as the workers finish them).
 */
export async function runParallel(ctx: CommandContext, log: CrashLog, file: LogFile, plan: CrashPlan, opts: CrashesCommandOptions, facts: RunFacts): Promise<number> {
  const crash = await import("@lwlog/crash");
  const io = ctx.io;
  const out = new Output(io.stdout);
  const err = palette(io, io.stderr);
  const P = opts.parallel!;
  const began = process.hrtime.bigint();
  const entry = workerEntry();
  const dir = mkdtempSync(join(opts.scratch ?? tmpdir(), "lwlog-parallel-"));
  const abort = new AbortController();
  const unhook = io.onInterrupt?.(() => abort.abort());
  let bar: Progress | undefined;
  try {
    const { options, judge } = await campaignParts(opts, plan);
    const { sha256, bytes } = await crash.sha256OfFile(log.path);
    const campaign = crash.makeCampaign({ dir, log, plan, sha256, bytes, options, judge, jobs: P });
    crash.writeCampaign(dir, campaign);
    const digest = createHash("sha256").update(readFileSync(join(dir, crash.PLAN_FILE))).digest("hex");
    const open: OpenCampaign = { dir, campaign, digest, logPath: log.path, file, log, plan };
    facts.views = `${opts.view ?? "auto"}, in each of ${P} workers' own scratch space in ${opts.scratch ?? tmpdir()}`;
    if (!opts.quiet && !opts.json && !opts.ndjson) for (const l of planLines(plan, facts)) io.stderr.write(`${l}\n`);
    const shared = new Set(campaign.jobs.flatMap((j) => j.shared));
    const records = new Map<number, StateRecord>();
    let failed = 0;
    const onRecord = async (r: StateRecord) => {
      if (records.has(r.ordinal)) return;
      records.set(r.ordinal, r.verdict === "failed" ? r : ({ type: "state", ordinal: r.ordinal, verdict: "passed", point: r.point, exit: r.exit, output: [] } as unknown as StateRecord));
      if (r.verdict === "failed") failed++;
      bar ??= startProgress(io, { total: Math.max(plan.states, 1), label: "crashes", quiet: opts.quiet === true || opts.json === true || opts.ndjson === true });
      bar.update(records.size, { extra: ` states | ${failed} failed | ${P} workers` });
      // A failure at a shared point gets its minimal state at the end: its record waits.
      if (opts.ndjson && !(r.verdict === "failed" && shared.has(r.point))) await out.line(JSON.stringify(r));
      else if (r.verdict === "failed" && !opts.json && !opts.ndjson && !opts.quiet) {
        bar.stop();
        bar = undefined;
        io.stderr.write(`lwlog: ${err.red("state failed")}: ${r.id} (crash before entry ${r.point}, ${r.dropped.length} dropped, ${r.torn.length} torn)\n`);
      }
    };
    const workerArgs = (k: number) => [entry, "crashes", "run", dir, "--job", String(k), "--ndjson", "--quiet", "--log", log.path, "--log-checked", "--view", opts.view ?? "auto", ...(opts.scratch !== undefined ? ["--scratch", opts.scratch] : [])];
    const outcomes = await Promise.all(campaign.jobs.map((j) => runWorker(io.env, io.cwd, workerArgs(j.job), abort.signal, onRecord)));
    bar?.stop();
    bar = undefined;
    const interrupted = abort.signal.aborted;
    const broken = outcomes.findIndex((o) => o.code !== 0);
    if (!interrupted && broken >= 0) {
      const o = outcomes[broken]!;
      const why = o.stderr.trim().split("\n").filter(Boolean).slice(-3).join("\n") || `exit status ${o.code}`;
      throw new CommandFailure(`worker ${broken} (lwlog crashes run … --job ${broken}) failed: ${why.replace(/^lwlog: (error: )?/, "")}`, o.code === ExitCode.USAGE || o.code === ExitCode.FAILED ? o.code : ExitCode.BUG, "LWLOG_WORKER_FAILED");
    }
    const results: CampaignResults = { records, complete: [], missing: [], partial: [], seconds: 0 };
    let report: import("@lwlog/crash").CrashReport;
    if (interrupted) {
      report = crash.mergeRecords(plan, log, records.values());
      facts.interrupted = true;
      facts.checks = [...records.values()].reduce((n, r) => n + (r.minimal?.checks ?? 0), 0);
    } else {
      try {
        const merged = await mergeCampaign(ctx, open, results, { ...(opts.scratch !== undefined ? { scratch: opts.scratch } : {}), view: opts.view ?? "auto", quiet: opts.quiet === true || opts.json === true || opts.ndjson === true, signal: abort.signal });
        report = merged.report;
        facts.checks = merged.facts.checks;
        if (opts.ndjson) for (const r of merged.records) if (r.verdict === "failed" && shared.has(r.point)) await out.line(JSON.stringify(r));
      } catch (e) {
        if (!(e instanceof crash.CrashInterruptedError)) throw e;
        report = crash.mergeRecords(plan, log, records.values());
        facts.interrupted = true;
      }
    }
    facts.seconds = Number(process.hrtime.bigint() - began) / 1e9;
    return await finishRun(out, plan, report, facts, opts, log.path);
  } finally {
    bar?.stop();
    unhook?.();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How a worker ended. */
interface WorkerOutcome {
  code: number;
  stderr: string;
}

/**
 * Runs one worker: its NDJSON records go to `onRecord` as they come; an abort sends it SIGINT
 * (it stops its judge and exits 130).
 */
function runWorker(env: Record<string, string | undefined>, cwd: string, args: string[], signal: AbortSignal, onRecord: (r: StateRecord) => Promise<void>): Promise<WorkerOutcome> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, args, { cwd, env: { ...env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let pending = "";
    let chain = Promise.resolve();
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.trim() === "") continue;
        let r: StateRecord;
        try {
          r = JSON.parse(line) as StateRecord;
        } catch {
          continue;
        }
        if (r.type === "state") chain = chain.then(() => onRecord(r));
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-8192);
    });
    const stop = () => child.kill("SIGINT");
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
    child.on("error", (e) => {
      stderr += `cannot start ${process.execPath}: ${e.message}`;
    });
    child.on("close", (code, sig) => {
      signal.removeEventListener("abort", stop);
      void chain.then(() => resolve({ code: code ?? (sig === "SIGINT" ? ExitCode.INTERRUPTED : ExitCode.BUG), stderr }));
    });
  });
}
