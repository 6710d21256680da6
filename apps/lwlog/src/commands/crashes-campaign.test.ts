import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir } from "@lwlog/testkit";
import { DOMParser } from "linkedom";
import { runLwlog } from "../testing.js";
import { campaignFixture, comparable, type CampaignFixture } from "./test-campaign.js";

const tmp = makeTempDir("lwlog-campaign-cli-");
afterAll(() => tmp.cleanup());

let fx: CampaignFixture;
/** The one-machine run's --json document: what every campaign must reproduce. */
let single: Record<string, unknown>;

beforeAll(async () => {
  fx = await campaignFixture(tmp.path);
  const r = await runLwlog(["crashes", fx.log, "--exec", fx.check, "--json"]);
  expect(r.code).toBe(1);
  single = JSON.parse(r.stdout);
  expect(single).toMatchObject({ states: fx.states, failed: fx.failing, passed: fx.states - fx.failing });
});

function svgQuery(svg: string) {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  return (sel: string) => [...doc.querySelectorAll(sel)];
}

/** Result lines of a job without its timing fields. */
function resultOf(dir: string, job: number): unknown[] {
  return readFileSync(join(dir, "results", `${job}.ndjson`), "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const { seconds: _s, ...rest } = JSON.parse(l);
      return rest;
    });
}

async function plan(dir: string, jobs: number, extra: string[] = []) {
  return runLwlog(["crashes", fx.log, "--exec", fx.check, ...extra, "--plan", dir, "--jobs-count", String(jobs)]);
}

describe("lwlog crashes --plan", () => {
  it("writes plan.json with the log's sha256, the options, the judge and jobs covering every state; the same options give the same bytes", async () => {
    const dir = join(tmp.path, "plan-a");
    const r = await plan(dir, 3);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`plan: ${dir}/plan.json (written)`);
    expect(r.stdout).toMatch(/jobs: 3, contiguous ranges of states/);
    const text = readFileSync(join(dir, "plan.json"), "utf8");
    const p = JSON.parse(text);
    expect(p).toMatchObject({ format: "lwlog-crash-campaign", version: 1, log: { path: fx.log, relative: "../groups.log", bytes: statSync(fx.log).size }, judge: { exec: fx.check }, plan: { states: 60, points: 4 } });
    expect(p.log.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(p.options).toEqual({ rules: ["flush"], tail: false, torn: false, maxExhaustive: 1024, seed: 1, size: "auto", minimise: 200 });
    expect(p.jobs.map((j: { first: number; end: number }) => [j.first, j.end]).flat()[0]).toBe(0);
    expect(p.jobs[2].end).toBe(60);
    for (let k = 1; k < 3; k++) expect(p.jobs[k].first).toBe(p.jobs[k - 1].end);
    // Planned again: unchanged; removed and planned again: the same bytes.
    const again = await plan(dir, 3);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("(unchanged: the directory already holds this plan, and its results are kept)");
    rmSync(dir, { recursive: true });
    expect((await plan(dir, 3)).code).toBe(0);
    expect(readFileSync(join(dir, "plan.json"), "utf8")).toBe(text);
    // Other options in the same directory: refused, the plan kept.
    const other = await plan(dir, 3, ["--seed", "7"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/plan-a\/plan\.json: holds another plan .* give a new directory, or remove this one first \[LWLOG_PLAN_EXISTS\]/);
    expect(readFileSync(join(dir, "plan.json"), "utf8")).toBe(text);
  });

  it("needs --jobs-count and a judge; --json prints the plan", async () => {
    const dir = join(tmp.path, "plan-b");
    expect((await runLwlog(["crashes", fx.log, "--exec", "true", "--plan", dir])).stderr).toContain("--plan DIR needs --jobs-count N");
    expect((await runLwlog(["crashes", fx.log, "--plan", dir, "--jobs-count", "2"])).stderr).toContain("give a judge");
    const j = await runLwlog(["crashes", fx.log, "--exec", "true", "--plan", dir, "--jobs-count", "2", "--json"]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ status: "written", jobs: [{ job: 0 }, { job: 1 }] });
  });
});

