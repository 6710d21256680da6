/**
 * `@lwlog/convert`: dm-log-writes logs out to JSON, NDJSON, CSV and fio iologs, back in
 * from JSON, NDJSON and CSV, and from one sector size (or writer) to another. Everything
 * streams, one entry at a time, through `@lwlog/codec`.
 */
export { AtomicOutput } from "./atomic.js";
export {
  exportLog,
  InterruptedError,
  EXPORT_FORMATS,
  CSV_COLUMNS,
  type ExportFormat,
  type ExportOptions,
  type ExportSummary,
  type FioCounts,
  type TextSink,
} from "./export.js";
export { importLog, formatFromName, IMPORT_FORMATS, type ImportFormat, type ImportOptions, type ImportSummary } from "./import.js";
export { RecordError, BAD_RECORD, MAX_RECORD_CHARS, ndjsonParts, jsonDocumentParts, csvParts, textLines, type InputPart } from "./input.js";
export {
  SuperRecordSchema,
  EntryRecordSchema,
  EndRecordSchema,
  DATA_ENCODINGS,
  type DataEncoding,
  type SuperRecord,
  type EntryRecord,
  type EndRecord,
} from "./records.js";
export {
  convertLog,
  ConvertError,
  ConvertErrorCodes,
  type ConvertOptions,
  type ConvertSummary,
  type TruncatedMark,
} from "./convert.js";
