import { basename, posix } from "node:path";
import type { CampaignFile } from "./campaign-plan.js";

/** Options of `indexedJobManifest`. */
export interface IndexedJobOptions {
  /** A container image with lwlog (and the judges' tools: e2fsprogs, xfsprogs, btrfs-progs) on its PATH. */
  image: string;
  /** Pods running at once (default: every job, at most 32). */
  parallelism?: number;
  /** The Job's name (default `lwlog-crashes-` and the start of the plan's digest). */
  name?: string;
  namespace?: string;
  /** The volume that holds the plan directory (and the log): a PersistentVolumeClaim, or a directory of the node. */
  volume: { claim: string } | { hostPath: string };
  /** Where the volume is mounted in the pod (default `/campaign`). */
  mountPath?: string;
  /** The plan directory's path inside the volume (default: its name at the volume's root). */
  planPath?: string;
  /** The log's path in the pod, when it is not where the plan says (relative to the plan directory). */
  logPath?: string;
  /** Run the pod privileged (loop devices and mounts: the xfs and btrfs judges, overlay views). Default: when the judge needs it. */
  privileged?: boolean;
  /** Requests (and the memory limit) of each pod (default 1 CPU, 1Gi). */
  cpu?: string;
  memory?: string;
  /** Retries of one index before it counts as failed (default 2). */
  retries?: number;
  /** The lwlog command in the image (default `lwlog`). */
  command?: string[];
  /** sha256 of plan.json (labels the Job). */
  digest: string;
  /** The plan directory on the planning host (its name is the default `planPath`). */
  dir: string;
}

/** Where the pod finds the plan and the log, and whether the log lies on the volume. */
export interface PodPaths {
  plan: string;
  log: string;
  logOnVolume: boolean;
}

/** The plan's and the log's paths in the pod. */
export function podPaths(c: CampaignFile, o: Pick<IndexedJobOptions, "mountPath" | "planPath" | "logPath" | "dir">): PodPaths {
  const mount = posix.normalize(o.mountPath ?? "/campaign");
  const plan = posix.join(mount, o.planPath ?? basename(o.dir));
  const log = o.logPath ?? posix.join(plan, c.log.relative.split("\\").join("/"));
  const rel = posix.relative(mount, log);
  return { plan, log, logOnVolume: o.logPath !== undefined || (!rel.startsWith("..") && !posix.isAbsolute(rel)) };
}

/** Whether a campaign's judges need a privileged pod: loop devices and mounts (xfs, btrfs, auto; the data judge on them). */
export function judgeNeedsPrivilege(c: CampaignFile): boolean {
  const fs = c.judge.fs ?? (c.judge.persisted !== undefined ? "auto" : undefined);
  return fs === "xfs" || fs === "btrfs" || fs === "auto";
}

/**
 * A Kubernetes Indexed Job that runs every job of a campaign, one pod per index: the container
 * runs `lwlog crashes run PLAN` with the index in `JOB_COMPLETION_INDEX` (Kubernetes sets it
 * in each pod of an Indexed Job), on the plan directory of a shared volume, with an
 * `emptyDir` for the durable image and the scratch views (twice the image, and 1 GiB). A pod
 * that exits 2 (wrong log, wrong plan: every retry would too) or 70 (a bug) fails the Job at
 * once; a pod evicted or preempted (`DisruptionTarget`) is retried without counting; another
 * failure is retried `retries` times for its index (`backoffLimitPerIndex`, Kubernetes ≥ 1.29).
 * A rerun pod takes over what the killed one judged (`runCampaignJob`).
 */
export function indexedJobManifest(c: CampaignFile, o: IndexedJobOptions): Record<string, unknown> {
  const n = c.jobs.length;
  const paths = podPaths(c, o);
  const mount = posix.normalize(o.mountPath ?? "/campaign");
  const name = o.name ?? `lwlog-crashes-${o.digest.slice(0, 10)}`;
  const labels = { "app.kubernetes.io/name": "lwlog-crashes", "app.kubernetes.io/instance": name, "lwlog.dev/plan": o.digest.slice(0, 16) };
  const privileged = o.privileged ?? judgeNeedsPrivilege(c);
  const memory = o.memory ?? "1Gi";
  const scratch = quantity(2 * c.cost.imageBytes + (1 << 30));
  const command = [...(o.command ?? ["lwlog"]), "crashes", "run", paths.plan, "--scratch", "/scratch", "--quiet"];
  if (o.logPath !== undefined) command.push("--log", o.logPath);
  const volume = "claim" in o.volume ? { name: "campaign", persistentVolumeClaim: { claimName: o.volume.claim } } : { name: "campaign", hostPath: { path: o.volume.hostPath, type: "Directory" } };
  const container: Record<string, unknown> = {
    name: "lwlog",
    image: o.image,
    command,
    env: [{ name: "NO_COLOR", value: "1" }],
    resources: {
      requests: { cpu: o.cpu ?? "1", memory, "ephemeral-storage": scratch },
      limits: { memory, "ephemeral-storage": scratch },
    },
    volumeMounts: [
      { name: "campaign", mountPath: mount },
      { name: "scratch", mountPath: "/scratch" },
    ],
  };
  if (privileged) container.securityContext = { privileged: true };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, ...(o.namespace !== undefined ? { namespace: o.namespace } : {}), labels },
    spec: {
      completionMode: "Indexed",
      completions: n,
      parallelism: Math.max(1, Math.min(o.parallelism ?? Math.min(n, 32), n)),
      backoffLimitPerIndex: o.retries ?? 2,
      podFailurePolicy: {
        rules: [
          { action: "FailJob", onExitCodes: { containerName: "lwlog", operator: "In", values: [2, 70] } },
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
        ],
      },
      ttlSecondsAfterFinished: 7 * 24 * 3600,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          containers: [container],
          volumes: [volume, { name: "scratch", emptyDir: { sizeLimit: scratch } }],
        },
      },
    },
  };
}

/** Bytes as a Kubernetes quantity in its canonical form (whole Gi when they divide, else Mi rounded up), as the API server writes it back. */
export function quantity(bytes: number): string {
  const mi = Math.ceil(bytes / (1 << 20));
  return mi % 1024 === 0 ? `${mi / 1024}Gi` : `${mi}Mi`;
}