describe("lwlog crashes run and report", () => {
  it("jobs run alone and a report merges them into the one-machine run's report (failures at shared points minimised by the report)", async () => {
    const dir = join(tmp.path, "camp");
    expect((await plan(dir, 3)).code).toBe(0);
    const p = JSON.parse(readFileSync(join(dir, "plan.json"), "utf8"));
    expect(p.jobs.some((j: { shared: number[] }) => j.shared.length > 0)).toBe(true);
    // Before any job: incomplete, exit 75, every job missing.
    const none = await runLwlog(["crashes", "report", dir, "--json"]);
    expect(none.code).toBe(75);
    expect(JSON.parse(none.stdout).campaign).toMatchObject({ jobs: 3, complete: 0, missing: [0, 1, 2] });
    expect(none.stderr).toMatch(/the campaign is not complete: 3 of 3 jobs have no result \(0, 1, 2\); run them \(lwlog crashes run \S+ --job K\) and report again\n$/);
    const r0 = await runLwlog(["crashes", "run", dir, "--job", "0"]);
    expect(r0.code).toBe(0);
    expect(r0.stdout).toMatch(/^job 0 of 3: \d+ states judged: \d+ passed, \d+ failed, [0-9.]+ s; .*results\/0\.ndjson\n$/);
    // K from JOB_COMPLETION_INDEX, as Kubernetes gives it.
    expect((await runLwlog(["crashes", "run", dir], { env: { JOB_COMPLETION_INDEX: "1" } })).code).toBe(0);
    // With a job missing and failures found: exit 1, the missing job named.
    const part = await runLwlog(["crashes", "report", dir]);
    expect(part.code).toBe(1);
    expect(part.stdout).toContain("campaign: 2 of 3 jobs complete; missing: 2");
    expect(part.stderr).toContain("1 of 3 jobs have no result (2)");
    expect((await runLwlog(["crashes", "run", dir, "--job", "2", "-q"])).code).toBe(0);
    const rep = await runLwlog(["crashes", "report", dir, "--json"]);
    expect(rep.code).toBe(1);
    const doc = JSON.parse(rep.stdout);
    expect(comparable(doc)).toEqual(comparable(single));
    expect(doc.campaign).toMatchObject({ jobs: 3, complete: 3, missing: [], waiting: [] });
    expect(doc.campaign.minimised.points).toBeGreaterThan(0);
    expect(readdirSync(join(dir, "minimised")).length).toBe(doc.campaign.minimised.points);
    // A second report takes the saved minimisation: the same document.
    const rep2 = await runLwlog(["crashes", "report", dir, "--json"]);
    const doc2 = JSON.parse(rep2.stdout);
    expect(comparable(doc2)).toEqual(comparable(single));
    expect(doc2.campaign.minimised).toMatchObject({ points: 0, checks: 0, saved: doc.campaign.minimised.failures });
    // The text report: the one-machine summary and the campaign line; a minimal state reproduces.
    const text = await runLwlog(["crashes", "report", dir]);
    expect(text.stdout).toMatch(/^60 states: 45 passed, 15 failed; \d+ minimal failing states?, [0-9.]+ s/);
    expect(text.stdout).toContain("campaign: all 3 jobs complete");
    const id = doc.minimal[0].id as string;
    expect(text.stdout).toContain(`reproduce one: lwlog crashes ${fx.log} --state ${id} --to state.img`);
    // The picture: a bar of states at every crash point, the failed ones in theirs, the lost entries marked.
    const svg = join(tmp.path, "campaign.svg");
    const pic = await runLwlog(["crashes", "report", dir, "--plot", svg]);
    expect(pic.code).toBe(1);
    expect(pic.stdout).toContain(`picture: ${svg}`);
    const all = svgQuery(readFileSync(svg, "utf8"));
    const failingPoints = new Set(doc.failures.map((f: { point: number }) => f.point)).size;
    expect(all("g.crash_passed_marks path")).toHaveLength(doc.points);
    expect(all("g.crash_failed_marks path")).toHaveLength(failingPoints);
    expect(all("g.crash_missing_marks path")).toHaveLength(0);
    const lost = new Set(doc.minimal.flatMap((m: { entries: { index: number }[] }) => m.entries.map((e) => e.index))).size;
    expect(all("g.entries_marks path").filter((p) => p.getAttribute("fill") === "#7f0000")).toHaveLength(lost);
    expect(all("g.marks_marks line")).toHaveLength(4);
    expect(all("g.crash_marks_marks line")).toHaveLength(4);
    expect((await runLwlog(["crashes", "report", dir, "--plot", svg])).stderr).toContain("already exists (refusing to overwrite it; pass --force to replace it)");
    const img = join(tmp.path, "min.img");
    expect((await runLwlog(["crashes", fx.log, "--state", id, "--to", img])).code).toBe(0);
    expect((await runLwlog(["crashes", fx.log, "--state", id, "--exec", fx.check])).code).toBe(1);
  });

  it("a job whose result is complete does nothing; run twice, killed and rerun: the same records", async () => {
    const dir = join(tmp.path, "again");
    expect((await plan(dir, 3)).code).toBe(0);
    expect((await runLwlog(["crashes", "run", dir, "--job", "1", "-q"])).code).toBe(0);
    const first = resultOf(dir, 1);
    const mtime = statSync(join(dir, "results", "1.ndjson")).mtimeMs;
    const again = await runLwlog(["crashes", "run", dir, "--job", "1", "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ job: 1, status: "complete" });
    expect(statSync(join(dir, "results", "1.ndjson")).mtimeMs).toBe(mtime);
    // Run again from scratch: the same records.
    rmSync(join(dir, "results", "1.ndjson"));
    expect((await runLwlog(["crashes", "run", dir, "--job", "1", "-q"])).code).toBe(0);
    expect(resultOf(dir, 1)).toEqual(first);
    // Killed after some states (their partial file left behind, its last line cut short): the rerun takes over whole points and shared points, and writes the same records.
    const lines = readFileSync(join(dir, "results", "1.ndjson"), "utf8").trim().split("\n");
    const p = JSON.parse(readFileSync(join(dir, "plan.json"), "utf8"));
    const job = p.jobs[1];
    const cut = Math.floor((job.end - job.first) / 2);
    writeFileSync(join(dir, "results", ".1.somehost-99999-abc.partial"), [...lines.slice(0, 1 + cut), lines[1 + cut]!.slice(0, 30)].join("\n"));
    rmSync(join(dir, "results", "1.ndjson"));
    const resumed = await runLwlog(["crashes", "run", dir, "--job", "1", "--json"]);
    expect(resumed.code).toBe(0);
    const out = JSON.parse(resumed.stdout);
    expect(out.resumed).toBeGreaterThan(0);
    expect(out.resumed).toBeLessThanOrEqual(cut);
    expect(resultOf(dir, 1)).toEqual(first);
    expect(readdirSync(join(dir, "results")).filter((n) => n.endsWith(".partial"))).toEqual([]);
  });

  it("an interrupted job exits 130 and keeps what it judged; the rerun completes it with the same records", async () => {
    const slow = join(tmp.path, "slow");
    const check = `sleep 0.02; ${fx.check}`;
    expect((await runLwlog(["crashes", fx.log, "--exec", check, "--plan", slow, "--jobs-count", "1"])).code).toBe(0);
    const results = join(slow, "results");
    // Ctrl-C once the job has recorded a few states.
    const stopped = await runLwlog(["crashes", "run", slow, "--job", "0"], {
      onInterrupt: (handler) => {
        const t = setInterval(() => {
          const partial = readdirSync(results).find((n) => n.endsWith(".partial"));
          if (partial !== undefined && readFileSync(join(results, partial), "utf8").split("\n").length > 24) {
            clearInterval(t);
            handler();
          }
        }, 10);
        return () => clearInterval(t);
      },
    });
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/job 0 interrupted; what it judged is kept in .* and a rerun takes over from there\n$/);
    expect(existsSync(join(results, "0.ndjson"))).toBe(false);
    expect(readdirSync(results).filter((n) => n.endsWith(".partial"))).toHaveLength(1);
    const rerun = await runLwlog(["crashes", "run", slow, "--job", "0", "--json"]);
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout).resumed).toBeGreaterThan(0);
    const rep = await runLwlog(["crashes", "report", slow, "--json"]);
    expect(rep.code).toBe(1);
    expect({ ...comparable(JSON.parse(rep.stdout)), judge: "" }).toEqual({ ...comparable(single), judge: "" });
  });

  it("refuses a log whose sha256 differs from the plan's (exit 2), finds a log moved with its plan, takes --log", async () => {
    const dir = join(tmp.path, "moved", "camp");
    mkdirSync(join(tmp.path, "moved"), { recursive: true });
    const log = join(tmp.path, "moved", "groups.log");
    copyFileSync(fx.log, log);
    expect((await runLwlog(["crashes", log, "--exec", fx.check, "--plan", dir, "--jobs-count", "2"])).code).toBe(0);
    // Moved with the log beside it: found by its relative path.
    const there = join(tmp.path, "elsewhere");
    mkdirSync(join(there, "camp"), { recursive: true });
    copyFileSync(join(dir, "plan.json"), join(there, "camp", "plan.json"));
    copyFileSync(log, join(there, "groups.log"));
    rmSync(log);
    const r = await runLwlog(["crashes", "run", join(there, "camp"), "--job", "0", "--json"]);
    expect(r.code).toBe(0);
    // A changed log (same size): refused, nothing written.
    const bytes = readFileSync(join(there, "groups.log"));
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(join(there, "groups.log"), bytes);
    const bad = await runLwlog(["crashes", "run", join(there, "camp"), "--job", "1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^lwlog: error: \S+groups\.log: is not the log this campaign was planned on: its sha256 is [0-9a-f]{64}, the plan's log's [0-9a-f]{64}; give the right log \(--log PATH\), or plan again on this one \[LWLOG_LOG_MISMATCH\]\n$/);
    expect(existsSync(join(there, "camp", "results", "1.ndjson"))).toBe(false);
    // The right log given with --log.
    expect((await runLwlog(["crashes", "run", join(there, "camp"), "--job", "1", "--log", fx.log, "-q"])).code).toBe(0);
    // Nowhere to be found: both places named.
    rmSync(join(there, "groups.log"));
    const lost = await runLwlog(["crashes", "report", join(there, "camp")]);
    expect(lost.code).toBe(2);
    expect(lost.stderr).toMatch(/the plan's log is not at \S+elsewhere\/groups\.log \(relative to the plan directory\), nor at \S+moved\/groups\.log \(where it was planned\): put it there, or give it with --log PATH \[LWLOG_LOG_NOT_FOUND\]/);
  });

  it("usage errors: no job, a job the plan does not have, not a plan directory, a result of another plan", async () => {
    const dir = join(tmp.path, "usage");
    expect((await plan(dir, 2)).code).toBe(0);
    expect((await runLwlog(["crashes", "run", dir], { env: { JOB_COMPLETION_INDEX: undefined } })).stderr).toContain("give the job: --job K (or JOB_COMPLETION_INDEX=K");
    const nine = await runLwlog(["crashes", "run", dir, "--job", "9"]);
    expect(nine.code).toBe(2);
    expect(nine.stderr).toMatch(/plan\.json: has no job 9: its jobs are 0 to 1 \[LWLOG_NO_SUCH_JOB\]/);
    const notPlan = await runLwlog(["crashes", "report", tmp.path]);
    expect(notPlan.code).toBe(2);
    expect(notPlan.stderr).toMatch(/plan\.json: no such file: not a campaign directory \(lwlog crashes LOG … --plan DIR --jobs-count N makes one\) \[LWLOG_NOT_A_PLAN\]/);
    writeFileSync(join(dir, "results", "0.ndjson"), JSON.stringify({ type: "job", job: 0, plan: "0".repeat(64), first: 0, end: 1 }) + "\n");
    const foreign = await runLwlog(["crashes", "report", dir]);
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toMatch(/results\/0\.ndjson: belongs to another plan .* remove it and run the job again \(lwlog crashes run DIR --job 0\) \[LWLOG_BAD_RESULT\]/);
  });
});
