import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ioError, LogFile } from "@lwlog/codec/core";
import { CampaignError, CampaignErrorCodes } from "./campaign-errors.js";
import { findCampaignLog, verifyCampaignLog } from "./campaign-log.js";
import { planDigest, planOptionsOf, readCampaign, RESULTS_DIR, writeFileAtomic, type CampaignFile } from "./campaign-plan.js";
import { runCrashStates, type EngineOptions, type EngineProgress } from "./engine.js";
import { CrashLog } from "./log-table.js";
import { planCrashes, pointOfState, type CrashPlan, type PlannedPoint } from "./plan.js";
import type { StateRecord } from "./records.js";

/** The first line of a job's result (and of its partial files): which job of which plan. */
export interface JobHeader {
  type: "job";
  job: number;
  /** sha256 of the bytes of `plan.json`. */
  plan: string;
  first: number;
  end: number;
}

/** The last line of a complete result. */
export interface JobTrailer {
  type: "end";
  job: number;
  states: number;
  passed: number;
  failed: number;
  /** States judged while minimising (the sum of the records' `minimal.checks`). */
  checks: number;
  /** Wall time of the run that completed the job (the only field besides the records' own `seconds` that differs between two runs). */
  seconds: number;
}

/** A campaign opened on this host: its plan, its log (found and checked), and the crash plan recomputed from them. */
export interface OpenCampaign {
  dir: string;
  campaign: CampaignFile;
  /** sha256 of `plan.json`'s bytes. */
  digest: string;
  logPath: string;
  file: LogFile;
  log: CrashLog;
  plan: CrashPlan;
}

/**
 * Opens a campaign directory: reads `plan.json`, finds the log (`findCampaignLog`), checks its
 * sha256 (unless `verify` is false: the caller checked it a moment ago), reads it and
 * recomputes the plan, which must have the digest the planner wrote (`LWLOG_PLAN_DIFFERS`
 * otherwise: another lwlog computes other states). Close `file` when done.
 */
