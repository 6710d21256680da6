import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { z } from "zod";
import { ioError } from "@lwlog/codec/core";
import { CampaignError, CampaignErrorCodes } from "./campaign-errors.js";
import { costModel, splitJobs, type CampaignJob, type CostModel } from "./campaign-split.js";
import type { CrashLog } from "./log-table.js";
import type { CrashPlan, CrashPlanOptions } from "./plan.js";
import type { PointRule } from "./points.js";

/** What `plan.json` says it is. */
export const CAMPAIGN_FORMAT = "lwlog-crash-campaign";
export const CAMPAIGN_VERSION = 1;

/** The judges of a campaign, as the command line gave them; a `--persisted` list is carried whole. */
export interface CampaignJudge {
  fs?: "ext4" | "xfs" | "btrfs" | "auto";
  exec?: string;
  persisted?: { file: string; text: string };
}

/** Every option that decides a campaign's states and verdicts (not where or how fast they are judged). */
export interface CampaignOptions {
  rules: PointRule[];
  fromMark?: string;
  untilMark?: string;
  tail: boolean;
  torn: boolean;
  maxExhaustive: number;
  samples?: number;
  seed: number;
  /** Size of the disk the states are built on (`auto`: one past the log's highest byte). */
  size: number | "auto";
  /** Checks a failing state's minimisation may run. */
  minimise: number;
}

/** The log a campaign is about: where it was at planning, and what it must be everywhere. */
export interface CampaignLog {
  /** Absolute path on the planning host. */
  path: string;
  /** The same, relative to the plan directory (tried first on every host). */
  relative: string;
  bytes: number;
  sha256: string;
}

/**
 * `plan.json`: a crash campaign that any engine runs job by job (`lwlog crashes run DIR --job
 * K`) and `lwlog crashes report DIR` merges. Its bytes are a function of the log, the options
 * and the plan directory's place: the same inputs write the same file.
 */
export interface CampaignFile {
  format: typeof CAMPAIGN_FORMAT;
  version: typeof CAMPAIGN_VERSION;
  log: CampaignLog;
  options: CampaignOptions;
  judge: CampaignJudge;
  /** The plan every job recomputes from the log and the options, and its digest (a job refuses a plan it computes differently). */
  plan: { points: number; states: number; digest: string };
  cost: CostModel & { imageBytes: number };
  jobs: CampaignJob[];
}

/** The file name of the plan in a campaign directory, and the directory of job results. */
export const PLAN_FILE = "plan.json";
export const RESULTS_DIR = "results";

/** A digest of everything that decides a plan's states (not the log's path): jobs compare it with their own. */
export function planDigest(plan: CrashPlan): string {
  const h = createHash("sha256");
  h.update(`${plan.sectorSize} ${plan.entries} ${plan.states} ${JSON.stringify(plan.options)} ${plan.unsampled.join(",")}\n`);
  for (const p of plan.points) h.update(`${p.position} ${p.flush} ${p.first} ${p.count} ${p.exhaustive ? 1 : 0} ${p.bits} ${p.candidates} ${p.units} ${p.seeds.join(",")}\n`);
  return h.digest("hex");
}

/** The crash plan options of a campaign (what `planCrashes` takes). */
export function planOptionsOf(options: CampaignOptions): CrashPlanOptions {
  return {
    rules: options.rules,
    ...(options.fromMark !== undefined ? { fromMark: options.fromMark } : {}),
    ...(options.untilMark !== undefined ? { untilMark: options.untilMark } : {}),
    torn: options.torn,
    maxExhaustive: options.maxExhaustive,
    ...(options.samples !== undefined ? { samples: options.samples } : {}),
    seed: options.seed,
  };
}

/** Builds a campaign of `jobs` jobs from a plan (see `splitJobs` for how states are shared out). */
export function makeCampaign(args: { dir: string; log: CrashLog; plan: CrashPlan; sha256: string; bytes: number; options: CampaignOptions; judge: CampaignJudge; jobs: number }): CampaignFile {
  const { log, plan } = args;
  const imageBytes = args.options.size === "auto" ? Math.max(log.extent, log.sectorSize) : args.options.size;
  const model = costModel(args.judge, imageBytes);
  const path = resolve(log.path);
  return {
    format: CAMPAIGN_FORMAT,
    version: CAMPAIGN_VERSION,
    log: { path, relative: relative(resolve(args.dir), path), bytes: args.bytes, sha256: args.sha256 },
    options: canonicalOptions(args.options),
    judge: canonicalJudge(args.judge),
    plan: { points: plan.points.length, states: plan.states, digest: planDigest(plan) },
    cost: { judgeBytes: model.judgeBytes, imageBytes },
    jobs: splitJobs(log, plan, args.jobs, model),
  };
}

/** The bytes of `plan.json`. */
export function campaignText(c: CampaignFile): string {
  return JSON.stringify(c, null, 2) + "\n";
}

/**
 * Writes `DIR/plan.json` (atomically) and makes `DIR/results`. A directory that already holds
 * this very plan is left as it is (`unchanged`: its results stay); one that holds another
 * plan is refused (`LWLOG_PLAN_EXISTS`): its results belong to that plan.
 */
export function writeCampaign(dir: string, c: CampaignFile): "written" | "unchanged" {
  const file = join(dir, PLAN_FILE);
  const text = campaignText(c);
  try {
    mkdirSync(join(dir, RESULTS_DIR), { recursive: true });
  } catch (err) {
    throw ioError(err, dir, "make the campaign directory");
  }
  if (existsSync(file)) {
    // A FIFO would block the read below, and a device is not a plan: neither is replaced.
    if (!statSync(file).isFile()) throw new CampaignError(CampaignErrorCodes.PLAN_EXISTS, "is not a regular file (a FIFO, a device?): not replaced; give a new directory", { file });
    let old: string;
    try {
      old = readFileSync(file, "utf8");
    } catch (err) {
      throw ioError(err, file, "read the existing plan");
    }
    if (old === text) return "unchanged";
    throw new CampaignError(CampaignErrorCodes.PLAN_EXISTS, "holds another plan (other options, or another log): its results belong to it; give a new directory, or remove this one first", { file });
  }
  writeFileAtomic(file, text);
  return "written";
}

