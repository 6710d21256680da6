import { mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runScenario, saveResults, type BenchContext, type ScenarioResult } from "./harness.js";
import { scenarios } from "./scenarios/index.js";

const USAGE = `usage: npm run bench -- [SCENARIO...] [--runs N] [--scale X] [--data DIR] [--fresh] [--list]

Runs each scenario's subjects (lwlog, then its peer or the I/O limit) alternately on the
same files, N times each after a warm-up (default 5), and prints medians, min/max (the
noise), peak memory and the ratio lwlog/peer. Results are also saved as JSON under
bench/results/. --scale 0.1 makes the inputs ten times smaller for a quick look.`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
let runs = 5;
let scale = 1;
let dataDir = process.env.LWLOG_BENCH_DIR ?? "/var/tmp/lwlog-bench";
let fresh = false;
const names: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === "--runs") runs = Number(args[++i]);
  else if (a === "--scale") scale = Number(args[++i]);
  else if (a === "--data") dataDir = resolve(args[++i]!);
  else if (a === "--fresh") fresh = true;
  else if (a === "--list") {
    for (const s of scenarios) console.log(`${s.name.padEnd(24)} ${s.goal}`);
    process.exit(0);
  } else if (a === "--help" || a === "-h") {
    console.log(USAGE);
    process.exit(0);
  } else names.push(a);
}
if (!Number.isInteger(runs) || runs < 1 || !(scale > 0)) {
  console.error(USAGE);
  process.exit(2);
}
const unknown = names.filter((n) => !scenarios.some((s) => s.name === n));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(", ")} (--list shows them)`);
  process.exit(2);
}
if (fresh) rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });
const ctx: BenchContext = { dataDir, root, lwlog: [process.execPath, join(root, "apps/lwlog/dist/main.js")], scale, runs };
const chosen = names.length > 0 ? scenarios.filter((s) => names.includes(s.name)) : scenarios;
console.log(`lwlog bench: ${chosen.length} scenario(s), ${runs} runs each, scale ${scale}, inputs in ${dataDir}`);
const results: ScenarioResult[] = [];
for (const s of chosen) results.push(await runScenario(s, ctx, (l) => console.log(l)));
console.log(`\nresults: ${saveResults(root, results)}`);
