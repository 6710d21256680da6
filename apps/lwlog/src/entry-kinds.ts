import { LogFlags } from "@lwlog/codec/core";

/**
 * The kinds `info` counts and `dump --kind` selects. `flush`, `fua`, `discard`, `mark` and
 * `metadata` are flag bits (a kernel `FLUSH|FUA|METADATA` entry is all three); `write` is
 * an entry that carries data (`nr_sectors > 0` and not a discard); `none` has flags 0.
 */
export const KIND_NAMES = ["write", "flush", "fua", "discard", "mark", "metadata", "none"] as const;

/** One of `KIND_NAMES`. */
export type KindName = (typeof KIND_NAMES)[number];

/** Entries counted by kind (see `KIND_NAMES`); `unknown` counts entries with flag bits nobody defines. */
export type KindCounts = Record<KindName | "unknown", number>;

const FLUSH = Number(LogFlags.FLUSH);
const FUA = Number(LogFlags.FUA);
const DISCARD = Number(LogFlags.DISCARD);
const MARK = Number(LogFlags.MARK);
const METADATA = Number(LogFlags.METADATA);
const KNOWN = FLUSH | FUA | DISCARD | MARK | METADATA;

/** The bit each flag kind stands for. */
const KIND_BITS: Partial<Record<KindName, number>> = { flush: FLUSH, fua: FUA, discard: DISCARD, mark: MARK, metadata: METADATA };

/** Zero counts. */
export function emptyCounts(): KindCounts {
  return { write: 0, flush: 0, fua: 0, discard: 0, mark: 0, metadata: 0, none: 0, unknown: 0 };
}

/** The low flag bits of an entry as a number (the known flags all sit in the low byte). */
export function lowFlags(flags: bigint): number {
  return Number(flags & 0xffn);
}

/** Adds one entry to `counts`: `bits` from `lowFlags`, `hasData` when it carries data. */
export function countEntry(counts: KindCounts, flags: bigint, nrSectors: bigint): void {
  const bits = lowFlags(flags);
  if (nrSectors > 0n && (bits & DISCARD) === 0) counts.write += 1;
  if (flags === 0n) counts.none += 1;
  else {
    if (bits & FLUSH) counts.flush += 1;
    if (bits & FUA) counts.fua += 1;
    if (bits & DISCARD) counts.discard += 1;
    if (bits & MARK) counts.mark += 1;
    if (bits & METADATA) counts.metadata += 1;
    if ((flags & ~BigInt(KNOWN)) !== 0n) counts.unknown += 1;
  }
}

/** True when an entry is of `kind` (the same rule `countEntry` counts by). */
export function isKind(kind: KindName, flags: bigint, nrSectors: bigint): boolean {
  if (kind === "none") return flags === 0n;
  const bits = lowFlags(flags);
  if (kind === "write") return nrSectors > 0n && (bits & DISCARD) === 0;
  return (bits & KIND_BITS[kind]!) !== 0;
}

/** True when an entry changes the target: a write (carries data) or a discard. */
export function touchesTarget(flags: bigint, nrSectors: bigint): boolean {
  return nrSectors > 0n && (lowFlags(flags) & MARK) === 0;
}

// C0 and C1 controls, DEL, and the line/paragraph separators: they would break a line of text.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * A mark name for a line of text: as it is when printable, else quoted with JSON escapes
 * (`"a\nb"`), so that a name can never forge a line or a column of its own.
 */
export function printableName(name: string): string {
  return UNPRINTABLE.test(name) || name.startsWith('"') ? JSON.stringify(name) : name;
}
