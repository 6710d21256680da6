import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import { campaignFixture, comparable, type CampaignFixture } from "./test-campaign.js";

// Workers are processes of the built CLI (apps/lwlog/dist, which npm test builds first).
const tmp = makeTempDir("lwlog-parallel-cli-");
afterAll(() => tmp.cleanup());

let fx: CampaignFixture;
let single: Record<string, unknown>;

beforeAll(async () => {
  fx = await campaignFixture(tmp.path);
  const r = await runLwlog(["crashes", fx.log, "--exec", fx.check, "--json"]);
  expect(r.code).toBe(1);
  single = JSON.parse(r.stdout);
});

describe("lwlog crashes --parallel", () => {
  it("P workers give the one-worker run's verdicts, failures, minimal states and exit code", async () => {
    const r = await runLwlog(["crashes", fx.log, "--exec", fx.check, "--parallel", "3", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(comparable(JSON.parse(r.stdout))).toEqual(comparable(single));
    const nd1 = await runLwlog(["crashes", fx.log, "--exec", fx.check, "--ndjson"]);
    const nd2 = await runLwlog(["crashes", fx.log, "--exec", fx.check, "--ndjson", "--parallel", "2"]);
    const records = (t: string) =>
      t
        .trim()
        .split("\n")
        .map((l) => {
          const { seconds: _s, ...rest } = JSON.parse(l);
          return rest;
        })
        .sort((a, b) => a.ordinal - b.ordinal);
    expect(records(nd2.stdout)).toEqual(records(nd1.stdout));
  }, 240_000);

  it("text: the one-worker report; an interrupt stops every worker (exit 130), nothing left behind", async () => {
    const text = await runLwlog(["crashes", fx.log, "--exec", fx.check, "--parallel", "2"]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^60 states: 45 passed, 15 failed; \d+ minimal failing states?, [0-9.]+ s/);
    expect(text.stderr).toContain("in each of 2 workers' own scratch space");
    const scratch = join(tmp.path, "scratch");
    mkdirSync(scratch);
    const stopped = await runLwlog(["crashes", fx.log, "--exec", `sleep 0.05; ${fx.check}`, "--parallel", "2", "--scratch", scratch], {
      // Ctrl-C once a worker has recorded a few states.
      onInterrupt: (handler) => {
        const t = setInterval(() => {
          for (const d of readdirSync(scratch).filter((n) => n.startsWith("lwlog-parallel-"))) {
            const results = join(scratch, d, "results");
            const partials = existsSync(results) ? readdirSync(results).filter((n) => n.endsWith(".partial")) : [];
            if (partials.some((n) => readFileSync(join(results, n), "utf8").split("\n").length > 3)) {
              clearInterval(t);
              handler();
            }
          }
        }, 10);
        return () => clearInterval(t);
      },
    });
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/interrupted after \d+ of 60 states/);
    expect(readdirSync(scratch)).toEqual([]);
  }, 240_000);
});
