import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, requireTool, runAsync } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import { campaignFixture, comparable, lwlogCommand, type CampaignFixture } from "./test-campaign.js";

const tmp = makeTempDir("lwlog-campaign-k8s-");
afterAll(() => tmp.cleanup());

let fx: CampaignFixture;
let single: Record<string, unknown>;
let kubectl = "";

beforeAll(async () => {
  kubectl = requireTool("kubectl");
  // Indexed Jobs, podFailurePolicy and backoffLimitPerIndex are in the API types of kubectl 1.29 and later.
  const v = JSON.parse((await runAsync(kubectl, ["version", "--client", "-o", "json"])).stdout).clientVersion;
  expect(Number(v.major) * 100 + Number.parseInt(v.minor, 10), `kubectl ${v.gitVersion} is older than 1.29: its API types lack fields of the Job`).toBeGreaterThanOrEqual(129);
  fx = await campaignFixture(tmp.path);
  const r = await runLwlog(["crashes", fx.log, "--exec", fx.check, "--json"]);
  single = JSON.parse(r.stdout);
});

/**
 * kubectl's offline check of a manifest: `kubectl set env --local` decodes it into the
 * Kubernetes API types compiled into kubectl (a wrong type, a bad quantity or enum-less
 * garbage is an error) and prints it again from those types; a field kubectl's types do not
 * have is dropped, so every field of ours must come back with its value (what `kubectl
 * create --validate=strict` checks, without a server). Returns kubectl's object.
 */
