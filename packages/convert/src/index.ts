/**
 * `@lwlog/convert`: dm-log-writes logs out to JSON, NDJSON, CSV and fio iologs, back in
 * from JSON, NDJSON and CSV, and from one sector size (or writer) to another. Everything
 * streams, one entry at a time, through `@lwlog/codec`. `@lwlog/convert/core` is the export
 * and conversion half alone (no zod).
 */
export * from "./core.js";
export { importLog, formatFromName, IMPORT_FORMATS, type ImportFormat, type ImportOptions, type ImportSummary } from "./import.js";
export { RecordError, BAD_RECORD, MAX_RECORD_CHARS, ndjsonParts, jsonDocumentParts, csvParts, textLines, type InputPart } from "./input.js";
export {
  SuperRecordSchema,
  EntryRecordSchema,
  EndRecordSchema,
  UIntJson,
  DATA_ENCODINGS,
  type SuperRecord,
  type EntryRecord,
  type EndRecord,
} from "./records.js";