export async function openCampaign(dir: string, options: { log?: string; verify?: boolean } = {}): Promise<OpenCampaign> {
  const { campaign, digest } = readCampaign(dir);
  const found = findCampaignLog(dir, campaign, options.log);
  if (options.verify ?? true) await verifyCampaignLog(found.path, campaign);
  const file = await LogFile.open(found.path);
  try {
    const log = CrashLog.read(file, { tail: campaign.options.tail });
    const plan = planCrashes(log, planOptionsOf(campaign.options));
    if (planDigest(plan) !== campaign.plan.digest || plan.states !== campaign.plan.states) {
      throw new CampaignError(
        CampaignErrorCodes.PLAN_DIFFERS,
        `this lwlog computes another plan from the log and the plan's options (${plan.states} states, the plan ${campaign.plan.states}): run the lwlog version that made the plan on every host, or plan again`,
        { file: join(dir, "plan.json") },
      );
    }
    return { dir, campaign, digest, logPath: found.path, file, log, plan };
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Path of job `job`'s result. */
export function resultPath(dir: string, job: number): string {
  return join(dir, RESULTS_DIR, `${job}.ndjson`);
}

/** A job's complete result. */
export interface JobResult {
  header: JobHeader;
  records: StateRecord[];
  trailer: JobTrailer;
}

/**
 * Reads job `job`'s result: undefined when there is none yet; `LWLOG_BAD_RESULT` when it
 * belongs to another plan or is not a whole result of this job (results are renamed into
 * place whole, so a short one was damaged after it was written).
 */
export function readJobResult(dir: string, digest: string, job: { job: number; first: number; end: number }): JobResult | undefined {
  const path = resultPath(dir, job.job);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CampaignError(CampaignErrorCodes.BAD_RESULT, `cannot be read: ${(err as Error).message}`, { file: path });
  }
  const bad = (why: string) => new CampaignError(CampaignErrorCodes.BAD_RESULT, `${why}: remove it and run the job again (lwlog crashes run DIR --job ${job.job})`, { file: path });
  const lines = text.split("\n").filter((l) => l !== "");
  let parsed: unknown[];
  try {
    parsed = lines.map((l) => JSON.parse(l));
  } catch {
    throw bad("is not a job's result (a line is not JSON)");
  }
  const header = parsed[0] as JobHeader | undefined;
  const trailer = parsed[parsed.length - 1] as JobTrailer | undefined;
  if (header?.type !== "job" || header.job !== job.job) throw bad(`is not the result of job ${job.job}`);
  if (header.plan !== digest) throw bad("belongs to another plan (it names another plan.json)");
  if (trailer?.type !== "end" || parsed.length < 2) throw bad("is cut short (it has no end line)");
  const records = parsed.slice(1, -1) as StateRecord[];
  const expected = job.end - job.first;
  if (records.length !== expected || records.some((r, k) => r?.type !== "state" || r.ordinal !== job.first + k)) throw bad(`does not hold the job's ${expected} states in order`);
  return { header, records, trailer };
}

/** Options of `runCampaignJob`: an open campaign, the job, and the engine's judging parts. */
export interface CampaignJobOptions extends Pick<EngineOptions, "views" | "judge" | "persisted" | "signal"> {
  open: OpenCampaign;
  job: number;
  /** Where the engine keeps the durable image (must not exist). */
  durablePath: string;
  /** Each record as it is judged, and each one taken over from a killed run of the job (`resumed`). */
  onRecord?: (record: StateRecord, resumed: boolean) => void | Promise<void>;
  onProgress?: (progress: EngineProgress) => void;
}

/** What `runCampaignJob` did. */
export interface CampaignJobOutcome {
  /** `complete`: the result was already there, nothing was done; `written`: the job ran and wrote it. */
  status: "complete" | "written";
  path: string;
  states: number;
  /** States taken over from partial results of runs of this job that did not finish. */
  resumed: number;
  trailer: JobTrailer;
}

/**
 * Runs one job of a campaign: judges its states (a contiguous range of the plan) in one
 * forward pass and writes `DIR/results/K.ndjson` whole (a temporary file renamed over it): a
 * header, one record a state in ordinal order, an end line. Failures at crash points the job
 * shares with another job are not minimised here but by the report, which sees all of their
 * states (so minimisation goes exactly as in one run).
 *
 * A job whose result is already there does nothing. While it runs, each record is also
 * appended to a partial file of its own (`results/.K.HOST-PID-….partial`); a rerun of a job
 * that was killed takes over the records of every partial file of the job: all of those at
 * shared points, and those of each other point it finished (a point half done is judged again
 * from its first state, so that its minimisation is the same as in one go). The completed
 * job removes the partial files. So a job run twice, or killed and rerun, writes the same
 * records (only the `seconds` fields differ).
 */
export async function runCampaignJob(o: CampaignJobOptions): Promise<CampaignJobOutcome> {
  const began = process.hrtime.bigint();
  const { open } = o;
  const { campaign, digest, dir, log, plan } = open;
  const job = campaign.jobs[o.job];
  if (job === undefined) throw new CampaignError(CampaignErrorCodes.NO_SUCH_JOB, `has no job ${o.job}: its jobs are 0 to ${campaign.jobs.length - 1}`, { file: join(dir, "plan.json") });
  const path = resultPath(dir, job.job);
  const done = readJobResult(dir, digest, job);
  if (done !== undefined) return { status: "complete", path, states: done.records.length, resumed: 0, trailer: done.trailer };
  const header: JobHeader = { type: "job", job: job.job, plan: digest, first: job.first, end: job.end };
  const shared = new Set(job.shared);
  const lines = new Map<number, string>();
  const stats = { passed: 0, failed: 0, checks: 0 };
  const count = (r: StateRecord) => {
    if (r.verdict === "passed") stats.passed++;
    else stats.failed++;
    stats.checks += r.minimal?.checks ?? 0;
  };
  const kept = adoptPartials(dir, header, plan, shared);
  for (const r of kept.values()) {
    lines.set(r.ordinal, JSON.stringify(r));
    count(r);
    await o.onRecord?.(r, true);
  }
  const remaining: number[] = [];
  for (let ordinal = job.first; ordinal < job.end; ordinal++) if (!kept.has(ordinal)) remaining.push(ordinal);
  if (remaining.length > 0) {
    const partial = join(dir, RESULTS_DIR, `.${job.job}.${hostname().replace(/[^A-Za-z0-9_.-]/g, "_")}-${process.pid}-${randomBytes(3).toString("hex")}.partial`);
    let fd: number;
    try {
      mkdirSync(join(dir, RESULTS_DIR), { recursive: true });
      fd = openSync(partial, "wx");
    } catch (err) {
      throw ioError(err, partial, "write the job's partial results");
    }
    try {
      writeSync(fd, JSON.stringify(header) + "\n");
      await runCrashStates({
        log,
        file: open.file,
        plan,
        ordinals: remaining,
        durablePath: o.durablePath,
        ...(campaign.options.size !== "auto" ? { size: campaign.options.size } : {}),
        views: o.views,
        judge: o.judge,
        ...(o.persisted !== undefined ? { persisted: o.persisted } : {}),
        minimise: campaign.options.minimise,
        minimiseAt: (p: PlannedPoint) => !shared.has(p.position),
        ...(o.signal !== undefined ? { signal: o.signal } : {}),
        ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}),
        onRecord: async (r) => {
          const line = JSON.stringify(r);
          writeSync(fd, line + "\n");
          lines.set(r.ordinal, line);
          count(r);
          await o.onRecord?.(r, false);
        },
      });
    } finally {
      closeSync(fd);
    }
  }
  const trailer: JobTrailer = { type: "end", job: job.job, states: lines.size, passed: stats.passed, failed: stats.failed, checks: stats.checks, seconds: Math.round(Number(process.hrtime.bigint() - began) / 1e6) / 1e3 };
  const body = [JSON.stringify(header)];
  for (let ordinal = job.first; ordinal < job.end; ordinal++) body.push(lines.get(ordinal)!);
  body.push(JSON.stringify(trailer));
  writeFileAtomic(path, body.join("\n") + "\n");
  for (const name of partialsOf(dir, job.job)) rmSync(join(dir, RESULTS_DIR, name), { force: true });
  return { status: "written", path, states: lines.size, resumed: kept.size, trailer };
}

