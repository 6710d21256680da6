import { LOG_MAGIC } from "./constants.js";
import { decodeFlags } from "./flags.js";
import { isExactText } from "./entry.js";
import type { LogEntry } from "./reader.js";
import type { LogSuper } from "./super.js";

// The JSON forms without zod, so that `@lwlog/codec/core` loads fast (zod's schemas are in json.ts).

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A u64 for JSON: a number when it is a safe integer, else its decimal string (never rounded). */
export function u64ToJson(value: bigint): number | string {
  return value <= MAX_SAFE ? Number(value) : value.toString();
}

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
