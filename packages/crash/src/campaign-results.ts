import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { partialsOf, readJobResult, type OpenCampaign } from "./campaign-job.js";
import { writeFileAtomic } from "./campaign-plan.js";
import type { PlannedPoint } from "./plan.js";
import type { MinimalRecord, StateRecord } from "./records.js";

/** What the results directory of a campaign holds. */
export interface CampaignResults {
  /**
   * One record a judged state, by ordinal: failed states whole, passed ones as stubs (the
   * fields a report and a minimisation read), so that a report of millions of states fits.
   */
  records: Map<number, StateRecord>;
  /** Jobs with a complete result, and jobs without one (in order). */
  complete: number[];
  missing: number[];
  /** Jobs without a result whose runs left partial files (running now, or killed): states recorded there so far. */
  partial: { job: number; states: number }[];
  /** Sum of the complete jobs' wall times. */
  seconds: number;
}

/** Reads every job's result (`LWLOG_BAD_RESULT` for one that belongs to another plan or is damaged). */
export function readCampaignResults(open: OpenCampaign): CampaignResults {
  const out: CampaignResults = { records: new Map(), complete: [], missing: [], partial: [], seconds: 0 };
  for (const job of open.campaign.jobs) {
    const result = readJobResult(open.dir, open.digest, job);
    if (result === undefined) {
      out.missing.push(job.job);
      const states = countPartial(open.dir, job.job);
      if (states > 0) out.partial.push({ job: job.job, states });
      continue;
    }
    out.complete.push(job.job);
    out.seconds += result.trailer.seconds;
    for (const r of result.records) out.records.set(r.ordinal, r.verdict === "failed" ? r : stub(r));
  }
  return out;
}

function stub(r: StateRecord): StateRecord {
  return { type: "state", ordinal: r.ordinal, point: r.point, verdict: "passed", exit: r.exit, output: [] } as unknown as StateRecord;
}

function countPartial(dir: string, job: number): number {
  const seen = new Set<number>();
  for (const name of partialsOf(dir, job)) {
    try {
      for (const line of readFileSync(join(dir, "results", name), "utf8").split("\n").slice(1)) {
        const m = /^\{"type":"state","ordinal":([0-9]+),/.exec(line);
        if (m) seen.add(Number(m[1]));
      }
    } catch {
      // gone meanwhile
    }
  }
  return seen.size;
}

/** The failures of shared crash points, as the report sees them. */
export interface DeferredMinimisation {
  /** Points whose failures must be minimised now (every state recorded, no saved minimisation). */
  todo: PlannedPoint[];
  /** Minimal records already saved by an earlier report, by ordinal, and their checks. */
  saved: Map<number, MinimalRecord>;
  /** Positions of shared points with failures that wait for a missing job. */
  waiting: number[];
}

/** Where a report keeps the minimisation of a shared point's failures (so that the next report does not redo it). */
export function deferredPath(dir: string, position: number): string {
  return join(dir, "minimised", `${position}.json`);
}

/**
 * Which shared points' failures the report minimises (every job leaves a point it shares to
 * the report): those whose states are all recorded, unless a report saved them already (for
 * this plan); the others wait for their missing jobs.
 */
export function deferredMinimisation(open: OpenCampaign, results: CampaignResults): DeferredMinimisation {
  const out: DeferredMinimisation = { todo: [], saved: new Map(), waiting: [] };
  if (open.campaign.options.minimise <= 0) return out;
  const shared = new Set(open.campaign.jobs.flatMap((j) => j.shared));
  for (const point of open.plan.points) {
    if (!shared.has(point.position)) continue;
    let failures = 0;
    let whole = true;
    for (let o = point.first; o < point.first + point.count; o++) {
      const r = results.records.get(o);
      if (r === undefined) whole = false;
      else if (r.verdict === "failed") failures++;
    }
    if (failures === 0 && whole) continue;
    if (!whole) {
      if (failures > 0) out.waiting.push(point.position);
      continue;
    }
    const saved = readDeferred(open, point);
    if (saved === undefined) out.todo.push(point);
    else for (const [o, m] of saved) out.saved.set(o, m);
  }
  return out;
}

/** Saves the minimisation of a shared point's failures (atomically). */
export function saveDeferred(open: OpenCampaign, point: PlannedPoint, minimal: ReadonlyMap<number, MinimalRecord>): void {
  const mine: Record<string, MinimalRecord> = {};
  for (let o = point.first; o < point.first + point.count; o++) {
    const m = minimal.get(o);
    if (m !== undefined) mine[String(o)] = m;
  }
  mkdirSync(join(open.dir, "minimised"), { recursive: true });
  writeFileAtomic(deferredPath(open.dir, point.position), JSON.stringify({ plan: open.digest, point: point.position, minimal: mine }) + "\n");
}

function readDeferred(open: OpenCampaign, point: PlannedPoint): Map<number, MinimalRecord> | undefined {
  try {
    const doc = JSON.parse(readFileSync(deferredPath(open.dir, point.position), "utf8")) as { plan?: string; point?: number; minimal?: Record<string, MinimalRecord> };
    if (doc.plan !== open.digest || doc.point !== point.position || typeof doc.minimal !== "object" || doc.minimal === null) return undefined;
    return new Map(Object.entries(doc.minimal).map(([o, m]) => [Number(o), m]));
  } catch {
    return undefined;
  }
}

/** The records with the minimal states found for their failures filled in. */
export function withMinimal(records: ReadonlyMap<number, StateRecord>, minimal: ReadonlyMap<number, MinimalRecord>): StateRecord[] {
  const out: StateRecord[] = [];
  for (const r of records.values()) {
    const m = minimal.get(r.ordinal);
    out.push(m !== undefined && r.verdict === "failed" && r.minimal === undefined ? { ...r, minimal: m } : r);
  }
  return out;
}
