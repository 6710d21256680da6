/**
 * Issue 11's data-safety rules on the commands added since: `crashes --state ID --to IMG`,
 * `crashes report --plot OUT` and `replay-log --replay IMG` never write over their log
 * (through hard or symbolic links), never replace a FIFO or a device node, and leave no
 * partial output and no summary after an error.
 */
import { linkSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, run, sha256File } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import { sampleLog } from "./test-logs.js";

const tmp = makeTempDir("lwlog-crashes-outputs-");
const p = (name: string) => join(tmp.path, name);
let log: string;
let plan: string;
let stateId: string;

beforeAll(async () => {
  log = await sampleLog(tmp.path, "in.log");
  const states = await runLwlog(["crashes", log, "--dry-run", "--ndjson", "-q"]);
  expect(states.code, states.stderr).toBe(0);
  stateId = JSON.parse(states.stdout.split("\n").find((l) => l.includes('"id"'))!).id;
  plan = p("plan");
  expect((await runLwlog(["crashes", log, "--exec", "true", "--plan", plan, "--jobs-count", "1", "-q"])).code).toBe(0);
});
afterAll(() => tmp.cleanup());

const COMMANDS: Record<string, { argv: (out: string) => string[]; code: number }> = {
  "crashes --state --to": { argv: (out) => ["crashes", log, "--state", stateId, "--to", out, "--force"], code: 2 },
  "crashes report --plot": { argv: (out) => ["crashes", "report", plan, "--plot", out, "--force"], code: 2 },
  "replay-log --replay": { argv: (out) => ["replay-log", "--log", log, "--replay", out], code: 1 },
};

describe("the commands added since issue 11 keep its data-safety rules", () => {
  for (const [name, c] of Object.entries(COMMANDS)) {
    it(`${name}: the log through a hard or a symbolic link is refused (LWLOG_TARGET_IS_LOG), nothing written`, async () => {
      const tag = name.replace(/\W/g, "");
      const hard = p(`hard-${tag}`);
      const soft = p(`soft-${tag}`);
      linkSync(log, hard);
      symlinkSync(log, soft);
      const before = sha256File(log);
      for (const out of [log, hard, soft]) {
        const r = await runLwlog(c.argv(out));
        expect(r.code, `${name} ${out}: ${r.stderr}`).toBe(c.code);
        expect(r.stderr).toMatch(new RegExp(`^lwlog: error: ${out}: is the (input|log) itself \\(${log}\\).*\\[LWLOG_TARGET_IS_LOG\\]\\n$`));
        expect(r.stdout).toBe("");
      }
      expect(sha256File(log)).toBe(before);
      expect(lstatSync(soft).isSymbolicLink()).toBe(true);
      expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
    });
  }

  for (const name of ["crashes --state --to", "replay-log --replay"]) {
    it(`${name}: a FIFO or a character device is refused, never replaced, and no summary is printed`, async () => {
      const tag = name.replace(/\W/g, "");
      const fifo = p(`fifo-${tag}`);
      run("mkfifo", [fifo]);
      const node = p(`null-${tag}`);
      run("mknod", [node, "c", "1", "3"]);
      for (const out of [fifo, node]) {
        const r = await runLwlog(COMMANDS[name]!.argv(out));
        expect(r.code, r.stderr).toBe(COMMANDS[name]!.code);
        expect(r.stderr).toMatch(/\[LWLOG_TARGET_KIND\]\n$/);
        expect(r.stdout).toBe("");
      }
      expect(lstatSync(fifo).isFIFO()).toBe(true);
      expect(lstatSync(node).isCharacterDevice()).toBe(true);
      expect(statSync(node).rdev).toBe(statSync("/dev/null").rdev);
    });
  }

  it("crashes --plan DIR: a plan.json that is a FIFO is refused at once (not read, not replaced)", async () => {
    const dir = p("fifo-plan");
    mkdirSync(dir);
    const fifo = join(dir, "plan.json");
    run("mkfifo", [fifo]);
    const r = await runLwlog(["crashes", log, "--exec", "true", "--plan", dir, "--jobs-count", "1", "-q"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${fifo}: is not a regular file (a FIFO, a device?): not replaced; give a new directory [LWLOG_PLAN_EXISTS]`);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });
});
