import type { EntrySummary, LogEntry } from "@lwlog/codec/core";

const NO_PROBLEMS: LogEntry["problems"] = Object.freeze([]);

/**
 * The `LogEntry` of an entry `LogCursor.skim()` summed up without one (a plain entry: known
 * flags but MARK, `data_len` 0, no problem, numbers below 2^53): what `next()` would have
 * returned for it, without data. For the rare paths of walks that skim.
 */
export function entryOf(s: EntrySummary, sectorSize: number): LogEntry {
  return {
    sector: BigInt(s.sector),
    nrSectors: BigInt(s.nrSectors),
    flags: BigInt(s.knownFlags),
    dataLen: 0n,
    index: s.index,
    offset: s.offset,
    kind: s.kind,
    tail: s.tail,
    dataOffset: s.offset + sectorSize,
    dataSize: s.dataSize,
    nextOffset: s.nextOffset,
    problems: NO_PROBLEMS,
  };
}
