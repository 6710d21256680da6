import { LogIoError, type LwlogErrorDetails } from "@lwlog/codec/core";

/** Error codes of crash campaigns (plans, jobs, results). */
export const CampaignErrorCodes = {
  /** The plan directory holds another plan. */
  PLAN_EXISTS: "LWLOG_PLAN_EXISTS",
  /** `plan.json` is missing, not a plan, damaged, or of another version. */
  NOT_A_PLAN: "LWLOG_NOT_A_PLAN",
  /** The log found is not the one the plan was made on (its size or sha256 differs). */
  LOG_MISMATCH: "LWLOG_LOG_MISMATCH",
  /** The log is nowhere the plan says it may be. */
  LOG_NOT_FOUND: "LWLOG_LOG_NOT_FOUND",
  /** This lwlog computes another plan from the same log and options (another version of lwlog). */
  PLAN_DIFFERS: "LWLOG_PLAN_DIFFERS",
  /** No such job in the plan (or no job number given). */
  NO_SUCH_JOB: "LWLOG_NO_SUCH_JOB",
  /** A result file that belongs to another plan, or is not a job's result. */
  BAD_RESULT: "LWLOG_BAD_RESULT",
} as const;

/**
 * A campaign that cannot go on as asked: the wrong directory, log or job, a result of another
 * plan. Exit 2, as a file the user named that cannot be used; the message says what to do.
 */
export class CampaignError extends LogIoError {
  constructor(code: string, message: string, details: LwlogErrorDetails = {}) {
    super(code, message, details);
  }
}
