import { z } from "zod";
import { LogEntryJsonSchema, LogSuperJsonSchema } from "@lwlog/codec";

/** How an entry's data is written: not at all, as its sha256, or whole (base64, needed for import). */
export type DataEncoding = "none" | "sha256" | "base64";

/** The data encodings `export --data` accepts. */
export const DATA_ENCODINGS: readonly DataEncoding[] = ["none", "sha256", "base64"];

/** zod: a non-negative integer of any size, as a safe integer or a decimal string, parsed to `bigint`. */
export const UIntJson = z
  .union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().regex(/^(0|[1-9][0-9]*)$/, "a decimal integer")])
  .transform((v) => BigInt(v));

/**
 * zod: the superblock record, the first line of an NDJSON export (`"type": "super"`) or
 * the `super` member of a JSON export. The codec's superblock schema plus what the export
 * says about itself.
 */
export const SuperRecordSchema = LogSuperJsonSchema.extend({
  type: z.literal("super").optional(),
  /** How the entries' data was written. */
  dataEncoding: z.enum(["none", "sha256", "base64"]).optional(),
  /** The log the export was made from (informational). */
  source: z.string().optional(),
});

/** A superblock record as read back. */
export type SuperRecord = z.output<typeof SuperRecordSchema>;

/** zod: one entry record (the codec's entry schema; `"type": "entry"` in NDJSON). */
export const EntryRecordSchema = LogEntryJsonSchema.extend({
  type: z.literal("entry").optional(),
  // Derived (sector × S, nrSectors × S): can pass 2^64 when sector is near it, so not a u64.
  byteOffset: UIntJson.optional(),
  byteLength: UIntJson.optional(),
});

/** An entry record as read back. */
export type EntryRecord = z.output<typeof EntryRecordSchema>;

/**
 * zod: the last record of an export (`"type": "end"` in NDJSON, the `end` member of a
 * JSON export): how reading the log ended. Import checks `entries` (and `offset` when
 * given) against what it read, to notice a cut-off input; only `entries` is required, so
 * that an input made by hand needs no more than that.
 */
export const EndRecordSchema = z.object({
  type: z.literal("end").optional(),
  /** Entries exported. */
  entries: z.number().int().min(0),
  /** Of which within the superblock's declared count. */
  declared: z.number().int().min(0).optional(),
  /** Of which past it (`tail: true`). */
  tail: z.number().int().min(0).optional(),
  /** How reading ended (the codec's `ReadEnd.reason`). */
  reason: z.string().optional(),
  /** Byte offset right after the last exported entry. */
  offset: z.number().int().min(0).optional(),
  /** Size of the log file; bytes past `offset` are not exported (and not rebuilt by import). */
  fileSize: z.number().int().min(0).optional(),
});

/** An end record. */
export type EndRecord = z.output<typeof EndRecordSchema>;
