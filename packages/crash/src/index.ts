/**
 * `@lwlog/crash`: the states a power cut could leave on a disk whose writes a dm-log-writes
 * log recorded, planned up front from the log, the options and a seed; each with a printable
 * id; built on scratch views of the durable prefix in one forward pass; judged; and, when one
 * fails, minimised by delta debugging.
 */
export { CrashLog, KIND, KIND_NAMES, type CrashMark, type CrashLogOptions } from "./log-table.js";
export { choosePoints, candidatesOf, flushBefore, pointRange, formatRules, type CrashPoint, type PointRule, type PointKind, type PointOptions, type PointRange } from "./points.js";
export { spaceBits, spaceSize, exhaustiveState, generatedState, type StateShape } from "./generate.js";
export { isPrefix, stateKey, deviationsOf, stateWith, keptRanges, lostRanges, tearRuns, type CrashState, type Tear, type Deviation } from "./state.js";
export { encodeStateId, decodeStateId, STATE_ID_VERSION, type IdPoint, type Generated, type DecodedId } from "./id.js";
export { planCrashes, pointStates, pointOfState, shapeOf, allocate, PLAN_DEFAULTS, type CrashPlan, type CrashPlanOptions, type PlannedPoint, type PlannedState } from "./plan.js";
export { piecesOf, stateMap, applyPieces, type StateSink, type StatePieces, type ApplyStats } from "./apply.js";
export { DurableImage } from "./durable.js";
export { minimise, deviationKey, type FailsWith, type Minimised } from "./minimise.js";
export { Prng, pointSeed } from "./prng.js";
export { CrashErrorCodes, StateIdError, NoCrashPointsError, PersistedReadError, PersistedSyntaxError, PersistedExpectationError, CrashInterruptedError } from "./errors.js";
export { runCrashStates, judgeOneState, DEFAULT_MINIMISE_BUDGET, type EngineOptions, type OneStateOptions, type EngineProgress, type EngineSummary } from "./engine.js";
export type { EngineView, ViewMaker, StateViews, JudgeContext, Verdict, StateJudge, FileFinding } from "./judge.js";
export { judgePipeline, type Pipeline, type PipelineOptions, type FsCheck, type FsVerdict, type FileLister, type FileFacts, type ViewCheck } from "./pipeline.js";
export { execJudge } from "./exec.js";
export {
  parsePersisted,
  persistedWindows,
  windowOf,
  expectationsAt,
  compareFiles,
  sha256Hex,
  type PersistedList,
  type PersistedPath,
  type PersistedWindow,
  type FileProbe,
  type Expectations,
} from "./persisted.js";
export { mergeRecords, describeState, firstLines, verdictFields, OUTPUT_LINES, type StateRecord, type CrashReport, type FailureReport, type MinimalRecord, type TornRecord, type EntryRecord } from "./records.js";
export { resolveStateId, writeState, type ResolvedState } from "./write-state.js";
export { minimiseOne, type MinimiseContext } from "./engine.js";
export { minimiseRecorded, verdictOfRecord, type RecordedMinimiseOptions, type RecordedMinimal } from "./deferred.js";
export { CampaignError, CampaignErrorCodes } from "./campaign-errors.js";
export { splitJobs, costModel, type CampaignJob, type CostModel, type JobCost } from "./campaign-split.js";
export {
  makeCampaign,
  writeCampaign,
  readCampaign,
  campaignText,
  planDigest,
  planOptionsOf,
  writeFileAtomic,
  CAMPAIGN_FORMAT,
  CAMPAIGN_VERSION,
  PLAN_FILE,
  RESULTS_DIR,
  type CampaignFile,
  type CampaignJudge,
  type CampaignOptions,
  type CampaignLog,
} from "./campaign-plan.js";
export { sha256OfFile, findCampaignLog, verifyCampaignLog, type FoundLog } from "./campaign-log.js";
export { openCampaign, runCampaignJob, readJobResult, resultPath, partialsOf, type OpenCampaign, type JobHeader, type JobTrailer, type JobResult, type CampaignJobOptions, type CampaignJobOutcome } from "./campaign-job.js";
export { readCampaignResults, deferredMinimisation, saveDeferred, deferredPath, withMinimal, type CampaignResults, type DeferredMinimisation } from "./campaign-results.js";
export { indexedJobManifest, podPaths, judgeNeedsPrivilege, type IndexedJobOptions, type PodPaths } from "./campaign-k8s.js";
