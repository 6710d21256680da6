import { z } from "zod";
import { LOG_MAGIC, U64_MAX } from "./constants.js";
import { decodeFlags } from "./flags.js";
import { isExactText } from "./entry.js";
import type { LogEntry } from "./reader.js";
import type { LogSuper } from "./super.js";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A u64 for JSON: a number when it is a safe integer, else its decimal string (never rounded). */
export function u64ToJson(value: bigint): number | string {
  return value <= MAX_SAFE ? Number(value) : value.toString();
}

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

/** The JSON form of a superblock. */
export function superToJson(sup: LogSuper): {
  magic: string;
  version: number | string;
  nrEntries: number | string;
  sectorSize: number;
  padding: number;
} {
  return {
    magic: `0x${LOG_MAGIC.toString(16).padStart(16, "0")}`,
    version: u64ToJson(sup.version),
    nrEntries: u64ToJson(sup.nrEntries),
    sectorSize: sup.sectorSize,
    padding: sup.padding,
  };
}

/**
 * The JSON form of an entry, without data (callers add `sha256`, `hex` or `base64`).
 * A mark whose name is not exact UTF-8 text also gets `markBase64`, the raw bytes.
 */
export function entryToJson(entry: LogEntry, sectorSize: number): Record<string, unknown> {
  const S = BigInt(sectorSize);
  const out: Record<string, unknown> = {
    index: entry.index,
    offset: entry.offset,
    kind: entry.kind,
    flags: u64ToJson(entry.flags),
    flagNames: flagNames(entry.flags),
    sector: u64ToJson(entry.sector),
    nrSectors: u64ToJson(entry.nrSectors),
    byteOffset: u64ToJson(entry.sector * S),
    byteLength: u64ToJson(entry.nrSectors * S),
    dataLen: u64ToJson(entry.dataLen),
    tail: entry.tail,
  };
  if (entry.kind === "mark" && entry.markBytes !== undefined) {
    out.mark = entry.mark;
    if (!isExactText(entry.markBytes)) out.markBase64 = Buffer.from(entry.markBytes).toString("base64");
  }
  return out;
}

/** Flag names, with `UNKNOWN(0x…)` for bits nobody defines. */
export function flagNames(flags: bigint): string[] {
  const { names, unknown } = decodeFlags(flags);
  const out: string[] = [...names];
  if (unknown !== 0n) out.push(`UNKNOWN(0x${unknown.toString(16)})`);
  return out;
}