async function kubectlDecode(file: string): Promise<Record<string, unknown>> {
  const r = await runAsync(kubectl, ["set", "env", "--local", "-f", file, "-o", "json", "LWLOG_KUBECTL_CHECK=1"], { check: false });
  if (r.status !== 0) throw new Error(`kubectl refused ${file}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Paths of `ours` that `theirs` lacks or holds otherwise (arrays by index). */
function notKept(ours: unknown, theirs: unknown, path = ""): string[] {
  if (ours !== null && typeof ours === "object") {
    if (theirs === null || typeof theirs !== "object") return [path || "(root)"];
    return Object.entries(ours as Record<string, unknown>).flatMap(([k, v]) => notKept(v, (theirs as Record<string, unknown>)[k], Array.isArray(ours) ? `${path}[${k}]` : `${path}.${k}`));
  }
  return ours === theirs ? [] : [path];
}

describe("lwlog crashes plan-k8s", () => {
  it("an Indexed Job kubectl decodes field for field; each index's command, run here with JOB_COMPLETION_INDEX, and the report merge to the one-machine run", async () => {
    const vol = join(tmp.path, "vol");
    mkdirSync(vol);
    copyFileSync(fx.log, join(vol, "groups.log"));
    const dir = join(vol, "camp");
    expect((await runLwlog(["crashes", join(vol, "groups.log"), "--exec", fx.check, "--plan", dir, "--jobs-count", "3"])).code).toBe(0);
    // The volume mounted in the pod where it is on this host, so that the commands run here as they are.
    const manifestFile = join(tmp.path, "job.json");
    const m = await runLwlog(["crashes", "plan-k8s", dir, "--image", "registry.example/lwlog:1", "--completions", "3", "--parallelism", "2", "--host-path", vol, "--mount-path", vol, "-o", manifestFile]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stderr).toContain(`wrote ${manifestFile}: an Indexed Job of 3 completions`);
    const job = JSON.parse(readFileSync(manifestFile, "utf8"));
    expect(job).toMatchObject({ apiVersion: "batch/v1", kind: "Job", spec: { completionMode: "Indexed", completions: 3, parallelism: 2, backoffLimitPerIndex: 2, template: { spec: { restartPolicy: "Never" } } } });
    const c = job.spec.template.spec.containers[0];
    expect(c.command).toEqual(["lwlog", "crashes", "run", dir, "--scratch", "/scratch", "--quiet"]);
    expect(c.securityContext).toBeUndefined(); // an --exec judge mounts nothing
    expect(job.spec.template.spec.volumes).toEqual([
      { name: "campaign", hostPath: { path: vol, type: "Directory" } },
      { name: "scratch", emptyDir: { sizeLimit: c.resources.requests["ephemeral-storage"] } },
    ]);
    expect(c.volumeMounts).toEqual([
      { name: "campaign", mountPath: vol },
      { name: "scratch", mountPath: "/scratch" },
    ]);
    const back = await kubectlDecode(manifestFile);
    expect(notKept(job, back)).toEqual([]);
    // Each index as a pod would run it: the container's command and env, JOB_COMPLETION_INDEX set, the emptyDir a fresh directory.
    const lwlog = lwlogCommand(tmp.path);
    const runs = [0, 1, 2].map(async (k) => {
      const scratch = join(tmp.path, `scratch-${k}`);
      mkdirSync(scratch);
      const argv = c.command.map((a: string) => (a === "/scratch" ? scratch : a));
      const env: Record<string, string> = { ...process.env, JOB_COMPLETION_INDEX: String(k) } as Record<string, string>;
      for (const e of c.env) env[e.name] = e.value;
      return runAsync(lwlog, argv.slice(1), { env, check: false });
    });
    for (const r of await Promise.all(runs)) expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(join(dir, "results")).sort()).toEqual(["0.ndjson", "1.ndjson", "2.ndjson"]);
    const rep = await runLwlog(["crashes", "report", dir, "--json"]);
    expect(rep.code).toBe(1);
    expect({ ...comparable(JSON.parse(rep.stdout)), log: "" }).toEqual({ ...comparable(single), log: "" });
  });

  it("kubectl's check fails on a field its types lack and on a value of the wrong type (the check can fail)", async () => {
    const dir = join(tmp.path, "neg");
    mkdirSync(dir);
    copyFileSync(fx.log, join(dir, "groups.log"));
    expect((await runLwlog(["crashes", join(dir, "groups.log"), "--exec", "true", "--plan", join(dir, "camp"), "--jobs-count", "2"])).code).toBe(0);
    const m = await runLwlog(["crashes", "plan-k8s", join(dir, "camp"), "--image", "lwlog:1", "--claim", "crash-campaigns"]);
    const job = JSON.parse(m.stdout);
    const misspelt = join(dir, "misspelt.json");
    writeFileSync(misspelt, JSON.stringify({ ...job, spec: { ...job.spec, parallelizm: 2 } }));
    expect(notKept(JSON.parse(readFileSync(misspelt, "utf8")), await kubectlDecode(misspelt))).toEqual([".spec.parallelizm"]);
    const wrongType = join(dir, "wrong.json");
    writeFileSync(wrongType, JSON.stringify({ ...job, spec: { ...job.spec, completions: "two" } }));
    await expect(kubectlDecode(wrongType)).rejects.toThrow(/completions/);
  });

  it("defaults: a claim mounted at /campaign, the plan at its root, privileged pods for judges that mount, and clear refusals", async () => {
    const vol = join(tmp.path, "defaults");
    mkdirSync(vol);
    copyFileSync(fx.log, join(vol, "groups.log"));
    const dir = join(vol, "camp");
    expect((await runLwlog(["crashes", join(vol, "groups.log"), "--fs", "xfs", "--plan", dir, "--jobs-count", "4"])).code).toBe(0);
    const m = await runLwlog(["crashes", "plan-k8s", dir, "--image", "lwlog:1", "--claim", "pvc-1", "--plan-path", "runs/camp", "--namespace", "fs"]);
    expect(m.code, m.stderr).toBe(0);
    const job = JSON.parse(m.stdout);
    const c = job.spec.template.spec.containers[0];
    expect(job.metadata.namespace).toBe("fs");
    expect(job.metadata.name).toMatch(/^lwlog-crashes-[0-9a-f]{10}$/);
    expect(job.spec.parallelism).toBe(4);
    expect(c.command).toEqual(["lwlog", "crashes", "run", "/campaign/runs/camp", "--scratch", "/scratch", "--quiet"]);
    expect(c.securityContext).toEqual({ privileged: true });
    expect(job.spec.template.spec.volumes[0]).toEqual({ name: "campaign", persistentVolumeClaim: { claimName: "pvc-1" } });
    expect(job.spec.podFailurePolicy.rules[0]).toEqual({ action: "FailJob", onExitCodes: { containerName: "lwlog", operator: "In", values: [2, 70] } });
    const file = join(vol, "job.json");
    writeFileSync(file, m.stdout);
    expect(notKept(job, await kubectlDecode(file))).toEqual([]);
    // Refusals: a count other than the plan's, no volume, a log off the volume.
    const three = await runLwlog(["crashes", "plan-k8s", dir, "--image", "x", "--claim", "p", "--completions", "3"]);
    expect(three.code).toBe(2);
    expect(three.stderr).toContain("the plan has 4 jobs, so the Job has 4 completions, not 3; plan again with --jobs-count 3 for that many");
    expect((await runLwlog(["crashes", "plan-k8s", dir, "--image", "x"])).stderr).toContain("say where the pods find the plan directory: --claim PVC");
    expect((await runLwlog(["crashes", "plan-k8s", dir, "--image", "x", "--claim", "p", "--name", "Crash_Run"])).stderr).toContain("--name must be lower-case letters");
    const far = join(tmp.path, "far", "deep", "camp");
    expect((await runLwlog(["crashes", fx.log, "--exec", "true", "--plan", far, "--jobs-count", "2"])).code).toBe(0);
    const off = await runLwlog(["crashes", "plan-k8s", far, "--image", "x", "--claim", "p"]);
    expect(off.code).toBe(2);
    expect(off.stderr).toContain("the log is at ../../../groups.log from the plan directory, outside the volume mounted at /campaign");
  });
});
