import { describeExit, findProgram, runProcess, toolEnv } from "@lwlog/scratch";
import { loopMount, requireMount } from "./mount.js";
import { JudgeUnavailableError, type FsKind, type JudgeTarget, type Verdict } from "./verdict.js";

/** How the kernel recovers a file system at mount, and which read-only check follows. */
interface KernelFs {
  fs: FsKind;
  /** Mount options: `nouuid` lets an xfs mount while another with the same UUID is mounted (another view, another test). */
  mountOptions: string[];
  check: { program: string; args: (image: string) => string[]; package: string };
  /** What recovery is, in words (for messages). */
  recovery: string;
  /** Said when this process cannot mount: what else the user may do. */
  cannotMountHint: string;
}

const XFS: KernelFs = {
  fs: "xfs",
  mountOptions: ["nouuid"],
  check: { program: "xfs_repair", args: (image) => ["-n", image], package: "xfsprogs" },
  recovery: "log recovery",
  cannotMountHint:
    "; xfs_repair cannot replay the log itself (it would only zero it with -L), so there is no verdict without a mount: run as root",
};

const BTRFS: KernelFs = {
  fs: "btrfs",
  mountOptions: [],
  check: { program: "btrfs", args: (image) => ["check", "--readonly", image], package: "btrfs-progs" },
  recovery: "log tree replay",
  cannotMountHint:
    "; without a mount the log tree (what fsync wrote since the last commit) is not replayed: run as root, or check the last committed state with --exec 'btrfs check --readonly {image}'",
};

const KINDS = { xfs: XFS, btrfs: BTRFS } as const;

/** Throws `JudgeUnavailableError` unless the xfs or btrfs judge can run here (root, loop devices, the check program). */
export function requireKernelFsTools(fs: "xfs" | "btrfs"): void {
  const k = KINDS[fs];
  requireMount(`the ${fs} judge (${k.recovery} is done by the kernel at mount)`, k.cannotMountHint);
  if (findProgram(k.check.program) === undefined) {
    throw new JudgeUnavailableError(`the ${fs} judge needs ${k.check.program}: install ${k.check.package} (Debian: apt-get install ${k.check.package})`);
  }
}

/**
 * The xfs and btrfs judges: the kernel recovers the state as after a crash (xfs replays its
 * log, btrfs its log tree) when it is mounted through a loop device and unmounted again; a
 * mount the kernel refuses fails the state (with the kernel's messages). Then the read-only
 * check on the recovered image: `xfs_repair -n`, `btrfs check --readonly`; exit status 0 passes.
 * Needs root (loop devices, mount): `requireKernelFsTools` says so up front.
 */
export async function judgeKernelFs(fs: "xfs" | "btrfs", target: JudgeTarget): Promise<Verdict> {
  const k = KINDS[fs];
  requireKernelFsTools(fs);
  const signal = target.signal ? { signal: target.signal } : {};
  const m = await loopMount(target.image, { type: fs, options: k.mountOptions, ...signal });
  if (!m.ok) {
    if (m.result.aborted) return { ok: false, fs, step: "recovery", summary: "interrupted", output: "", aborted: true };
    return { ok: false, fs, step: "recovery", summary: `the kernel cannot mount it (${k.recovery}): mount ${describeExit(m.result)}`, output: m.output, exitCode: m.result.code };
  }
  await m.mount.release();
  const check = await runProcess(findProgram(k.check.program)!, k.check.args(target.image), { env: toolEnv(), ...signal });
  if (check.aborted) return { ok: false, fs, step: "check", summary: "interrupted", output: "", aborted: true };
  const cmd = `${k.check.program} ${k.check.args("IMG").slice(0, -1).join(" ")}`;
  if (check.code !== 0) return { ok: false, fs, step: "check", summary: `${cmd} after ${k.recovery} (mount, umount): ${describeExit(check)}`, output: check.output, exitCode: check.code };
  return { ok: true, fs, step: "done", summary: `${k.recovery} by mount and umount, ${cmd} clean`, output: check.output, exitCode: 0 };
}
