import { detectFileSystems } from "./detect.js";
import { judgeExt4, requireExt4Tools } from "./ext4.js";
import { judgeKernelFs, requireKernelFsTools } from "./kernel-fs.js";
import type { FsKind, Judge, JudgeTarget, Verdict } from "./verdict.js";

/** What `fsJudge` is asked to judge: one file system, or `auto` (from the superblock magic at each state). */
export type FsChoice = FsKind | "auto";

/**
 * A judge of one file system (or `auto`): the recovery a kernel does at mount after a crash,
 * then the file system's read-only check (see `judgeExt4`, `judgeKernelFs`). For a named file
 * system, what it needs (e2fsck; root and loop devices for xfs and btrfs) is checked now and
 * a `JudgeUnavailableError` thrown when it is missing, before anything is judged; with
 * `auto`, at the first state of a file system that needs it.
 *
 * The judge changes the image it is given (recovery writes the journal's blocks home): give
 * it a scratch view, never the state itself.
 */
export function fsJudge(choice: FsChoice): Judge {
  if (choice === "ext4") requireExt4Tools();
  else if (choice !== "auto") requireKernelFsTools(choice);
  return async (target: JudgeTarget): Promise<Verdict> => {
    let fs: FsKind;
    if (choice === "auto") {
      const found = await detectFileSystems(target.image);
      if (found.length !== 1) {
        const summary =
          found.length === 0
            ? "no ext4, xfs or btrfs superblock in this state (before mkfs finished?)"
            : `superblocks of ${found.join(" and ")} in this state: give --fs to say which to judge`;
        return { ok: false, step: "detect", summary, output: "" };
      }
      fs = found[0]!;
    } else {
      fs = choice;
    }
    return fs === "ext4" ? judgeExt4(target) : judgeKernelFs(fs, target);
  };
}
