import { z } from "zod";
import { U64_MAX } from "./constants.js";

export { u64ToJson, superToJson, entryToJson, flagNames } from "./json-shape.js";

/** zod: a u64 given as a safe integer or a decimal string, parsed to `bigint`. */
export const U64Json = z
  .union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().regex(/^(0|[1-9][0-9]*)$/, "a decimal integer")])
  .transform((v) => BigInt(v))
  .refine((v) => v <= U64_MAX, "must fit in 64 bits");

/** zod: the JSON form of a superblock. */
export const LogSuperJsonSchema = z.object({
  magic: z.string().optional(),
  version: U64Json,
  nrEntries: U64Json,
  sectorSize: z.number().int(),
  padding: z.number().int().min(0).max(0xffffffff).optional(),
});

/** The JSON form of a superblock. */
export type LogSuperJson = z.input<typeof LogSuperJsonSchema>;

/** zod: the JSON form of an entry (as `dump --json` and `export` write it). */
export const LogEntryJsonSchema = z.object({
  index: z.number().int().min(0),
  offset: z.number().int().min(0).optional(),
  kind: z.enum(["write", "discard", "flush", "mark", "noop"]),
  flags: U64Json,
  flagNames: z.array(z.string()).optional(),
  sector: U64Json,
  nrSectors: U64Json,
  byteOffset: U64Json.optional(),
  byteLength: U64Json.optional(),
  dataLen: U64Json,
  tail: z.boolean().optional(),
  mark: z.string().optional(),
  markBase64: z.string().optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  hex: z.string().regex(/^[0-9a-f]*$/).optional(),
  base64: z.string().optional(),
});

/** The JSON form of an entry. */
export type LogEntryJson = z.input<typeof LogEntryJsonSchema>;
