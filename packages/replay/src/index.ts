/**
 * `@lwlog/replay`: rebuild a disk as it was at any point of a dm-log-writes log.
 *
 * `replayLog` replays a log onto an image file or block device in one forward pass, with
 * start and stop points, discard zeroing, a sector filter and checkpoints. `ImageTarget` is
 * the incremental form: open a target and apply entries one at a time (`applyEntry`), read
 * it back (`read`), `sync`, `close`. `planReplay` is the header pass that finds the start
 * and stop points.
 */
export { ImageTarget, type TargetOptions, type ApplyResult, type DiscardMode } from "./target.js";
export {
  replayLog,
  BrokenLogError,
  TargetWriteError,
  type ReplayOptions,
  type ReplaySummary,
  type ReplayProgress,
  type CheckRule,
  type CheckpointResult,
} from "./replay.js";
export { planReplay, touches, type ReplayPlan, type PlanOptions, type StartPoint, type StopPoints, type StopReason, type SectorRange, type SectorFilter } from "./plan.js";
export { execChecker, shellQuote, type ExecCheckerOptions, type Checker, type Checkpoint, type CheckOutcome } from "./checker.js";
export { ReplayErrorCodes, TargetError, PointNotFoundError, ReplayInterruptedError } from "./errors.js";
