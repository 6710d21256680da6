import { LogIoError, LogRangeError, LwlogError, type LwlogErrorDetails } from "@lwlog/codec/core";

/** Error codes of `@lwlog/crash`, beside the codec's and replay's. */
export const CrashErrorCodes = {
  /** A crash-state id that is not one (wrong shape, damaged, or structurally impossible for the log). */
  BAD_STATE_ID: "LWLOG_BAD_STATE_ID",
  /** A well-formed crash-state id made on another log (or on this log before it changed). */
  FOREIGN_STATE_ID: "LWLOG_FOREIGN_STATE_ID",
  /** A crash-state id written by a newer (or unknown) version of the id format. */
  STATE_ID_VERSION: "LWLOG_STATE_ID_VERSION",
  /** The crash-point rules match no position of the log. */
  NO_CRASH_POINTS: "LWLOG_NO_CRASH_POINTS",
  /** A `--persisted` list that cannot be read or parsed. */
  BAD_PERSISTED: "LWLOG_BAD_PERSISTED",
  /** A path of a `--persisted` list that does not exist in the state at its mark: nothing to compare with. */
  PERSISTED_NOT_AT_MARK: "LWLOG_PERSISTED_NOT_AT_MARK",
  /** The run was interrupted. */
  INTERRUPTED: "LWLOG_INTERRUPTED",
} as const;

/** A crash-state id that cannot be used with this log: bad, damaged, foreign or from another version. */
export class StateIdError extends LogRangeError {
  constructor(code: string, message: string, details: LwlogErrorDetails = {}) {
    super(code, message, details);
  }
}

/** The crash-point rules (`--points`, `--from-mark`) select nothing: carries a hint from the log's own counts. */
export class NoCrashPointsError extends LogRangeError {
  constructor(message: string, details: LwlogErrorDetails = {}) {
    super(CrashErrorCodes.NO_CRASH_POINTS, message, details);
  }
}

/** A `--persisted` list that cannot be read (`LogIoError`, exit 2) … */
export class PersistedReadError extends LogIoError {}

/** … or whose content is wrong (a usage error of the list: exit 2 as well, it names the line). */
export class PersistedSyntaxError extends LogIoError {
  constructor(message: string, details: LwlogErrorDetails = {}) {
    super(CrashErrorCodes.BAD_PERSISTED, message, details);
  }
}

/**
 * A path of a `--persisted` list is not a regular file in the state at its mark: there is
 * nothing to compare crash states with (exit 1, as a failed check: the state at the mark is
 * not what the list says).
 */
export class PersistedExpectationError extends LogRangeError {
  constructor(message: string, details: LwlogErrorDetails = {}) {
    super(CrashErrorCodes.PERSISTED_NOT_AT_MARK, message, details);
  }
}

/** A crash run stopped by its abort signal; says how far it got. */
export class CrashInterruptedError extends LwlogError {
  /** States fully judged before the interruption. */
  readonly done: number;
  constructor(message: string, done: number, details: LwlogErrorDetails = {}) {
    super(CrashErrorCodes.INTERRUPTED, message, details);
    this.done = done;
  }
}
