#!/usr/bin/env node
// `npm test`: build every workspace, run every workspace's tests (all of them,
// even after a failure), then print the `N passed, N failed` line.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
for (const dir of ["packages", "apps"]) {
  for (const d of readdirSync(join(root, dir))) {
    const report = join(root, dir, d, ".vitest-results.json");
    if (existsSync(report)) rmSync(report);
  }
}
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", TURBO_NO_UPDATE_NOTIFIER: "1" };
const turbo = (args) => spawnSync("npx", ["turbo", ...args], { cwd: root, stdio: "inherit", env }).status ?? 1;
const extra = process.argv.slice(2);
let status = turbo(["run", "build", "--output-logs=errors-only"]);
if (status === 0) status = turbo(["run", "test", "--continue", "--concurrency=2", ...extra]);
const summary = spawnSync(process.execPath, [join(root, "scripts/test-summary.mjs")], { stdio: "inherit" });
process.exit(status !== 0 ? status : (summary.status ?? 1));
