import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { afterAll } from "vitest";
import { makeTempDir, repoRoot } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

/**
 * Every `$ lwlog crashes …` example of docs/crashes.md runs as written (from the repository's
 * root), exits as the page shows, and prints what the page shows where that does not depend
 * on the machine (tallies, failures, minimal states, ids, the plan).
 */
const doc = readFileSync(join(repoRoot, "docs/crashes.md"), "utf8");
const blocks = [...doc.matchAll(/```console\n([\s\S]*?)```/g)].map((m) => m[1]!);
const examples: { argv: string[]; output: string[]; exit: number }[] = [];
for (const block of blocks) {
  const lines = block.split("\n");
  lines.forEach((line, k) => {
    if (!line.startsWith("$ lwlog crashes ")) return;
    const output: string[] = [];
    for (let j = k + 1; j < lines.length && !lines[j]!.startsWith("$ "); j++) output.push(lines[j]!);
    const exitLine = output.find((l) => /^exit \d+$/.test(l));
    const command = line.slice(2).replace(/; echo "exit \$\?"$/, "");
    examples.push({ argv: command.split(" ").slice(1), output, exit: exitLine !== undefined ? Number(exitLine.slice(5)) : 0 });
  });
}

/** Output lines that say the same on any machine. */
const stable = (l: string) => /^(FAILED |  minimal: |  drops |  drop entry |  durable: |state cs1-|crash points: |minimal failing states:|  cs1-|reproduce one: |lwlog: state failed: |note: )/.test(l) || /^\d+ states: /.test(l) || /^ +\d+ +\d+ +\d+ +\d+  /.test(l);

const tmp = makeTempDir("lwlog-crashes-docs-");
afterAll(() => tmp.cleanup());

describe("docs/crashes.md examples", () => {
  it("has examples", () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });
  for (const ex of examples) {
    it(`lwlog ${ex.argv.join(" ")}`, async () => {
      // Files the examples write in /tmp go to this test's own directory.
      const r = await runLwlog(ex.argv.map((a) => a.replace(/^\/tmp\//, `${tmp.path}/`)), { cwd: repoRoot });
      expect(r.code, r.stderr).toBe(ex.exit);
      const got = (r.stderr + r.stdout).split("\n");
      for (const l of ex.output.filter(stable)) {
        const fixed = l.replace(/, [0-9.]+ s( \(|$)/, "").replace(/\/work\/main\//, repoRoot + "/").replace(/\/tmp\/state\.img/, `${tmp.path}/state.img`);
        expect(got.some((g) => g.replace(/, [0-9.]+ s( \(|$)/, "").startsWith(fixed)), `${l}\n--- got:\n${got.join("\n")}`).toBe(true);
      }
    }, 120_000);
  }
});
