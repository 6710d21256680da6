import { describeExit, findProgram, mountSupport, runProcess, toolEnv } from "@lwlog/scratch";
import { ext4HasErrors } from "./detect.js";
import { loopMount, requireMount } from "./mount.js";
import { JudgeUnavailableError, type JudgeTarget, type Verdict } from "./verdict.js";

/**
 * How the ext4 judge recovers the journal: `kernel` mounts the state through a loop device
 * and unmounts it (the running kernel's own jbd2 recovery; needs root), `e2fsck` runs
 * `e2fsck -y -E journal_only` (no root), `auto` (the default) the kernel where this process
 * may mount, else e2fsck.
 */
export type Ext4Recovery = "kernel" | "e2fsck" | "auto";

/**
 * What `e2fsck -y -E journal_only` prints when it only did what the kernel's mount does:
 * replay the journal and release orphaned inodes. Any other line is something the kernel
 * would not have done quietly (a journal checksum error, a corrupt transaction it dropped,
 * a journal superblock it repaired), and makes the recovery a failure.
 */
const QUIET_RECOVERY = [
  /^e2fsck \S+ \(.*\)$/, // the banner
  /: recovering journal$/,
  /^Clearing orphaned inode \d+ \(/,
  /^Truncating orphaned inode \d+ \(/,
  /^$/,
];

/**
 * Throws `JudgeUnavailableError` unless the ext4 judge can run here with `recovery`, and
 * returns the recovery it will use (`auto` resolved) with e2fsck's path.
 */
export function requireExt4Tools(recovery: Ext4Recovery = "auto"): { recovery: "kernel" | "e2fsck"; e2fsck: string } {
  const e2fsck = findProgram("e2fsck");
  if (e2fsck === undefined) throw new JudgeUnavailableError("the ext4 judge needs e2fsck: install e2fsprogs (Debian: apt-get install e2fsprogs)");
  if (recovery === "kernel") requireMount("the ext4 judge's kernel recovery (asked for)");
  const resolved = recovery === "auto" ? (mountSupport().ok ? "kernel" : "e2fsck") : recovery;
  return { recovery: resolved, e2fsck };
}

/**
 * The ext4 judge: what a kernel does when it mounts the state after a crash, then the
 * read-only check.
 *
 * 1. Recovery, by the kernel where this process may mount (root): the state is mounted
 *    through a loop device and unmounted, so the running kernel's jbd2 replays the journal
 *    and ext4 releases orphans; a mount it refuses (a journal block whose checksum fails
 *    under a kept commit, a corrupt commit header: "error loading journal") fails the state,
 *    with the kernel's messages. Elsewhere `e2fsck -y -E journal_only` does it (no root).
 *    Never with `-f`: e2fsck then goes on to a full check and repairs what it finds, and
 *    every state would pass. Its exit status says nothing here (0 even when the journal was
 *    corrupt), so its output is read: any line beyond the journal replay and orphan release
 *    (`JBD2: Invalid checksum recovering data block`, `Journal transaction N was corrupt,
 *    replay was aborted`, a journal superblock repaired, a fall through to a full check in
 *    another e2fsprogs version) fails the state. e2fsprogs 1.47 is stricter than Linux 6.10
 *    and later in one case: a commit block whose header is whole but whose rest is not (a
 *    torn write) is replayed by the kernel and dropped, with an error, by e2fsck.
 * 2. The superblock's error flag (`EXT2_ERROR_FS`) afterwards fails the state: the kernel
 *    recorded an error, and `e2fsck -fn` would not say so.
 * 3. Check: `e2fsck -fn`, which changes nothing; exit status 0 passes.
 */
export async function judgeExt4(target: JudgeTarget, options: { recovery?: Ext4Recovery } = {}): Promise<Verdict> {
  const { recovery, e2fsck } = requireExt4Tools(options.recovery ?? "auto");
  const signal = target.signal ? { signal: target.signal } : {};
  let recovered: string;
  let recoveryOutput: string;
  if (recovery === "kernel") {
    const m = await loopMount(target.image, { type: "ext4", ...signal });
    if (!m.ok) {
      if (m.result.aborted) return aborted();
      return { ok: false, fs: "ext4", step: "recovery", summary: `the kernel cannot mount it (journal recovery): mount ${describeExit(m.result)}`, output: m.output, exitCode: m.result.code };
    }
    await m.mount.release();
    recovered = "journal recovered by the kernel (mount, umount)";
    recoveryOutput = "";
  } else {
    const rec = await runProcess(e2fsck, ["-y", "-E", "journal_only", target.image], { env: toolEnv(), ...signal });
    if (rec.aborted) return aborted();
    const odd = rec.output.split("\n").filter((l) => !QUIET_RECOVERY.some((re) => re.test(l)));
    if (rec.code !== 0 || odd.length > 0) {
      const why = rec.code !== 0 ? `e2fsck -y -E journal_only: ${describeExit(rec)}` : `journal recovery reported a problem: ${odd[0]}`;
      return { ok: false, fs: "ext4", step: "recovery", summary: why, output: rec.output, exitCode: rec.code };
    }
    recovered = "journal recovered by e2fsck -E journal_only";
    recoveryOutput = rec.output;
  }
  if (await ext4HasErrors(target.image)) {
    return { ok: false, fs: "ext4", step: "recovery", summary: "after journal recovery the superblock says the file system has errors (EXT2_ERROR_FS)", output: recoveryOutput };
  }
  const check = await runProcess(e2fsck, ["-fn", target.image], { env: toolEnv(), ...signal });
  if (check.aborted) return aborted();
  if (check.code !== 0) return { ok: false, fs: "ext4", step: "check", summary: `e2fsck -fn after journal recovery: ${describeExit(check)}`, output: check.output, exitCode: check.code };
  return { ok: true, fs: "ext4", step: "done", summary: `${recovered}, e2fsck -fn clean`, output: check.output, exitCode: 0 };
}

function aborted(): Verdict {
  return { ok: false, fs: "ext4", step: "recovery", summary: "interrupted", output: "", aborted: true };
}
