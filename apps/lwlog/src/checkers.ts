import type { FsChoice, Judge } from "@lwlog/judge";
import type { CheckContext, Checker, Checkpoint, CheckOutcome } from "@lwlog/replay";

/** What judges a state, from the command line: a file system judge (`--fs`), a command (`--exec`), or both. */
export interface CheckerSpec {
  fs?: FsChoice;
  exec?: string;
  env: Record<string, string | undefined>;
  cwd: string;
}

/** The file systems `--fs` takes. */
export const FS_CHOICES = ["ext4", "xfs", "btrfs", "auto"] as const;

/**
 * The checker of `--fs` and `--exec`: the file system judge first (the kernel's recovery,
 * then the read-only check), then the command on the same view, now recovered; the first
 * failure decides. `nbd` says whether the command wants the view over NBD. A judge that
 * cannot run here (xfs without root) throws `JudgeUnavailableError` now, before any replay.
 */
export async function buildChecker(spec: CheckerSpec): Promise<{ run: Checker; nbd: boolean }> {
  const { execChecker, sequenceCheckers, usesNbd } = await import("@lwlog/replay");
  const checkers: Checker[] = [];
  if (spec.fs !== undefined) {
    const { fsJudge } = await import("@lwlog/judge");
    checkers.push(judgeChecker(fsJudge(spec.fs)));
  }
  if (spec.exec !== undefined) checkers.push(execChecker(spec.exec, { env: spec.env, cwd: spec.cwd }));
  return { run: checkers.length === 1 ? checkers[0]! : sequenceCheckers(checkers), nbd: spec.exec !== undefined && usesNbd(spec.exec) };
}

/** A file system judge as a checker: its verdict's summary leads the report, the tools' output follows. */
export function judgeChecker(judge: Judge): Checker {
  return async (point: Checkpoint, context: CheckContext): Promise<CheckOutcome> => {
    const v = await judge({ image: point.image, ...(context.signal ? { signal: context.signal } : {}) });
    const outcome: CheckOutcome = { ok: v.ok, summary: `${v.fs ?? "file system"}: ${v.summary}`, output: v.output };
    if (v.exitCode !== undefined) outcome.exitCode = v.exitCode;
    return outcome;
  };
}
