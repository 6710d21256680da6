import { LogIoError, type LwlogErrorDetails } from "@lwlog/codec/core";

/** The file systems lwlog judges. */
export type FsKind = "ext4" | "xfs" | "btrfs";

/** Where a judge is pointed: an exposed scratch view (see `@lwlog/scratch`). */
export interface JudgeTarget {
  /** A file holding the image; the judge may write it (recovery replays a journal into it). */
  image: string;
  /** Aborting stops the judge's programs (their process groups are killed); the verdict is then `aborted`. */
  signal?: AbortSignal;
}

/** What a judge found. */
export interface Verdict {
  /** True when the state recovered and checked clean. */
  ok: boolean;
  /** The file system judged (detected with `auto`), when one was found. */
  fs?: FsKind;
  /**
   * The step that decided: `detect` (no known superblock), `recovery` (what a kernel does at
   * mount: journal replay, log recovery; a refused mount is a failure), `check` (the read-only
   * check), or `done` (every step passed).
   */
  step: "detect" | "recovery" | "check" | "done";
  /** One line: what was wrong, or what passed. */
  summary: string;
  /** The programs' output that explains it (the end of it). */
  output: string;
  /** Exit status of the program that decided, when one did. */
  exitCode?: number | null;
  /** True when the signal stopped the judge: no verdict at all. */
  aborted?: boolean;
}

/** A judge of images: recovery, then a read-only check. */
export type Judge = (target: JudgeTarget) => Promise<Verdict>;

/** Error codes of `@lwlog/judge`. */
export const JudgeErrorCodes = {
  /** The judge cannot run here (not root for a mount, a program missing): no verdict is possible. */
  UNAVAILABLE: "LWLOG_JUDGE_UNAVAILABLE",
  /** A file asked about cannot be read from the image for a reason that is not the image's (a tool failed). */
  READ_FAILED: "LWLOG_JUDGE_READ_FAILED",
} as const;

/**
 * A judge cannot give a verdict on this machine (no root for the mount xfs recovery needs,
 * a missing program): a problem of the environment, never a verdict on the image, so a
 * `LogIoError` (exit 2 in the CLI). The message says what to do.
 */
export class JudgeUnavailableError extends LogIoError {
  constructor(message: string, details: LwlogErrorDetails = {}) {
    super(JudgeErrorCodes.UNAVAILABLE, message, details);
  }
}
