import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { SUPER_FIELDS } from "@lwlog/codec";
import { kernelLogs, makeTempDir, testDataDir } from "@lwlog/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { excerpt, logMutation, mutateLog, mutateText, textMutation } from "./test-mutations.js";
import { runLwlog, type CliRun } from "./testing.js";

// Every command that reads a log or an export (crashes and replay-log included), run in-process on mutated real logs (excerpts
// of the kernel logs, the samples, the bad fixtures) and mutated exports (NDJSON, JSON, CSV
// with --data base64), with the promises each run must keep whatever its input: an exit code
// in the documented set, never 70 (a bug) nor a stack trace; a failure said as
// `lwlog: error: … [LWLOG_…]`; no stdout on an error where the command promises that; the
// inputs unchanged (hashed before and after); a new output file left only by a success, an
// existing one never replaced unasked, nor by a failure; memory bounded by what the files
// hold. Seeded: the same inputs every run. LWLOG_FUZZ_RUNS scales the number of inputs (it
// is sized for a few tens of seconds in CI), LWLOG_FUZZ_SEED picks other ones (fast-check
// prints the seed and the shrunk input of a failure, to replay it).

const scale = Number(process.env.LWLOG_FUZZ_RUNS ?? 1);
const seed = process.env.LWLOG_FUZZ_SEED === undefined ? 20_251_111 : Number(process.env.LWLOG_FUZZ_SEED);
const tmp = makeTempDir("lwlog-cli-fuzz-");
// Hundreds of files written and read back: in memory when /dev/shm is there.
const shm = existsSync("/dev/shm") ? mkdtempSync("/dev/shm/lwlog-cli-fuzz-") : undefined;
const work = shm ?? tmp.path;
const logCorpus: { name: string; bytes: Uint8Array }[] = [];
const exportCorpus: { name: string; format: "ndjson" | "json" | "csv"; sectorSize: number; text: string }[] = [];
let clean = "";

