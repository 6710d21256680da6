/**
 * `@lwlog/codec/core`: everything `@lwlog/codec` exports except the zod schemas, without
 * loading zod (about 70 ms of start-up that a command reading a log does not need).
 */
export * from "./constants.js";
export * from "./errors.js";
export { toSafeNumber, isPowerOfTwo, isValidSectorSize, maxMarkLength } from "./numbers.js";
export { decodeFlags, encodeFlags, formatFlags, hasFlag, type FlagSet } from "./flags.js";
export { decodeSuper, encodeSuper, type LogSuper, type DecodeContext } from "./super.js";
export {
  decodeEntryHeader,
  encodeEntryHeader,
  encodeEntryHeaderInto,
  entryKind,
  entryDataBytes,
  inspectHeaderBlock,
  markNameBytes,
  decodeMarkName,
  isExactText,
  type EntryHeader,
  type EntryKind,
  type EntryProblem,
  type ProblemSeverity,
} from "./entry.js";
export {
  LogFile,
  LogCursor,
  readLog,
  entryHas,
  byteOffset,
  byteLength,
  type LogEntry,
  type EntrySummary,
  type DataPlace,
  type ReadEnd,
  type ReadOptions,
} from "./reader.js";
export { LogIndex, type IndexedMark, type IndexOptions } from "./log-index.js";
export { LogWriter, type SuperPolicy, type CreateOptions, type AppendOptions, type EntryToAppend } from "./writer.js";
export { LogBatchWriter, type BatchWriterOptions, type DataSource, type DataCopy } from "./batch-writer.js";
export { superToJson, entryToJson, flagNames, u64ToJson } from "./json-shape.js";
export { sizeOf, sameFile, sharesStorage } from "./device.js";
export { checkLog, CheckCodes, type CheckReport, type CheckProblem, type CheckSeverity } from "./check.js";
export { viewOf, firstNonZero, toHex, fromHex } from "./bytes.js";
export { editDistance, nearestNames, missingMarkHint, quoteName, MarkNames } from "./names.js";
