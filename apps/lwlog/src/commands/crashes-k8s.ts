import { join, resolve } from "node:path";
import type { CommandContext } from "../context.js";
import { ExitCode, UsageError } from "../errors.js";
import { toJson } from "../format.js";

/** Options of `lwlog crashes plan-k8s`. */
export interface K8sOptions {
  image: string;
  completions?: number;
  parallelism?: number;
  claim?: string;
  hostPath?: string;
  mountPath: string;
  planPath?: string;
  logPath?: string;
  name?: string;
  namespace?: string;
  privileged?: boolean;
  cpu: string;
  memory: string;
  retries: number;
  output?: string;
  force?: boolean;
}

/**
 * `lwlog crashes plan-k8s DIR --image IMAGE`: prints (or writes with `-o`) a Kubernetes
 * Indexed Job, as JSON (which kubectl reads as it reads YAML), running each job of the plan in
 * a pod of its own.
 */
export async function runPlanK8s(ctx: CommandContext, dir: string, opts: K8sOptions): Promise<number> {
  const crash = await import("@lwlog/crash");
  if ((opts.claim === undefined) === (opts.hostPath === undefined)) {
    throw new UsageError("say where the pods find the plan directory: --claim PVC (a PersistentVolumeClaim, ReadWriteMany when pods run on several nodes) or --host-path DIR (a directory of the node)");
  }
  if (opts.force && opts.output === undefined) throw new UsageError("--force goes with --output");
  if (!opts.mountPath.startsWith("/")) throw new UsageError(`--mount-path must be an absolute path in the pod, not ${JSON.stringify(opts.mountPath)}`);
  if (opts.logPath !== undefined && !opts.logPath.startsWith("/")) throw new UsageError(`--log-path must be an absolute path in the pod, not ${JSON.stringify(opts.logPath)}`);
  if (opts.planPath !== undefined && (opts.planPath.startsWith("/") || opts.planPath.split("/").includes(".."))) throw new UsageError(`--plan-path is the plan directory's path inside the volume (relative, no ..), not ${JSON.stringify(opts.planPath)}`);
  // A Job's name is a DNS label: its pods' hostnames are NAME-INDEX.
  if (opts.name !== undefined && (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(opts.name) || opts.name.length > 52)) {
    throw new UsageError(`--name must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 52 characters (room for the pods' index), not ${JSON.stringify(opts.name)}`);
  }
  const { campaign, digest } = crash.readCampaign(dir);
  const n = campaign.jobs.length;
  if (opts.completions !== undefined && opts.completions !== n) {
    throw new UsageError(`the plan has ${n} jobs, so the Job has ${n} completions, not ${opts.completions}; plan again with --jobs-count ${opts.completions} for that many`);
  }
  const placement = { mountPath: opts.mountPath, dir, ...(opts.planPath !== undefined ? { planPath: opts.planPath } : {}), ...(opts.logPath !== undefined ? { logPath: opts.logPath } : {}) };
  const paths = crash.podPaths(campaign, placement);
  if (!paths.logOnVolume) {
    throw new UsageError(
      `the log is at ${campaign.log.relative} from the plan directory, outside the volume mounted at ${opts.mountPath}: put the log in the plan directory or beside it on the volume and plan again, or give its path in the pod with --log-path`,
    );
  }
  const manifest = crash.indexedJobManifest(campaign, {
    image: opts.image,
    digest,
    volume: opts.claim !== undefined ? { claim: opts.claim } : { hostPath: opts.hostPath! },
    ...placement,
    ...(opts.parallelism !== undefined ? { parallelism: opts.parallelism } : {}),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
    ...(opts.privileged !== undefined ? { privileged: opts.privileged } : {}),
    cpu: opts.cpu,
    memory: opts.memory,
    retries: opts.retries,
  });
  const text = toJson(manifest) + "\n";
  if (opts.output === undefined) {
    ctx.io.stdout.write(text);
    return ExitCode.OK;
  }
  const { AtomicOutput } = await import("@lwlog/convert/core");
  const { writeFileSync } = await import("node:fs");
  // Never over the plan or the log, even with --force.
  const out = AtomicOutput.prepare(opts.output, { overwrite: opts.force ?? false, inputs: [join(dir, "plan.json"), resolve(dir, campaign.log.relative)] });
  try {
    writeFileSync(out.temp, text, { flag: "wx" });
    await out.commit();
  } catch (e) {
    out.abort();
    throw out.named(e);
  }
  ctx.io.stderr.write(`lwlog: wrote ${opts.output}: an Indexed Job of ${n} completions (kubectl apply -f ${opts.output}; then lwlog crashes report ${dir})\n`);
  return ExitCode.OK;
}
