import type { LogFile } from "@lwlog/codec/core";
import type { StateMap } from "@lwlog/state";
import type { ImageTarget } from "./target.js";

/**
 * Where the pieces of a last-writer map (`@lwlog/state`) get their bytes: for piece id `w`,
 * `offsets[w]` is its first target byte (the column the map was built from) and `sources[w]`
 * the log offset of that byte's data, or -1 for a piece that zeroes (a discard). A piece may
 * be a sub-range of its entry: its source is then the entry's data offset plus how far into
 * the entry the piece starts.
 */
export interface PieceSources {
  offsets: Float64Array;
  sources: Float64Array;
}

/** What `writeState` put on the target. */
export interface StateWritten {
  /** Bytes copied from the log. */
  written: number;
  /** Bytes zeroed. */
  zeroed: number;
  /** Ranges of the map (each one write or zeroing, before they are coalesced). */
  ranges: number;
}

/** Ranges handed to `ImageTarget.copyRanges` at a time (24 bytes each). */
const BATCH = 16384;
/** Zero ranges from this size up go to `ImageTarget.zero` (a hole punched, BLKZEROOUT), not written as zeros. */
const BULK_ZERO = 1 << 20;

/**
 * Writes the state a map describes onto the target: every range of `map`, in ascending
 * target order, with its winning piece's bytes (copied from `log`) or zeros, so that the
 * target holds exactly what applying the pieces in order would leave there. Ranges that
 * follow each other on the target are written together, and data that lies close together
 * in the log is read together (`ImageTarget.copyRanges`); large zero ranges are zeroed as a
 * discard is (`ImageTarget.zero`). Bytes in no range are not touched.
 */
export function writeState(target: ImageTarget, log: LogFile, map: StateMap, pieces: PieceSources): StateWritten {
  const out: StateWritten = { written: 0, zeroed: 0, ranges: map.count };
  const batch = new Float64Array(3 * Math.min(BATCH, Math.max(1, map.count)));
  const cap = batch.length / 3;
  let n = 0;
  const send = () => {
    target.copyRanges(log, batch, n);
    n = 0;
  };
  const { offsets, sources } = pieces;
  for (let k = 0; k < map.count; k++) {
    const start = map.starts[k]!;
    const len = map.ends[k]! - start;
    const w = map.writers[k]!;
    const source = sources[w]!;
    if (source < 0) {
      out.zeroed += len;
      if (len >= BULK_ZERO) {
        if (n > 0) send();
        target.zero(start, len);
        continue;
      }
    } else {
      out.written += len;
    }
    batch[3 * n] = start;
    batch[3 * n + 1] = source < 0 ? -1 : source + (start - offsets[w]!);
    batch[3 * n + 2] = len;
    if (++n === cap) send();
  }
  if (n > 0) send();
  return out;
}
