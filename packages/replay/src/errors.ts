import { LogIoError, LogRangeError, LwlogError, type LwlogErrorDetails } from "@lwlog/codec/core";

/** Error codes of `@lwlog/replay`, beside the codec's. */
export const ReplayErrorCodes = {
  /** The target is the log itself (same inode or device). */
  TARGET_IS_LOG: "LWLOG_TARGET_IS_LOG",
  /** The target cannot be written (mode without write bits, read-only device or mount). */
  TARGET_READ_ONLY: "LWLOG_TARGET_READ_ONLY",
  /** The target is a block device in use (a mounted file system): `O_EXCL` failed. */
  TARGET_IN_USE: "LWLOG_TARGET_IN_USE",
  /** A write or discard reaches past the end of the target. */
  TARGET_TOO_SMALL: "LWLOG_TARGET_TOO_SMALL",
  /**
   * The replay needs the file to be larger than its file system (or the process's
   * RLIMIT_FSIZE, `ulimit -f`) allows: refused before the entry that would need it.
   */
  FILE_TOO_LARGE: "LWLOG_FILE_TOO_LARGE",
  /** The target does not exist and no size was given to create it. */
  TARGET_MISSING: "LWLOG_TARGET_MISSING",
  /** The target is neither a regular file nor a block device, or an option does not fit its kind. */
  TARGET_KIND: "LWLOG_TARGET_KIND",
  /** A mark, entry or flagged entry asked for as a start or stop point does not exist. */
  POINT_NOT_FOUND: "LWLOG_POINT_NOT_FOUND",
  /** A checkpoint's command failed. */
  CHECK_FAILED: "LWLOG_CHECK_FAILED",
  /** The replay was interrupted (an abort signal). */
  INTERRUPTED: "LWLOG_INTERRUPTED",
} as const;

/**
 * The replay target cannot be used as asked (it is the log, read-only, too small, missing):
 * a problem with a file named on the command line, so a `LogIoError` (exit 2 in the CLI).
 * Raised before anything is written.
 */
export class TargetError extends LogIoError {
  constructor(code: string, message: string, details: LwlogErrorDetails = {}) {
    super(code, message, details);
  }
}

/** A start or stop point (mark, entry, next FLUSH/FUA) that is not in the log. Nothing has been written. */
export class PointNotFoundError extends LogRangeError {
  constructor(message: string, details: LwlogErrorDetails = {}) {
    super(ReplayErrorCodes.POINT_NOT_FOUND, message, details);
  }
}

/** The replay stopped early (interrupted); says how far it got. */
export class ReplayInterruptedError extends LwlogError {
  /** Index of the last entry applied, or -1 when none was. */
  readonly lastApplied: number;
  constructor(message: string, lastApplied: number, details: LwlogErrorDetails = {}) {
    super(ReplayErrorCodes.INTERRUPTED, message, details);
    this.lastApplied = lastApplied;
  }
}