/** Reads and checks `DIR/plan.json`; `digest` is the sha256 of its bytes (results name the plan they belong to by it). */
export function readCampaign(dir: string): { campaign: CampaignFile; digest: string; file: string } {
  const file = join(dir, PLAN_FILE);
  let text: string;
  try {
    if (statSync(dir).isFile()) throw new CampaignError(CampaignErrorCodes.NOT_A_PLAN, "is a file: give the campaign directory (the one lwlog crashes LOG --plan DIR made)", { file: dir });
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (err instanceof CampaignError) throw err;
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new CampaignError(CampaignErrorCodes.NOT_A_PLAN, "no such file: not a campaign directory (lwlog crashes LOG … --plan DIR --jobs-count N makes one)", { file });
    }
    throw ioError(err, file, "read the campaign's plan");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CampaignError(CampaignErrorCodes.NOT_A_PLAN, "is not JSON: not a campaign plan", { file });
  }
  const head = z.object({ format: z.string(), version: z.number() }).safeParse(json);
  if (!head.success || head.data.format !== CAMPAIGN_FORMAT) throw new CampaignError(CampaignErrorCodes.NOT_A_PLAN, `is not an lwlog campaign plan (no "format": "${CAMPAIGN_FORMAT}")`, { file });
  if (head.data.version !== CAMPAIGN_VERSION) throw new CampaignError(CampaignErrorCodes.NOT_A_PLAN, `is a version ${head.data.version} plan; this lwlog reads version ${CAMPAIGN_VERSION} (use the lwlog that made it)`, { file });
  const parsed = campaignSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CampaignError(CampaignErrorCodes.NOT_A_PLAN, `is damaged: ${issue.path.join(".") || "the document"}: ${issue.message}`, { file });
  }
  const c = parsed.data as CampaignFile;
  let at = 0;
  c.jobs.forEach((j, k) => {
    if (j.job !== k || j.first !== at || j.end < j.first) throw new CampaignError(CampaignErrorCodes.NOT_A_PLAN, `is damaged: job ${k} does not take up where job ${k - 1} ended`, { file });
    at = j.end;
  });
  if (at !== c.plan.states) throw new CampaignError(CampaignErrorCodes.NOT_A_PLAN, `is damaged: its jobs hold ${at} states, the plan ${c.plan.states}`, { file });
  return { campaign: c, digest: createHash("sha256").update(text).digest("hex"), file };
}

/** Writes a file by a temporary file renamed over it, synced first: readers see all of it or nothing. */
export function writeFileAtomic(file: string, text: string): void {
  const temp = `${file}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  try {
    const fd = openSync(temp, "wx");
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw ioError(err, file, "write");
  }
  // The rename itself is durable once the directory is synced.
  try {
    const dfd = openSync(dirname(file), "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // a directory that cannot be opened or synced (some network file systems): the rename stands
  }
}

function canonicalOptions(o: CampaignOptions): CampaignOptions {
  const out: CampaignOptions = { rules: o.rules.map((r) => (typeof r === "object" ? { every: r.every } : r)), tail: o.tail, torn: o.torn, maxExhaustive: o.maxExhaustive, seed: o.seed, size: o.size, minimise: o.minimise };
  if (o.fromMark !== undefined) out.fromMark = o.fromMark;
  if (o.untilMark !== undefined) out.untilMark = o.untilMark;
  if (o.samples !== undefined) out.samples = o.samples;
  return out;
}

function canonicalJudge(j: CampaignJudge): CampaignJudge {
  const out: CampaignJudge = {};
  if (j.fs !== undefined) out.fs = j.fs;
  if (j.exec !== undefined) out.exec = j.exec;
  if (j.persisted !== undefined) out.persisted = { file: j.persisted.file, text: j.persisted.text };
  return out;
}

const count = z.number().int().nonnegative();
const rule = z.union([z.enum(["flush", "fua", "mark", "all"]), z.object({ every: z.number().int().positive() })]);
const cost = z.object({ replayBytes: z.number(), stateBytes: z.number(), judgeBytes: z.number(), total: z.number() });
const campaignSchema = z.object({
  format: z.literal(CAMPAIGN_FORMAT),
  version: z.literal(CAMPAIGN_VERSION),
  log: z.object({ path: z.string(), relative: z.string(), bytes: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  options: z.object({
    rules: z.array(rule).min(1),
    fromMark: z.string().optional(),
    untilMark: z.string().optional(),
    tail: z.boolean(),
    torn: z.boolean(),
    maxExhaustive: z.number().int().positive(),
    samples: z.number().int().positive().optional(),
    seed: count,
    size: z.union([count, z.literal("auto")]),
    minimise: count,
  }),
  judge: z.object({ fs: z.enum(["ext4", "xfs", "btrfs", "auto"]).optional(), exec: z.string().optional(), persisted: z.object({ file: z.string(), text: z.string() }).optional() }),
  plan: z.object({ points: count, states: count, digest: z.string() }),
  cost: z.object({ judgeBytes: z.number(), imageBytes: z.number() }),
  jobs: z.array(z.object({ job: count, first: count, end: count, points: z.tuple([count, count]).nullable(), shared: z.array(count), cost })).min(1),
});
