/**
 * The lines xfstests' `replay-log` prints on stdout with `-v` and `-vv`, for `lwlog
 * replay-log`, whose output scripts and fstests' `$seqres.full` expect byte for byte. Every
 * field is the C tool's: entry indexes, positions in units of the log's sector size S,
 * sizes in bytes or sectors as each line has them, flags in lowercase hex.
 */

const U64_MASK = (1n << 64n) - 1n;

/** The header fields a line shows, and where the entry is in the log. */
export interface EntryForLine {
  index: number;
  /** Byte offset of the entry's header block in the log. */
  offset: number;
  sector: bigint;
  nrSectors: bigint;
  flags: bigint;
}

const NAMES: readonly [bigint, string][] = [
  [1n, "FLUSH"],
  [2n, "FUA"],
  [4n, "DISCARD"],
  [8n, "MARK"],
  [16n, "METADATA"],
];

/** Flag names as replay-log spells them: known bits in this order joined by `|`, then `UNKNOWN.0x…` for the rest; `NONE` for 0. */
export function cFlagNames(flags: bigint): string {
  const parts: string[] = [];
  let rest = flags;
  for (const [bit, name] of NAMES) {
    if ((rest & bit) !== 0n) {
      parts.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0n) parts.push(`UNKNOWN.0x${rest.toString(16)}`);
  return parts.length === 0 ? "NONE" : parts.join("|");
}

/** Log position after the entry's header block, in sectors: what replay-log prints after `@` while replaying or walking. */
function afterHeader(e: EntryForLine, S: number): number {
  return Math.floor(e.offset / S) + 1;
}

/**
 * `-v`: the line for an entry replayed; `-vv` also prints it for an entry outside
 * `--start-sector`/`--end-sector` (`skipped`). The size is in bytes (`nr_sectors × S`, for
 * discards, marks and flushes too).
 */
export function replayLine(e: EntryForLine, S: number, skipped: boolean): string {
  const bytes = (e.nrSectors * BigInt(S)) & U64_MASK;
  return `${skipped ? "skipping" : "replaying"} ${e.index}@${afterHeader(e, S)}: sector ${e.sector}, size ${bytes}, flags 0x${e.flags.toString(16)}(${cFlagNames(e.flags)})`;
}

/**
 * `-vv`: an entry walked on the way to `--start-entry`. This walk prints the log position of
 * the header block itself, the size in sectors, and no flag names.
 */
export function seekEntryLine(e: EntryForLine, S: number): string {
  return `seek entry ${e.index}@${Math.floor(e.offset / S)}: ${e.sector}, size ${e.nrSectors}, flags 0x${e.flags.toString(16)}`;
}

/**
 * `-vv`: an entry walked to find `--start-mark` or, with `--find`, the entry asked for: the
 * position after the header block, the size in sectors, then the flag names.
 */
export function walkEntryLine(e: EntryForLine, S: number): string {
  return `seek entry ${e.index}@${afterHeader(e, S)}: ${e.sector}, size ${e.nrSectors}, flags 0x${e.flags.toString(16)}(${cFlagNames(e.flags)})`;
}

/** True when replay-log skips the entry for `--start-sector`/`--end-sector` (entries with no sectors never are; the sum wraps as a u64 does). */
export function outsideSectors(e: { sector: bigint; nrSectors: bigint }, from: bigint, to: bigint): boolean {
  if (e.nrSectors === 0n) return false;
  return ((e.sector + e.nrSectors) & U64_MASK) <= from || e.sector > to;
}

/** `-v`: printed once, at the first discard replayed onto a target that has no BLKDISCARD (a regular file). */
export const NO_DISCARD_LINE = "replay device doesn't support discard, switching to writing zeros";
