import { KNOWN_FLAGS, LogFlags, type LogFlagName } from "./constants.js";

const NAMES = Object.keys(LogFlags) as LogFlagName[];

/** The flags of an entry, split into the known names and the bits nobody defines. */
export interface FlagSet {
  /** Names of the known bits that are set, lowest bit first. */
  names: LogFlagName[];
  /** Bits set that no writer defines (0n when there are none); kept, never dropped. */
  unknown: bigint;
}

/** Splits a raw flags value into known names and unknown bits. */
export function decodeFlags(flags: bigint): FlagSet {
  const names = NAMES.filter((n) => (flags & LogFlags[n]) !== 0n);
  return { names, unknown: flags & ~KNOWN_FLAGS };
}

/** Builds a raw flags value from names (and any unknown bits to keep). */
export function encodeFlags(names: readonly string[], unknown = 0n): bigint {
  let flags = unknown;
  for (const n of names) {
    const bit = (LogFlags as Record<string, bigint>)[n.toUpperCase()];
    if (bit === undefined) throw new RangeError(`unknown flag name ${JSON.stringify(n)}`);
    flags |= bit;
  }
  return flags;
}

/**
 * Flags as text, `FLUSH|FUA|METADATA`, `NONE` for 0, and `UNKNOWN(0x40)` for bits
 * nobody defines (replay-log prints the same names).
 */
export function formatFlags(flags: bigint): string {
  if (flags === 0n) return "NONE";
  const { names, unknown } = decodeFlags(flags);
  const parts: string[] = [...names];
  if (unknown !== 0n) parts.push(`UNKNOWN(0x${unknown.toString(16)})`);
  return parts.join("|");
}

/** True when every bit of `bit` is set in `flags`. */
export function hasFlag(flags: bigint, bit: bigint): boolean {
  return (flags & bit) === bit;
}
