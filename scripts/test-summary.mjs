#!/usr/bin/env node
// Sums the vitest JSON reports every workspace wrote during `npm test` and prints
// one line, `N passed, N failed`, which is what CI reads. A workspace whose test
// run crashed before writing its report counts as one failure, so a broken suite
// can never look green.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const workspaces = ["packages", "apps"].flatMap((dir) =>
  readdirSync(join(root, dir), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(root, dir, d.name)),
);

let passed = 0;
let failed = 0;
const missing = [];
for (const ws of workspaces) {
  const pkg = JSON.parse(readFileSync(join(ws, "package.json"), "utf8"));
  if (!pkg.scripts?.test) continue;
  const report = join(ws, ".vitest-results.json");
  if (!existsSync(report)) {
    missing.push(pkg.name);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(report, "utf8"));
  passed += r.numPassedTests ?? 0;
  // Files that failed to load count as failures too: their tests never ran.
  failed += (r.numFailedTests ?? 0) + countFilesFailedWithoutTests(r);
}
for (const name of missing) console.error(`no test report from ${name}: its test run did not finish`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;

function countFilesFailedWithoutTests(r) {
  // numFailedTestSuites is no help here: vitest counts failed describe blocks in it too. A
  // test file that failed with no failed test in it failed to load or collect.
  let n = 0;
  for (const file of r.testResults ?? []) {
    if (file.status === "failed" && !(file.assertionResults ?? []).some((a) => a.status === "failed")) n += 1;
  }
  return n;
}
