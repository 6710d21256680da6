import type { CampaignResults, CrashReport, MinimalRecord, OpenCampaign, StateRecord } from "@lwlog/crash";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode } from "../errors.js";
import { toJson } from "../format.js";
import { Output } from "../io.js";
import { startProgress, type Progress } from "../progress.js";
import { campaignJudgeName } from "./crashes-campaign.js";
import { makePipeline, openScratch, type CrashesCommandOptions } from "./crashes.js";
import { reportJson, reportText, type RunFacts } from "./crashes-report.js";

/** Exit code of a report whose campaign is not complete and found no failure yet (sysexits' EX_TEMPFAIL: try again later). */
export const INCOMPLETE_EXIT = 75;

/** Options of `lwlog crashes report`. */
export interface ReportOptions {
  log?: string;
  plot?: string;
  force?: boolean;
  scratch?: string;
  view?: "reflink" | "overlay" | "copy" | "auto";
  json?: boolean;
  quiet?: boolean;
}

/** A campaign's records merged: the report `lwlog crashes` would print, and what the merge did. */
export interface MergedCampaign {
  report: CrashReport;
  facts: RunFacts;
  records: StateRecord[];
  /** Failures of shared crash points minimised by this merge, and the checks that took. */
  minimisedHere: { points: number; failures: number; checks: number; saved: number };
  /** Shared crash points whose failures wait for a missing job to be minimised. */
  waiting: number[];
}

/**
 * Merges a campaign's results into the report of a one-machine run: the failures at crash
 * points two jobs shared are minimised here (in one forward pass, as the one run would have:
 * `minimiseRecorded`), or taken from an earlier report (`DIR/minimised/`); the records get
 * their minimal states; `mergeRecords` does the rest.
 */
export async function mergeCampaign(ctx: CommandContext, open: OpenCampaign, results: CampaignResults, opts: { scratch?: string; view?: ReportOptions["view"]; quiet?: boolean; signal?: AbortSignal }): Promise<MergedCampaign> {
  const crash = await import("@lwlog/crash");
  const began = process.hrtime.bigint();
  const c = open.campaign;
  const windows = c.judge.persisted !== undefined ? crash.persistedWindows(crash.parsePersisted(c.judge.persisted.file, c.judge.persisted.text), open.log) : undefined;
  const deferred = crash.deferredMinimisation(open, results);
  const minimal = new Map<number, MinimalRecord>(deferred.saved);
  const here = { points: 0, failures: 0, checks: 0, saved: deferred.saved.size };
  let views = "in each job's own scratch space";
  if (deferred.todo.length > 0) {
    const judgeOpts: CrashesCommandOptions = { ...(c.judge.fs !== undefined ? { fs: c.judge.fs } : {}), ...(c.judge.exec !== undefined ? { exec: c.judge.exec } : {}), ...(c.judge.persisted !== undefined ? { persisted: c.judge.persisted.file } : {}) };
    const pipeline = await makePipeline(ctx, judgeOpts);
    const space = await openScratch({ ...(opts.scratch !== undefined ? { scratch: opts.scratch } : {}), view: opts.view ?? "auto" });
    views = `${opts.view ?? "auto"} in ${space.dir}, for the failures of shared crash points; the jobs' own elsewhere`;
    let bar: Progress | undefined;
    try {
      const found = await crash.minimiseRecorded({
        log: open.log,
        file: open.file,
        plan: open.plan,
        points: deferred.todo,
        records: results.records,
        durablePath: space.path("durable.img"),
        ...(c.options.size !== "auto" ? { size: c.options.size } : {}),
        views: (base, size) => space.view(base, { size }),
        judge: pipeline.judge,
        ...(windows !== undefined ? { persisted: { windows, expect: pipeline.expect } } : {}),
        budget: c.options.minimise,
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
        onProgress: (done, failures, checks) => {
          bar ??= startProgress(ctx.io, { total: failures, label: "minimising", quiet: opts.quiet === true });
          bar.update(done, { extra: ` failures | ${checks} checks` });
        },
      });
      try {
        for (const point of deferred.todo) crash.saveDeferred(open, point, found.minimal);
      } catch {
        // A plan directory this host may not write: the report is right all the same, the next one judges again.
      }
      for (const [o, m] of found.minimal) minimal.set(o, m);
      here.points = deferred.todo.length;
      here.failures = found.minimal.size;
      here.checks = found.checks;
    } finally {
      bar?.stop();
      await space.close();
    }
  }
  const records = crash.withMinimal(results.records, minimal);
  const report = crash.mergeRecords(open.plan, open.log, records);
  const checks = records.reduce((n, r) => n + (r.minimal?.checks ?? 0), 0);
  const facts: RunFacts = {
    judge: campaignJudgeName(c, windows?.length),
    views,
    seconds: results.seconds + Number(process.hrtime.bigint() - began) / 1e9,
    checks,
    interrupted: false,
    merged: open.plan.points.reduce((n, p) => n + p.merged.length, 0),
  };
  return { report, facts, records, minimisedHere: here, waiting: deferred.waiting };
}