/** Names of job `job`'s partial files in the results directory. */
export function partialsOf(dir: string, job: number): string[] {
  try {
    return readdirSync(join(dir, RESULTS_DIR)).filter((n) => n.startsWith(`.${job}.`) && n.endsWith(".partial"));
  } catch {
    return [];
  }
}

/**
 * The records of a job's partial files that a rerun can keep: every one at a shared point
 * (no minimisation there), and at any other point only a whole point (every state of it in
 * the job). A line cut short by the kill, or a file of another plan, is left out.
 */
function adoptPartials(dir: string, header: JobHeader, plan: CrashPlan, shared: ReadonlySet<number>): Map<number, StateRecord> {
  const found = new Map<number, StateRecord>();
  for (const name of partialsOf(dir, header.job)) {
    let text: string;
    try {
      text = readFileSync(join(dir, RESULTS_DIR, name), "utf8");
    } catch {
      continue;
    }
    const lines = text.split("\n");
    let head: Partial<JobHeader> | undefined;
    try {
      head = JSON.parse(lines[0]!) as Partial<JobHeader>;
    } catch {
      continue;
    }
    if (head.type !== "job" || head.plan !== header.plan || head.job !== header.job || head.first !== header.first || head.end !== header.end) continue;
    for (const line of lines.slice(1)) {
      if (line === "") continue;
      let r: StateRecord;
      try {
        r = JSON.parse(line) as StateRecord;
      } catch {
        continue;
      }
      if (r?.type === "state" && Number.isSafeInteger(r.ordinal) && r.ordinal >= header.first && r.ordinal < header.end && !found.has(r.ordinal)) found.set(r.ordinal, r);
    }
  }
  if (found.size === 0 || header.end <= header.first) return found;
  const kept = new Map<number, StateRecord>();
  const first = pointOfState(plan, header.first);
  const last = pointOfState(plan, header.end - 1);
  for (let k = plan.points.indexOf(first); k <= plan.points.indexOf(last); k++) {
    const p = plan.points[k]!;
    const from = Math.max(p.first, header.first);
    const to = Math.min(p.first + p.count, header.end);
    let whole = true;
    for (let o = from; o < to && whole; o++) whole = found.has(o);
    if (!whole && !shared.has(p.position)) continue;
    for (let o = from; o < to; o++) {
      const r = found.get(o);
      if (r !== undefined) kept.set(o, r);
    }
  }
  return kept;
}

