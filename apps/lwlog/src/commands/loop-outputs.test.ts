/**
 * Every command that writes an output or a target, given a loop device whose storage is its
 * input (a loop over the log, or over the file the log was exported to): refused with
 * LWLOG_TARGET_IS_LOG before anything is written, `--force` or not, and the input intact.
 * And the other way round: an input that is a loop device, an output its backing file.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachLoop, makeTempDir, sha256File, type LoopDevice } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import { sampleLog } from "./test-logs.js";

const tmp = makeTempDir("lwlog-loop-outputs-");
const p = (name: string) => join(tmp.path, name);
const loops: LoopDevice[] = [];
let log: string;
let other: string;
let exported: string;
let plan: string;
let stateId: string;
let logLoop: string;

beforeAll(async () => {
  log = await sampleLog(tmp.path, "in.log");
  other = await sampleLog(tmp.path, "other.log");
  exported = p("in.ndjson");
  expect((await runLwlog(["export", log, "--data", "base64", "-o", exported, "-q"])).code).toBe(0);
  const states = await runLwlog(["crashes", log, "--dry-run", "--ndjson", "-q"]);
  expect(states.code, states.stderr).toBe(0);
  stateId = states.stdout
    .split("\n")
    .filter((l) => l.includes('"id"'))
    .map((l) => JSON.parse(l).id as string)[0]!;
  expect(stateId).toBeDefined();
  plan = p("plan");
  const planned = await runLwlog(["crashes", log, "--exec", "true", "--plan", plan, "--jobs-count", "1", "-q"]);
  expect(planned.code, planned.stderr).toBe(0);
  logLoop = attach(log);
});

afterAll(() => {
  for (const l of loops.reverse()) l.detach();
  tmp.cleanup();
});

function attach(file: string): string {
  const l = attachLoop(file);
  loops.push(l);
  return l.path;
}

/** Each writing command with `out` as its output or target, and the input `out` must not share storage with. */
const COMMANDS: Record<string, { input: () => string; argv: (out: string) => string[] }> = {
  replay: { input: () => log, argv: (out) => ["replay", log, "--to", out] },
  convert: { input: () => log, argv: (out) => ["convert", log, "-o", out, "--force", "-q"] },
  export: { input: () => log, argv: (out) => ["export", log, "-o", out, "--force", "-q"] },
  import: { input: () => exported, argv: (out) => ["import", exported, "-o", out, "--force", "-q"] },
  plot: { input: () => log, argv: (out) => ["plot", log, "-o", out, "--force"] },
  "diff --plot": { input: () => other, argv: (out) => ["diff", "--plot", out, "--force", log, other] },
  "crashes --state --to": { input: () => log, argv: (out) => ["crashes", log, "--state", stateId, "--to", out, "--force"] },
  "replay-log --replay": { input: () => log, argv: (out) => ["replay-log", "--log", log, "--replay", out] },
  "crashes report --plot": { input: () => log, argv: (out) => ["crashes", "report", plan, "--plot", out, "--force"] },
};

describe("an output that is a loop device over an input is refused (LWLOG_TARGET_IS_LOG), the input intact", () => {
  for (const [name, c] of Object.entries(COMMANDS)) {
    it(name, async () => {
      const input = c.input();
      const dev = input === log ? logLoop : attach(input);
      const before = sha256File(input);
      const r = await runLwlog(c.argv(dev));
      // replay-log keeps the C tool's exit status 1 for every error.
      expect(r.code, r.stderr).toBe(name === "replay-log --replay" ? 1 : 2);
      expect(r.stderr).toContain(`${dev}: shares its storage with the`);
      expect(r.stderr).toContain(`(${input}: a loop device or a partition over it)`);
      expect(r.stderr).toMatch(/\[LWLOG_TARGET_IS_LOG\]\n$/);
      expect(r.stdout).toBe("");
      expect(sha256File(input)).toBe(before);
      expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
    });
  }

  it("crashes plan-k8s -o: never the plan or the log", async () => {
    const planFile = join(plan, "plan.json");
    const before = sha256File(planFile);
    const r = await runLwlog(["crashes", "plan-k8s", plan, "--image", "lwlog:test", "--host-path", tmp.path, "-o", planFile, "--force"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${planFile}: is the input itself`);
    expect(sha256File(planFile)).toBe(before);
  });

  it("an input that is a loop device: its backing file is refused as the output", async () => {
    const before = sha256File(log);
    const r = await runLwlog(["convert", logLoop, "-o", log, "--force", "-q"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${log}: shares its storage with the input (${logLoop}: a loop device or a partition over it)`);
    expect(sha256File(log)).toBe(before);
  });

  it("record --append: an image that is the log, or a loop device over it, is refused before serving", async () => {
    const before = sha256File(log);
    for (const image of [log, logLoop]) {
      const r = await runLwlog(["record", "--log", log, "--append", "--image", image, "--listen", "127.0.0.1:0"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^lwlog: error: ${image}: (is the log itself|shares its storage with the log) \\(${log}.*recording onto it would destroy the log: give another image \\[LWLOG_TARGET_IS_LOG\\]\n$`));
      expect(r.stdout).toBe("");
    }
    expect(sha256File(log)).toBe(before);
    expect(readdirSync(tmp.path).filter((f) => f.endsWith(".ctl"))).toEqual([]);
  });
});
