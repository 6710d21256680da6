import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, requireTool, runAsync, startSshd, type Sshd } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import { campaignFixture, comparable, lwlogCommand, type CampaignFixture } from "./test-campaign.js";

// GNU parallel over ssh, for real: a throwaway sshd on 127.0.0.1 stands for another host.
const tmp = makeTempDir("lwlog-campaign-ssh-");
let sshd: Sshd | undefined;
let fx: CampaignFixture;
let single: Record<string, unknown>;
let lwlog = "";
let parallel = "";

beforeAll(async () => {
  parallel = requireTool("parallel");
  requireTool("rsync");
  fx = await campaignFixture(tmp.path);
  lwlog = lwlogCommand(tmp.path);
  const r = await runLwlog(["crashes", fx.log, "--exec", fx.check, "--json"]);
  expect(r.code).toBe(1);
  single = JSON.parse(r.stdout);
  sshd = await startSshd(join(tmp.path, "sshd"));
}, 120_000);

afterAll(async () => {
  await sshd?.stop();
  tmp.cleanup();
});

/** Runs a shell pipeline (GNU parallel's command line, as a user types it). */
async function sh(script: string, cwd: string): Promise<{ status: number; out: string }> {
  const r = await runAsync("/bin/sh", ["-c", script], { cwd, check: false, timeoutMs: 280_000, env: { ...process.env, NO_COLOR: "1" } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// Real processes on several "hosts": each job starts lwlog afresh; slow on a busy machine.
const SLOW = 300_000;

describe("a campaign run by GNU parallel over ssh", () => {
  it("a shared plan directory: jobs spread over the ssh host and this one, the merged report is the one-machine run's", async () => {
    const dir = join(tmp.path, "shared");
    expect((await runLwlog(["crashes", fx.log, "--exec", fx.check, "--plan", dir, "--jobs-count", "4"])).code).toBe(0);
    const joblog = join(tmp.path, "shared.joblog");
    const ssh = sshd!.ssh.join(" ");
    const r = await sh(`seq 0 3 | ${parallel} --will-cite --joblog ${joblog} --ssh '${ssh}' --sshlogin 1/${sshd!.login},1/: ${lwlog} crashes run ${dir} --job {} -q`, tmp.path);
    expect(r.status, r.out).toBe(0);
    // Both hosts ran jobs (parallel's job log names the host of each).
    const hosts = readFileSync(joblog, "utf8").trim().split("\n").slice(1).map((l) => l.split("\t")[1]);
    expect(hosts).toHaveLength(4);
    expect(new Set(hosts)).toEqual(new Set([sshd!.login, ":"]));
    expect(readdirSync(join(dir, "results")).sort()).toEqual(["0.ndjson", "1.ndjson", "2.ndjson", "3.ndjson"]);
    const rep = await runLwlog(["crashes", "report", dir, "--json"]);
    expect(rep.code).toBe(1);
    expect(comparable(JSON.parse(rep.stdout))).toEqual(comparable(single));
  }, SLOW);

  it("no shared file system: the plan and the log go out with --basefile, the results come back with --return", async () => {
    const origin = join(tmp.path, "origin");
    mkdirSync(origin);
    copyFileSync(fx.log, join(origin, "groups.log"));
    const dir = join(origin, "camp");
    expect((await runLwlog(["crashes", join(origin, "groups.log"), "--exec", fx.check, "--plan", dir, "--jobs-count", "3"])).code).toBe(0);
    const work = join(tmp.path, "remote-work");
    const ssh = sshd!.ssh.join(" ");
    const r = await sh(
      `seq 0 2 | ${parallel} --will-cite --ssh '${ssh}' --sshlogin 2/${sshd!.login} --workdir ${work} --basefile camp/plan.json --basefile groups.log --return camp/results/{}.ndjson --cleanup ${lwlog} crashes run camp --job {} -q`,
      origin,
    );
    expect(r.status, r.out).toBe(0);
    expect(readdirSync(join(dir, "results")).sort()).toEqual(["0.ndjson", "1.ndjson", "2.ndjson"]);
    // The remote side cleaned up after itself (--cleanup), partial files included.
    expect(existsSync(join(work, "camp", "results", "0.ndjson"))).toBe(false);
    const rep = await runLwlog(["crashes", "report", dir, "--json"]);
    expect(rep.code).toBe(1);
    const doc = JSON.parse(rep.stdout);
    expect(doc.log).toBe(join(origin, "groups.log"));
    expect({ ...comparable(doc), log: "" }).toEqual({ ...comparable(single), log: "" });
  }, SLOW);
});