/**
 * `lwlog crashes report DIR`: the report of a one-machine run on the states the jobs judged,
 * and which jobs are missing. Exit 1 when a state failed (complete or not: a failure stands),
 * else `INCOMPLETE_EXIT` while jobs are missing, else 0.
 */
export async function runReport(ctx: CommandContext, dir: string, opts: ReportOptions): Promise<number> {
  const crash = await import("@lwlog/crash");
  const open = await crash.openCampaign(dir, opts.log !== undefined ? { log: opts.log } : {});
  const abort = new AbortController();
  const unhook = ctx.io.onInterrupt?.(() => abort.abort());
  try {
    const plot = opts.plot !== undefined ? await (await import("./crashes-plot.js")).prepareCampaignPlot(open, opts.plot, opts.force ?? false) : undefined;
    const results = crash.readCampaignResults(open);
    let merged: MergedCampaign;
    try {
      merged = await mergeCampaign(ctx, open, results, { ...opts, signal: abort.signal, quiet: opts.quiet === true || opts.json === true });
    } catch (e) {
      if (e instanceof crash.CrashInterruptedError) throw new CommandFailure("interrupted while minimising the failures of shared crash points (nothing written; run the report again)", ExitCode.INTERRUPTED, "LWLOG_INTERRUPTED");
      throw e;
    }
    const { report, facts } = merged;
    const n = open.campaign.jobs.length;
    const campaign = {
      dir,
      jobs: n,
      complete: results.complete.length,
      missing: results.missing,
      partial: results.partial,
      minimised: merged.minimisedHere,
      waiting: merged.waiting,
    };
    if (plot !== undefined) await (await import("./crashes-plot.js")).writeCampaignPlot(open, merged.records, report, plot);
    const out = new Output(ctx.io.stdout);
    if (opts.json) await out.line(toJson({ ...reportJson(open.plan, report, facts), campaign }));
    else {
      await out.write(reportText(open.plan, report, facts, open.logPath));
      for (const l of campaignLines(dir, campaign, opts.plot)) await out.line(l);
    }
    await out.flush();
    if (results.missing.length > 0) {
      const which = results.missing.length <= 12 ? results.missing.join(", ") : `${results.missing.slice(0, 12).join(", ")}, …`;
      throw new CommandFailure(
        `the campaign is not complete: ${results.missing.length} of ${n} jobs have no result (${which}); run them (lwlog crashes run ${dir} --job K) and report again`,
        report.failed > 0 ? ExitCode.FAILED : INCOMPLETE_EXIT,
        "LWLOG_CAMPAIGN_INCOMPLETE",
      );
    }
    return report.failed > 0 ? ExitCode.FAILED : ExitCode.OK;
  } finally {
    unhook?.();
    open.file.close();
  }
}

function campaignLines(dir: string, c: { jobs: number; complete: number; missing: number[]; partial: { job: number; states: number }[]; minimised: MergedCampaign["minimisedHere"]; waiting: number[] }, plot: string | undefined): string[] {
  const lines = [""];
  if (c.missing.length === 0) lines.push(`campaign: all ${c.jobs} jobs complete (${dir})`);
  else {
    lines.push(`campaign: ${c.complete} of ${c.jobs} jobs complete; missing: ${c.missing.join(", ")}`);
    for (const p of c.partial) lines.push(`  job ${p.job}: ${p.states} states in partial results (running, or killed: a rerun takes them over)`);
  }
  if (c.minimised.points > 0) lines.push(`minimised here: ${c.minimised.failures} failures at ${c.minimised.points} crash points shared by two jobs (${c.minimised.checks} checks)`);
  if (c.minimised.saved > 0) lines.push(`minimised by an earlier report: ${c.minimised.saved} failures at shared crash points (${dir}/minimised)`);
  if (c.waiting.length > 0) lines.push(`not minimised yet: failures at crash points ${c.waiting.join(", ")}, shared with a missing job`);
  if (plot !== undefined) lines.push(`picture: ${plot}`);
  return lines;
}
