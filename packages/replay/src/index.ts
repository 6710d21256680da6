/**
 * `@lwlog/replay`: rebuild a disk as it was at any point of a dm-log-writes log.
 *
 * `replayLog` replays a log onto an image file or block device in one forward pass, with
 * start and stop points, discard zeroing, a sector filter and checkpoints: by default it
 * compacts (what survives between observation points, written in target order; `inOrder`
 * writes every entry as it comes). `writeState` writes a last-writer map (`@lwlog/state`)
 * onto a target: a crash state, or any state built from pieces of entries. `ImageTarget` is
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
  type CheckCounts,
} from "./replay.js";
export { planReplay, touches, type ReplayPlan, type PlanOptions, type StartPoint, type StopPoints, type StopReason, type SectorRange, type SectorFilter } from "./plan.js";
export { execChecker, sequenceCheckers, shellQuote, usesNbd, type ExecCheckerOptions, type Checker, type Checkpoint, type CheckOutcome, type CheckContext } from "./checker.js";
export { writeState, type PieceSources, type StateWritten } from "./survivors.js";
export { DEFAULT_SEGMENT_BUDGET } from "./compact.js";
export { ReplayErrorCodes, TargetError, PointNotFoundError, ReplayInterruptedError, CheckpointInterruptedError } from "./errors.js";
