import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir } from "@lwlog/testkit";
import { DOMParser } from "linkedom";
import { runLwlog } from "../testing.js";
import { campaignFixture, comparable, lwlogCommand, type CampaignFixture } from "./test-campaign.js";

// A campaign of sampled states (the seed decides them) run by processes of the built CLI
// (apps/lwlog/dist, which npm test builds first), one of them killed with SIGKILL as a lost
// host or a preempted pod is, then rerun: the merged report is the one-machine run's with the
// same seed, as is --parallel's; and a campaign where every state passes exits 0 as one run does.

const tmp = makeTempDir("lwlog-campaign-sampled-");
afterAll(() => tmp.cleanup());

let fx: CampaignFixture;
let lwlog: string;
/** Sampling: 4 states at each point (of 4 to 32), 14 in all. */
const SAMPLED = ["--max-exhaustive", "4", "--samples", "14", "--seed", "11"];

beforeAll(async () => {
  fx = await campaignFixture(tmp.path);
  lwlog = lwlogCommand(tmp.path);
});

/** The elements of an SVG picture that a selector picks. */
function svgMarks(svg: string) {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  return (sel: string) => [...doc.querySelectorAll(sel)];
}

/** A job's result records without their timing fields. */
function records(dir: string, job: number): unknown[] {
  return readFileSync(join(dir, "results", `${job}.ndjson`), "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const { seconds: _s, ...rest } = JSON.parse(l);
      return rest;
    });
}

