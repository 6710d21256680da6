import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** One side of a comparison: a command line run as a child process. */
export interface Subject {
  /** Short name printed in the table: `lwlog`, `cat`, `replay-log`, `qemu-nbd`. */
  name: string;
  /** Program and arguments (run directly, or through `sh -c` when `shell` is set). */
  argv: string[];
  shell?: boolean;
  /** Run before each timed run of this subject (not timed): remove an output file, start a server… */
  before?: () => void;
  /** Run after each timed run (not timed). */
  after?: () => void;
}

/** A named benchmark: the files it needs, then the subjects run on them. */
export interface Scenario {
  name: string;
  /** What it measures and the goal, one line (printed with the results). */
  goal: string;
  /** Makes the input files (cached across runs when they already exist) and returns the subjects. */
  setup(ctx: BenchContext): Promise<ScenarioRun> | ScenarioRun;
}

/** What a scenario's setup returns. */
export interface ScenarioRun {
  /** The thing measured (lwlog) first, then what it is compared with. */
  subjects: Subject[];
  /** Optional: a ratio goal, `lwlog / subjects[1]` at most this. */
  maxRatio?: number;
  /** Optional: ratio goals against named subjects, `lwlog / subject` at most this (with or instead of `maxRatio`). */
  goals?: Record<string, number>;
  /** Optional: a line printed with the results (what the subjects do alike: sync, where the image is). */
  note?: string;
  /** Optional: peak memory goal for the first subject, in MiB. */
  maxRssMiB?: number;
  /** Called once at the end (stop servers, remove outputs). */
  teardown?: () => void;
  /** Custom runner for scenarios that are not one command per subject (e.g. a server plus a client). */
  custom?: (runs: number) => Promise<CustomResult>;
}

/** Results of a custom scenario, printed as given. */
export interface CustomResult {
  lines: string[];
  json: unknown;
}

/** Where scenarios keep their input files, and the settings of this run. */
export interface BenchContext {
  /** Directory for generated inputs (kept between runs; `--fresh` clears it). */
  dataDir: string;
  /** Root of the repository. */
  root: string;
  /** The built lwlog entry point (`apps/lwlog/dist/main.js`). */
  lwlog: string[];
  /** Size scale: 1 = the sizes the issues name (1 GiB logs); smaller for a quick look. */
  scale: number;
  runs: number;
}

/** One timed run. */
export interface Sample {
  seconds: number;
  maxRssKiB: number;
}

/** Runs a command once under GNU time, returning wall seconds and peak RSS. */
export function timeOnce(s: Subject): Sample {
  s.before?.();
  const argv = s.shell ? ["sh", "-c", s.argv.join(" ")] : s.argv;
  const start = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "LWLOG_BENCH_RSS %M", ...argv], {
    encoding: "utf8",
    stdio: ["ignore", "ignore", "pipe"],
    maxBuffer: 64 << 20,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  s.after?.();
  const m = /LWLOG_BENCH_RSS (\d+)/.exec(r.stderr ?? "");
  if (r.status !== 0) throw new Error(`${s.name}: ${argv.join(" ")} exited ${r.status}\n${r.stderr}`);
  return { seconds, maxRssKiB: m ? Number(m[1]) : 0 };
}

/** Median of some numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Summary of one subject over all runs. */
export interface SubjectResult {
  name: string;
  command: string;
  samples: Sample[];
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  maxRssMiB: number;
}

/** The results of one scenario. */
export interface ScenarioResult {
  scenario: string;
  goal: string;
  runs: number;
  subjects: SubjectResult[];
  /** Median time of the first subject divided by each other's (lower is better for lwlog). */
  ratios: Record<string, number>;
  /**
   * The spread of each ratio: the lowest and highest of the per-run ratios (run i of the
   * first subject over run i of the other: they ran one after the other, alternated).
   */
  spreads: Record<string, [number, number]>;
  maxRatio?: number;
  goals?: Record<string, number>;
  note?: string;
  maxRssMiB?: number;
  met?: boolean;
  custom?: unknown;
}

/**
 * Runs every subject `runs` times, alternating (A B A B …) after one untimed warm-up
 * each, so that cache state and machine load fall on all subjects alike.
 */