beforeAll(async () => {
  for (const k of kernelLogs()) {
    for (const from of [0, Math.floor(k.entries / 2), k.entries - 10]) {
      logCorpus.push({ name: `${k.file}@${from}`, bytes: excerpt(k.path, from, k.superblock.sectorsize === 512 ? 16 << 10 : 48 << 10) });
    }
  }
  for (const dir of ["samples", "bad"]) {
    for (const f of readdirSync(join(testDataDir, dir)).filter((n) => n.endsWith(".log"))) {
      const bytes = new Uint8Array(readFileSync(join(testDataDir, dir, f)));
      if (bytes.length <= 64 << 10) logCorpus.push({ name: `${dir}/${f}`, bytes });
    }
  }
  clean = join(work, "clean.log");
  writeFileSync(clean, logCorpus[0]!.bytes);
  // Exports of a few logs, each format, with the data (what import needs).
  const sources = logCorpus.filter((c) => /@0$|samples\/(mark|tail-entries|sector-4096|flush-fua)/.test(c.name));
  for (const src of sources) {
    const path = join(work, "source.log");
    writeFileSync(path, src.bytes);
    const sectorSize = new DataView(src.bytes.buffer, src.bytes.byteOffset).getUint32(SUPER_FIELDS.sectorSize, true);
    for (const format of ["ndjson", "json", "csv"] as const) {
      const r = await runLwlog(["export", path, "--format", format, "--data", "base64"]);
      expect(r.code, r.stderr).toBe(0);
      exportCorpus.push({ name: `${src.name}.${format}`, format, sectorSize, text: r.stdout });
    }
  }
});
afterAll(() => {
  tmp.cleanup();
  if (shm !== undefined) rmSync(shm, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// The promises of every run.

/** One run of a command: what it reads, what it may write. */
interface Run {
  args: string[];
  /** Files the run reads: they must come out unchanged. */
  inputs: string[];
  /** A file that did not exist: it may exist afterwards only if the run succeeded. */
  creates?: string;
  /** A file that existed (a sentinel): only a successful run with --force may replace it. */
  existing?: { path: string; force: boolean };
  /** The command promises no stdout when it fails (it prints only once it has read everything). */
  noPartial?: boolean;
  /** Exit 1 is an answer (invalid, different, not found), said without an error line. */
  answerIsOne?: boolean;
  /** The exit codes this run may give (default 0, 1, 2). */
  codes?: number[];
  /** Made before the run (an image replay-log writes onto: it creates none). */
  prepare?: () => void;
  /** A directory the run may use and must leave empty (a scratch space). */
  leavesEmpty?: string;
}

const SENTINEL = "precious: not to be replaced unasked\n";
const sha = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

async function check(run: Run): Promise<CliRun> {
  const before = run.inputs.map((p) => sha(readFileSync(p)));
  if (run.creates !== undefined) rmSync(run.creates, { force: true });
  if (run.existing !== undefined) writeFileSync(run.existing.path, SENTINEL);
  run.prepare?.();
  const r = await runLwlog(run.args);
  const what = `lwlog ${run.args.join(" ")}\nexit ${r.code}\nstderr: ${r.stderr}`;
  expect(run.codes ?? [0, 1, 2], what).toContain(r.code);
  const key = `${run.args[0]} ${r.code}`;
  stats[key] = (stats[key] ?? 0) + 1;
  // LWLOG_FUZZ_STATS=1: how each command ended, with a few of its messages (is the fuzzer reaching past the first check?).
  if (r.stderr && (samples[key] ??= new Set()).size < 3) samples[key]!.add(r.stderr.slice(0, 200).replace(/\/dev\/shm\/[^ :]*\//g, ""));
  expect(r.stderr, what).not.toMatch(/internal error|\n\s+at .+:\d+:\d+/);
  for (const line of r.stderr.split("\n").filter((l) => /^lwlog: .*error/.test(l))) {
    expect(line, what).toMatch(/^lwlog: error: .+ \[LWLOG_[A-Z0-9_]+\]$/);
  }
  if (r.code === 2 || (r.code === 1 && !run.answerIsOne)) expect(r.stderr, what).toMatch(/^lwlog: error: .+ \[LWLOG_[A-Z0-9_]+\]$/m);
  if (r.code !== 0 && run.noPartial && !(r.code === 1 && run.answerIsOne)) expect(r.stdout, what).toBe("");
  expect(
    run.inputs.map((p) => sha(readFileSync(p))),
    `${what}\nan input changed`,
  ).toEqual(before);
  if (run.creates !== undefined && r.code !== 0) expect(existsSync(run.creates), `${what}\na failed run left its output`).toBe(false);
  if (run.existing !== undefined && (r.code !== 0 || !run.existing.force)) {
    expect(readFileSync(run.existing.path, "utf8"), `${what}\nan existing output was replaced`).toBe(SENTINEL);
  }
  // Nothing the size of a garbage length is allocated and kept (the inputs are < 100 KiB),
  // nor filled for a while: the process's peak resident size stays near where it began.
  expect(process.memoryUsage().arrayBuffers, what).toBeLessThan(baseline + (256 << 20));
  expect(process.resourceUsage().maxRSS * 1024, what).toBeLessThan(peakBaseline + (1 << 30));
  // No temporary file is left beside an output.
  expect(readdirSync(out).filter((f) => f.includes(".tmp") || f.includes(".lwlog-")), what).toEqual([]);
  if (run.leavesEmpty !== undefined) expect(readdirSync(run.leavesEmpty), `${what}\nleft in its scratch space`).toEqual([]);
  return r;
}

let baseline = 0;
let peakBaseline = 0;
let out = "";
const stats: Record<string, number> = {};
const samples: Record<string, Set<string>> = {};
afterAll(() => {
  if (process.env.LWLOG_FUZZ_STATS) {
    console.log(Object.entries(stats).sort().map(([k, v]) => `${k}: ${v}\n    ${[...(samples[k] ?? [])].join("    ")}`).join("\n"));
  }
});
beforeAll(() => {
  baseline = process.memoryUsage().arrayBuffers;
  peakBaseline = process.resourceUsage().maxRSS * 1024;
  out = join(work, "out");
  mkdirSync(out);
});

const CONVERTS = [[], ["--sector-size", "4096"], ["--sector-size", "512", "--truncate-marks"], ["--fix-superblock"], ["--for", "qemu"], ["--for", "kernel"], ["--declared-only"]];

/** Every command that reads a log, on `log`. */
function logRuns(log: string, variant: number, existing: boolean, force: boolean): Run[] {
  const newOut = (name: string) => ({ creates: join(out, name) });
  const outFile = (name: string): { args: string[]; creates?: string; existing?: { path: string; force: boolean } } =>
    existing ? { args: ["-o", join(out, `old-${name}`), ...(force ? ["--force"] : [])], existing: { path: join(out, `old-${name}`), force } } : { args: ["-o", join(out, name)], ...newOut(name) };
  const { args: convArgs, ...conv } = outFile("conv.log");
  const { args: csvArgs, ...csv } = outFile("export.csv");
  const { args: svgArgs, ...svg } = outFile("plot.svg");
  const img = join(out, "replay.img");
  const scratch = join(work, "scratch");
  const find = [["--next-fua"], ["--next-flush"], ["--end-mark", "mkfs"], ["--limit", String(variant % 9)]][variant % 4]!;
  return [
    { args: ["info", log], inputs: [log], noPartial: true },
    { args: ["info", "--json", log], inputs: [log], noPartial: true },
    { args: ["dump", "--ndjson", "--tail", "--data", variant % 2 ? "hex" : "sha256", log], inputs: [log] },
    { args: ["dump", log, "--from", String(variant % 5), "--to", String(variant % 7 + 3)], inputs: [log] },
    { args: ["marks", "--tail", log], inputs: [log], noPartial: true },
    { args: ["check", "--json", log], inputs: [log], answerIsOne: true },
    { args: ["find", variant % 2 ? "--next-flush" : "--next-fua", "--tail", log], inputs: [log], noPartial: true, answerIsOne: true },
    { args: ["find", "--mark", "mkfs", log], inputs: [log], noPartial: true, answerIsOne: true },
    { args: ["export", "--data", "base64", log], inputs: [log] },
    { args: ["export", "--format", "csv", log, ...csvArgs], inputs: [log], noPartial: true, ...csv },
    { args: ["convert", log, ...convArgs, ...CONVERTS[variant % CONVERTS.length]!, "-q"], inputs: [log], noPartial: true, ...conv },
    { args: ["plot", log, ...svgArgs], inputs: [log], noPartial: true, ...svg },
    { args: ["replay", log, "--to", img, "--size", "128M", "-q"], inputs: [log], noPartial: true },
    { args: ["diff", "--state", log, clean], inputs: [log, clean], noPartial: true, answerIsOne: true },
    { args: ["diff", variant % 2 ? "--epochs" : "--tail", "--json", clean, log], inputs: [log, clean], noPartial: true, answerIsOne: true },
    // A log is the same as itself, or cannot be read: never "different".
    { args: ["diff", "--state", log, log], inputs: [log], noPartial: true, codes: [0, 2] },
    // The crash-state planner on every kind of point rule.
    { args: ["crashes", log, "--dry-run", "--json", "--points", variant % 2 ? "all" : "flush", ...(variant % 3 ? ["--tail"] : [])], inputs: [log], noPartial: true },
    // Crash states: the plan only, or a few states judged by a command that passes them all
    // (what is judged is the engine's business here: every state is built on a scratch view).
    { args: ["crashes", log, "--exec", "true", "--samples", String(2 + (variant % 3)), "--dry-run", ...(variant % 2 ? ["--tail"] : ["--json"])], inputs: [log], noPartial: true },
    { args: ["crashes", log, "--exec", "true", "--samples", "3", "--points", variant % 2 ? "flush" : "mark", "--minimise", "0", "--scratch", scratch, "--json"], inputs: [log], noPartial: true, leavesEmpty: scratch, prepare: () => mkdirSync(scratch, { recursive: true }) },
    // replay-log: its codes (255: --find met a broken entry); it writes onto an existing image.
    { args: ["replay-log", "--log", log, "--find", ...find], inputs: [log], noPartial: true, codes: [0, 1, 255] },
    {
      args: ["replay-log", "--log", log, "--replay", join(out, "rl.img"), ...find.filter((a) => a !== "--find"), ...(variant % 3 === 0 ? ["--fsck", "true", "--check", "fua"] : []), ...(variant % 5 === 0 ? ["--no-discard"] : [])],
      inputs: [log],
      noPartial: true,
      codes: [0, 1],
      prepare: () => writeFileSync(join(out, "rl.img"), ""),
    },
  ];
}

describe("fuzz: every command on mutated logs and exports", () => {
  it("has a corpus of real logs and exports that the commands read cleanly", async () => {
    expect(logCorpus.length).toBeGreaterThan(40);
    expect(exportCorpus.length).toBeGreaterThanOrEqual(18);
    const r = await runLwlog(["check", clean]);
    expect(r.code, r.stdout).toBe(0);
  });

  it("mutated logs: every command keeps its promises", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(logMutation, { minLength: 1, maxLength: 4 }), fc.nat(), fc.boolean(), fc.boolean(), async (base, mutations, variant, existing, force) => {
        let bytes: Uint8Array = logCorpus[base % logCorpus.length]!.bytes.slice();
        for (const m of mutations) bytes = mutateLog(bytes, m, logCorpus);
        const log = join(work, `in-${n++ % 4}.log`);
        writeFileSync(log, bytes);
        let valid = false;
        for (const run of logRuns(log, variant, existing, force)) {
          const r = await check(run);
          if (run.args[0] === "check") valid = r.code === 0;
          // A valid log converts to a valid log.
          if (run.args[0] === "convert" && r.code === 0 && valid) {
            const made = run.creates ?? run.existing!.path;
            const c = await check({ args: ["check", made], inputs: [made], answerIsOne: true });
            expect(c.code, `${run.args.join(" ")} made a log check calls invalid:\n${c.stdout}`).toBe(0);
          }
          rmSync(join(out, "replay.img"), { force: true });
          rmSync(join(out, "rl.img"), { force: true });
          // What export writes, import rebuilds: the same entries (docs/json.md).
          if (run.args[0] === "export" && run.creates === undefined && run.existing === undefined && r.code === 0) {
            const text = join(work, "roundtrip.ndjson");
            const back = join(out, "roundtrip.log");
            writeFileSync(text, r.stdout);
            await check({ args: ["import", text, "-o", back], inputs: [text], creates: back, noPartial: true, codes: [0] });
            const again = await check({ args: ["export", "--data", "base64", back], inputs: [back], codes: [0] });
            const entries = (t: string) => t.split("\n").filter((l) => l.startsWith('{"type":"entry"'));
            expect(entries(again.stdout), `${run.args.join(" ")}: the rebuilt log's entries`).toEqual(entries(r.stdout));
            rmSync(back);
          }
        }
      }),
      { seed, numRuns: Math.max(1, Math.round(40 * scale)), interruptAfterTimeLimit: 120_000 * scale, markInterruptAsFailure: false },
    );
  }, 600_000);

  it("mutated exports: import keeps its promises, and what it builds reads as a log", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(textMutation, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.boolean(), fc.boolean(), async (base, mutations, existing, fix, stdinName) => {
        const src = exportCorpus[base % exportCorpus.length]!;
        let text = src.text;
        for (const m of mutations) text = mutateText(text, m);
        // Half the inputs without an extension saying their format: import guesses it.
        const input = join(work, `in-${n++ % 4}${stdinName ? "" : `.${src.format}`}`);
        writeFileSync(input, text);
        const target = existing ? join(out, "old-import.log") : join(out, "import.log");
        const args = ["import", input, "-o", target, ...(src.format === "csv" ? ["--sector-size", String(src.sectorSize)] : []), ...(fix ? ["--fix-superblock"] : []), ...(existing ? ["--force"] : [])];
        const r = await check({
          args,
          inputs: [input],
          noPartial: true,
          ...(existing ? { existing: { path: target, force: true } } : { creates: target }),
        });
        if (r.code === 0) {
          await check({ args: ["check", target], inputs: [target], answerIsOne: true });
          await check({ args: ["diff", target, clean], inputs: [target, clean], answerIsOne: true, noPartial: true });
        }
      }),
      { seed, numRuns: Math.max(1, Math.round(150 * scale)), interruptAfterTimeLimit: 60_000 * scale, markInterruptAsFailure: false },
    );
  }, 600_000);
});