/** Runs `lwlog crashes run DIR --job K` as its own process; killed with SIGKILL once its partial file holds `killAfter` lines. */
function runJob(dir: string, job: number, killAfter?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(lwlog, ["crashes", "run", dir, "--job", String(job), "-q"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let timer: NodeJS.Timeout | undefined;
    if (killAfter !== undefined) {
      const results = join(dir, "results");
      timer = setInterval(() => {
        const partial = existsSync(results) ? readdirSync(results).find((n) => n.endsWith(".partial")) : undefined;
        if (partial !== undefined && readFileSync(join(results, partial), "utf8").split("\n").length > killAfter) {
          clearInterval(timer);
          child.kill("SIGKILL");
        }
      }, 5);
    }
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe("a campaign of sampled states, jobs as processes", () => {
  it("a job killed with SIGKILL and rerun writes the uninterrupted job's records; the report and --parallel are the one-machine run's with the same seed", async () => {
    const single = await runLwlog(["crashes", fx.log, "--exec", fx.check, ...SAMPLED, "--json"]);
    const doc = JSON.parse(single.stdout);
    expect(doc.states).toBe(14);
    expect(single.code).toBe(1);
    // The seed decides the states: another seed samples others.
    const planned = async (seed: string) =>
      (await runLwlog(["crashes", fx.log, "--exec", fx.check, ...SAMPLED.slice(0, 4), "--seed", seed, "--ndjson", "--dry-run"])).stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).id as string);
    const ids = await planned("11");
    expect(ids).toHaveLength(14);
    expect(new Set(doc.failures.map((f: { id: string }) => f.id)).size).toBeGreaterThan(0);
    expect(await planned("12")).not.toEqual(ids);

    const dir = join(tmp.path, "camp");
    const slow = `sleep 0.05; ${fx.check}`;
    expect((await runLwlog(["crashes", fx.log, "--exec", slow, ...SAMPLED, "--plan", dir, "--jobs-count", "2"])).code).toBe(0);
    const ref = join(tmp.path, "ref");
    expect((await runLwlog(["crashes", fx.log, "--exec", slow, ...SAMPLED, "--plan", ref, "--jobs-count", "2"])).code).toBe(0);
    for (const job of [0, 1]) expect((await runJob(ref, job)).code).toBe(0);

    const killed = await runJob(dir, 0, 3);
    expect(killed.signal).toBe("SIGKILL");
    expect(existsSync(join(dir, "results", "0.ndjson"))).toBe(false);
    expect(readdirSync(join(dir, "results")).filter((n) => n.endsWith(".partial"))).toHaveLength(1);
    // Missing jobs, a failure or not: the report says which.
    const partial = await runLwlog(["crashes", "report", dir, "--json"]);
    expect(JSON.parse(partial.stdout).campaign).toMatchObject({ complete: 0, missing: [0, 1], partial: [{ job: 0 }] });
    // Its picture: every crash point's states not judged yet, none passed or failed.
    const svg = join(tmp.path, "partial.svg");
    expect((await runLwlog(["crashes", "report", dir, "--plot", svg])).code).toBe(75);
    const marks = svgMarks(readFileSync(svg, "utf8"));
    expect(marks("g.crash_missing_marks path")).toHaveLength(doc.points);
    expect(marks("g.crash_passed_marks path")).toHaveLength(0);
    expect(marks("g.crash_failed_marks path")).toHaveLength(0);
    for (const job of [0, 1]) expect((await runJob(dir, job)).code).toBe(0);
    for (const job of [0, 1]) expect(records(dir, job)).toEqual(records(ref, job));
    expect(readdirSync(join(dir, "results")).filter((n) => n.endsWith(".partial"))).toEqual([]);

    const rep = await runLwlog(["crashes", "report", dir, "--json"]);
    expect(rep.code).toBe(single.code);
    const whole = join(tmp.path, "whole.svg");
    expect((await runLwlog(["crashes", "report", dir, "--plot", whole])).code).toBe(1);
    expect(svgMarks(readFileSync(whole, "utf8"))("g.crash_missing_marks path")).toHaveLength(0);
    expect({ ...comparable(JSON.parse(rep.stdout)), judge: "" }).toEqual({ ...comparable(doc), judge: "" });
    const par = await runLwlog(["crashes", fx.log, "--exec", fx.check, ...SAMPLED, "--parallel", "2", "--json"]);
    expect(par.code).toBe(single.code);
    expect(comparable(JSON.parse(par.stdout))).toEqual(comparable(doc));
  }, 240_000);

  it("every state passing: the report exits 0 with the one-machine run's summary", async () => {
    const single = await runLwlog(["crashes", fx.log, "--exec", "true", ...SAMPLED]);
    expect(single.code).toBe(0);
    const dir = join(tmp.path, "passing");
    expect((await runLwlog(["crashes", fx.log, "--exec", "true", ...SAMPLED, "--plan", dir, "--jobs-count", "3", "-q"])).code).toBe(0);
    // One job missing and nothing failed: 75, try again later.
    for (const job of [0, 2]) expect((await runLwlog(["crashes", "run", dir, "--job", String(job), "-q"])).code).toBe(0);
    expect((await runLwlog(["crashes", "report", dir])).code).toBe(75);
    expect((await runLwlog(["crashes", "run", dir, "-q"], { env: { JOB_COMPLETION_INDEX: "1" } })).code).toBe(0);
    const rep = await runLwlog(["crashes", "report", dir]);
    expect(rep.code).toBe(0);
    const summary = (t: string) => t.split("\n")[0]!.replace(/, [0-9.]+ s$/, "");
    expect(summary(rep.stdout)).toBe(summary(single.stdout));
    expect(summary(rep.stdout)).toBe("14 states: 14 passed, 0 failed");
  }, 120_000);

  it("JOB_COMPLETION_INDEX: --job wins over it; a value that is not a job number is refused (exit 2)", async () => {
    const dir = join(tmp.path, "env");
    expect((await runLwlog(["crashes", fx.log, "--exec", "true", ...SAMPLED, "--plan", dir, "--jobs-count", "2", "-q"])).code).toBe(0);
    for (const bad of ["x", "-1", "1.5"]) {
      const r = await runLwlog(["crashes", "run", dir], { env: { JOB_COMPLETION_INDEX: bad } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`JOB_COMPLETION_INDEX must be a job number (0, 1, …), not ${JSON.stringify(bad)}`);
    }
    const r = await runLwlog(["crashes", "run", dir, "--job", "1", "--json"], { env: { JOB_COMPLETION_INDEX: "0" } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ job: 1 });
    expect(existsSync(join(dir, "results", "0.ndjson"))).toBe(false);
  });
});