export async function runScenario(scenario: Scenario, ctx: BenchContext, out: (line: string) => void): Promise<ScenarioResult> {
  const run = await scenario.setup(ctx);
  try {
    if (run.custom) {
      const c = await run.custom(ctx.runs);
      out(`\n${scenario.name}: ${scenario.goal}`);
      for (const l of c.lines) out(`  ${l}`);
      return { scenario: scenario.name, goal: scenario.goal, runs: ctx.runs, subjects: [], ratios: {}, spreads: {}, custom: c.json };
    }
    for (const s of run.subjects) timeOnce(s); // warm-up: page cache, JIT of nothing, lazy files
    const samples = run.subjects.map(() => [] as Sample[]);
    for (let i = 0; i < ctx.runs; i++) {
      run.subjects.forEach((s, j) => samples[j]!.push(timeOnce(s)));
    }
    const subjects = run.subjects.map((s, j) => {
      const secs = samples[j]!.map((x) => x.seconds);
      return {
        name: s.name,
        command: s.argv.join(" "),
        samples: samples[j]!,
        medianSeconds: median(secs),
        minSeconds: Math.min(...secs),
        maxSeconds: Math.max(...secs),
        maxRssMiB: Math.max(...samples[j]!.map((x) => x.maxRssKiB)) / 1024,
      };
    });
    const ratios: Record<string, number> = {};
    const spreads: Record<string, [number, number]> = {};
    for (const [j, s] of subjects.entries()) {
      if (j === 0) continue;
      const key = `${subjects[0]!.name}/${s.name}`;
      ratios[key] = subjects[0]!.medianSeconds / s.medianSeconds;
      const each = samples[0]!.map((x, i) => x.seconds / samples[j]![i]!.seconds);
      spreads[key] = [Math.min(...each), Math.max(...each)];
    }
    const result: ScenarioResult = { scenario: scenario.name, goal: scenario.goal, runs: ctx.runs, subjects, ratios, spreads };
    if (run.maxRatio !== undefined) result.maxRatio = run.maxRatio;
    if (run.goals !== undefined) result.goals = run.goals;
    if (run.note !== undefined) result.note = run.note;
    if (run.maxRssMiB !== undefined) result.maxRssMiB = run.maxRssMiB;
    const first = Object.values(ratios)[0];
    let ratioOk = run.maxRatio === undefined || (first !== undefined && first <= run.maxRatio);
    for (const [name, max] of Object.entries(run.goals ?? {})) {
      const r = ratios[`${subjects[0]!.name}/${name}`];
      if (r !== undefined && r > max) ratioOk = false;
    }
    const rssOk = run.maxRssMiB === undefined || subjects[0]!.maxRssMiB <= run.maxRssMiB;
    if (run.maxRatio !== undefined || run.goals !== undefined || run.maxRssMiB !== undefined) result.met = ratioOk && rssOk;
    printResult(result, out);
    return result;
  } finally {
    run.teardown?.();
  }
}

function printResult(r: ScenarioResult, out: (line: string) => void): void {
  out(`\n${r.scenario}: ${r.goal}`);
  if (r.note !== undefined) out(`  (${r.note})`);
  out(`  ${"subject".padEnd(12)} ${"median s".padStart(9)} ${"min s".padStart(8)} ${"max s".padStart(8)} ${"peak RSS".padStart(10)}`);
  for (const s of r.subjects) {
    out(
      `  ${s.name.padEnd(12)} ${s.medianSeconds.toFixed(3).padStart(9)} ${s.minSeconds.toFixed(3).padStart(8)} ${s.maxSeconds.toFixed(3).padStart(8)} ${`${s.maxRssMiB.toFixed(0)} MiB`.padStart(10)}`,
    );
  }
  for (const [k, v] of Object.entries(r.ratios)) {
    const [lo, hi] = r.spreads[k]!;
    out(`  ratio ${k} = ${v.toFixed(2)} (runs ${lo.toFixed(2)}–${hi.toFixed(2)})`);
  }
  if (r.met !== undefined) {
    const goals = [
      r.maxRatio !== undefined ? `ratio ≤ ${r.maxRatio}` : "",
      ...Object.entries(r.goals ?? {}).map(([name, max]) => `/${name} ≤ ${max}`),
      r.maxRssMiB !== undefined ? `peak RSS ≤ ${r.maxRssMiB} MiB` : "",
    ]
      .filter(Boolean)
      .join(", ");
    out(`  goal (${goals}): ${r.met ? "met" : "NOT met"}`);
  }
}

/** Writes all results as JSON to `bench/results/<stamp>.json` and returns the path. */
export function saveResults(root: string, results: ScenarioResult[]): string {
  const dir = join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2) + "\n");
  return file;
}
