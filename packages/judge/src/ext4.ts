import { describeExit, findProgram, runProcess, toolEnv } from "@lwlog/scratch";
import { ext4HasErrors } from "./detect.js";
import { JudgeUnavailableError, type JudgeTarget, type Verdict } from "./verdict.js";

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

/** Throws `JudgeUnavailableError` unless e2fsck is installed. */
export function requireExt4Tools(): string {
  const e2fsck = findProgram("e2fsck");
  if (e2fsck === undefined) throw new JudgeUnavailableError("the ext4 judge needs e2fsck: install e2fsprogs (Debian: apt-get install e2fsprogs)");
  return e2fsck;
}

/**
 * The ext4 judge: what a kernel does when it mounts the state after a crash, then the
 * read-only check. Needs no root and no mount.
 *
 * 1. Recovery: `e2fsck -y -E journal_only` replays the committed journal transactions and
 *    releases orphaned inodes, as ext4's mount does. Never with `-f`: e2fsck then goes on to
 *    a full check and repairs what it finds, and every state would pass. Its exit status
 *    says nothing here (0 even when the journal was corrupt), so its output is read: any
 *    line beyond the journal replay and orphan release (`Journal checksum error`, `Journal
 *    transaction N was corrupt, replay was aborted`, a journal superblock repaired, a fall
 *    through to a full check in another e2fsprogs version) fails the state: the kernel would
 *    refuse to mount it or mark it as having errors. So does the superblock's error flag
 *    (`EXT2_ERROR_FS`) afterwards.
 * 2. Check: `e2fsck -fn`, which changes nothing; exit status 0 passes.
 */
export async function judgeExt4(target: JudgeTarget): Promise<Verdict> {
  const e2fsck = requireExt4Tools();
  const opts = { env: toolEnv(), ...(target.signal ? { signal: target.signal } : {}) };
  const rec = await runProcess(e2fsck, ["-y", "-E", "journal_only", target.image], opts);
  if (rec.aborted) return aborted();
  const odd = rec.output.split("\n").filter((l) => !QUIET_RECOVERY.some((re) => re.test(l)));
  if (rec.code !== 0 || odd.length > 0) {
    const why = rec.code !== 0 ? `e2fsck -y -E journal_only: ${describeExit(rec)}` : `journal recovery reported a problem: ${odd[0]}`;
    return { ok: false, fs: "ext4", step: "recovery", summary: why, output: rec.output, exitCode: rec.code };
  }
  if (await ext4HasErrors(target.image)) {
    return { ok: false, fs: "ext4", step: "recovery", summary: "after journal recovery the superblock says the file system has errors (EXT2_ERROR_FS)", output: rec.output, exitCode: rec.code };
  }
  const check = await runProcess(e2fsck, ["-fn", target.image], opts);
  if (check.aborted) return aborted();
  if (check.code !== 0) return { ok: false, fs: "ext4", step: "check", summary: `e2fsck -fn after journal recovery: ${describeExit(check)}`, output: check.output, exitCode: check.code };
  return { ok: true, fs: "ext4", step: "done", summary: "journal recovered, e2fsck -fn clean", output: check.output, exitCode: 0 };
}

function aborted(): Verdict {
  return { ok: false, fs: "ext4", step: "recovery", summary: "interrupted", output: "", aborted: true };
}
