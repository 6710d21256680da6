import { writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { CrashReport, OpenCampaign, StateRecord } from "@lwlog/crash";
import type { AtomicOutput } from "@lwlog/convert/core";

/** What the picture drew (for tests and the caller's message). */
export interface CampaignPlot {
  points: number;
  passed: number;
  failed: number;
  missing: number;
  lost: number;
}

/**
 * Checks `--plot OUT` before the report's work (see `AtomicOutput.prepare`): refused when it
 * is the log, the plan or a job's result (even with `force`), exists without `force`, or
 * cannot be written.
 */
export async function prepareCampaignPlot(open: OpenCampaign, out: string, force: boolean): Promise<AtomicOutput> {
  const [{ AtomicOutput }, { resultPath }] = await Promise.all([import("@lwlog/convert/core"), import("@lwlog/crash")]);
  const inputs = [open.logPath, join(open.dir, "plan.json"), ...open.campaign.jobs.map((j) => resultPath(open.dir, j.job))];
  return AtomicOutput.prepare(out, { overwrite: force, inputs });
}

/**
 * `lwlog crashes report DIR --plot OUT.svg`: the log as `lwlog plot` draws it (writes by
 * offset over time, flushes, FUA writes, marks), the entries a minimal failing state loses in
 * their own colour, and under it the crash row: at each crash point its states, passed,
 * failed and not judged. Written whole (a temporary file renamed over `out`).
 */
export async function writeCampaignPlot(open: OpenCampaign, records: readonly StateRecord[], report: CrashReport, output: AtomicOutput): Promise<CampaignPlot> {
  const { readPlotSeries, plotLogs } = await import("@lwlog/plot");
  const byOrdinal = new Map<number, StateRecord>();
  for (const r of records) byOrdinal.set(r.ordinal, r);
  const points = open.plan.points.map((p) => {
    let passed = 0;
    let failed = 0;
    for (let o = p.first; o < p.first + p.count; o++) {
      const v = byOrdinal.get(o)?.verdict;
      if (v === "passed") passed++;
      else if (v === "failed") failed++;
    }
    return { position: p.position, passed, failed, missing: p.count - passed - failed };
  });
  try {
    const series = await readPlotSeries(open.logPath, { tail: open.campaign.options.tail, label: basename(open.logPath) });
    const lost = new Uint8Array(series.count);
    let lostCount = 0;
    for (const m of report.minimal) {
      for (const e of m.entries) {
        if (e.index < series.count && lost[e.index] === 0) {
          lost[e.index] = 1;
          lostCount++;
        }
      }
    }
    series.lost = lost;
    const title = `crash campaign: ${report.states} of ${report.planned} states judged, ${report.passed} passed, ${report.failed} failed, at ${points.length} crash points`;
    const r = await plotLogs([series], { title, crashes: { points } });
    writeFileSync(output.temp, r.svg, { flag: "wx" });
    await output.commit();
    return { points: points.length, passed: report.passed, failed: report.failed, missing: report.planned - report.states, lost: lostCount };
  } catch (e) {
    output.abort();
    throw output.named(e);
  }
}
