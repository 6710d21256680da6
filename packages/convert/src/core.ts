/**
 * `@lwlog/convert/core`: export and sector-size conversion without the import side, so
 * without zod and csv-parse (about 100 ms of start-up that `lwlog export` and `lwlog
 * convert` do not need). `@lwlog/convert` exports all of it too.
 */
export { AtomicOutput, OutputErrorCodes, refuseInputs, type OutputOptions } from "./atomic.js";
export {
  exportLog,
  entryJsonBody,
  InterruptedError,
  EXPORT_FORMATS,
  CSV_COLUMNS,
  type ExportFormat,
  type ExportOptions,
  type ExportSummary,
  type FioCounts,
  type TextSink,
  type ByteSink,
  type ExportSink,
} from "./export.js";
export {
  convertLog,
  ConvertError,
  ConvertErrorCodes,
  type ConvertOptions,
  type ConvertSummary,
  type TruncatedMark,
} from "./convert.js";
export type { DataEncoding } from "./records.js";
export { RepairErrorCodes, MAX_LISTED_REPAIRS, type Repair } from "./repairs.js";
