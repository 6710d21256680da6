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

/** The bit each flag kind stands for. */
const KIND_BITS: Partial<Record<KindName, number>> = { flush: FLUSH, fua: FUA, discard: DISCARD, mark: MARK, metadata: METADATA };

/** Zero counts. */
export function emptyCounts(): KindCounts {
  return { write: 0, flush: 0, fua: 0, discard: 0, mark: 0, metadata: 0, none: 0, unknown: 0 };
}

/** The known flag bits of a raw flags value, as a number (see `LogCursor.skim`'s `knownFlags`). */
export function knownBits(flags: bigint): number {
  return Number(flags & 0x1fn);
}

/**
 * Adds one entry to `counts`: its known flag bits, whether it has unknown ones, and
 * whether `nr_sectors` is non-zero.
 */
export function countEntry(counts: KindCounts, known: number, unknown: boolean, hasLength: boolean): void {
  if (hasLength && (known & DISCARD) === 0) counts.write += 1;
  if (known === 0 && !unknown) {
    counts.none += 1;
    return;
  }
  if (known & FLUSH) counts.flush += 1;
  if (known & FUA) counts.fua += 1;
  if (known & DISCARD) counts.discard += 1;
  if (known & MARK) counts.mark += 1;
  if (known & METADATA) counts.metadata += 1;
  if (unknown) counts.unknown += 1;
}

/** True when an entry is of `kind` (the same rule `countEntry` counts by). */
export function isKind(kind: KindName, known: number, unknown: boolean, hasLength: boolean): boolean {
  if (kind === "none") return known === 0 && !unknown;
  if (kind === "write") return hasLength && (known & DISCARD) === 0;
  return (known & KIND_BITS[kind]!) !== 0;
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
