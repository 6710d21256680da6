import type { LogFile } from "@lwlog/codec/core";
import { lastWriters, type StateMap } from "@lwlog/state";
import { KIND, type CrashLog } from "./log-table.js";
import { keptRanges, type CrashState } from "./state.js";

/**
 * Where a state's bytes go: a scratch view of the durable prefix, or an image. Writes and
 * zeroings come in ascending offset order, never overlapping.
 */
export interface StateSink {
  write(offset: number, data: Uint8Array): void | Promise<void>;
  /** Makes `[offset, offset + length)` read as zeros (a discard that won). */
  zero(offset: number, length: number): void | Promise<void>;
}

/** What applying a state wrote. */
export interface ApplyStats {
  /** Byte ranges of the state's map. */
  ranges: number;
  bytesWritten: number;
  bytesZeroed: number;
}

/**
 * The pieces a state puts on top of its durable prefix: for each write or discard of
 * `[flush, position)` in log order, the whole entry (FUA, or a kept candidate), its kept
 * sector runs (a torn candidate) or nothing (a dropped one). `entries[k]` is piece k's entry.
 */
export interface StatePieces {
  offsets: Float64Array;
  lengths: Float64Array;
  entries: Int32Array;
  count: number;
}

/** The pieces of `state` (see `StatePieces`); `flush` is the point's last FLUSH entry. */
export function piecesOf(log: CrashLog, flush: number, state: CrashState): StatePieces {
  const S = log.sectorSize;
  const dropped = new Set(state.dropped);
  const torn = new Map(state.torn.map((t) => [t.ordinal, t.runs]));
  let cap = 16;
  let offsets = new Float64Array(cap);
  let lengths = new Float64Array(cap);
  let entries = new Int32Array(cap);
  let n = 0;
  const push = (off: number, len: number, entry: number) => {
    if (n === cap) {
      cap *= 2;
      offsets = growF(offsets, cap);
      lengths = growF(lengths, cap);
      const e = new Int32Array(cap);
      e.set(entries);
      entries = e;
    }
    offsets[n] = off;
    lengths[n] = len;
    entries[n] = entry;
    n++;
  };
  let ordinal = 0;
  for (let i = flush; i < state.position; i++) {
    if (!log.isRanged(i)) continue;
    const off = log.offsets[i]!;
    if (log.isFua(i)) {
      push(off, log.lengths[i]!, i);
      continue;
    }
    const j = ordinal++;
    if (dropped.has(j)) continue;
    const runs = torn.get(j);
    if (runs === undefined) {
      push(off, log.lengths[i]!, i);
      continue;
    }
    for (const [a, b] of keptRanges(runs)) push(off + a * S, (b - a) * S, i);
  }
  return { offsets: offsets.subarray(0, n), lengths: lengths.subarray(0, n), entries: entries.subarray(0, n), count: n };
}

/** The last-writer map of a state's pieces (`writers` are piece numbers). */
export function stateMap(pieces: StatePieces): StateMap {
  const ids = new Uint32Array(pieces.count);
  for (let k = 0; k < pieces.count; k++) ids[k] = k;
  return lastWriters(pieces.offsets, pieces.lengths, ids);
}

const CHUNK = 4 << 20;

/**
 * Applies a state's pieces to `sink` (which holds the durable prefix `[0, flush)`): only the
 * bytes each range's last writer left, in ascending offset order, data read from the log.
 */
export async function applyPieces(log: CrashLog, file: LogFile, pieces: StatePieces, sink: StateSink, buffer?: Uint8Array): Promise<ApplyStats> {
  const map = stateMap(pieces);
  const stats: ApplyStats = { ranges: map.count, bytesWritten: 0, bytesZeroed: 0 };
  let buf = buffer ?? new Uint8Array(Math.min(CHUNK, 1 << 16));
  for (let k = 0; k < map.count; k++) {
    const start = map.starts[k]!;
    const end = map.ends[k]!;
    const entry = pieces.entries[map.writers[k]!]!;
    if (log.kinds[entry] === KIND.discard) {
      const r = sink.zero(start, end - start);
      if (r !== undefined) await r;
      stats.bytesZeroed += end - start;
      continue;
    }
    const from = log.dataOffset(entry) + (start - log.offsets[entry]!);
    for (let p = start; p < end; ) {
      const n = Math.min(CHUNK, end - p);
      if (buf.length < n) buf = new Uint8Array(Math.min(CHUNK, Math.max(n, buf.length * 2)));
      const view = buf.subarray(0, n);
      file.readAt(view, from + (p - start));
      const r = sink.write(p, view);
      if (r !== undefined) await r;
      p += n;
    }
    stats.bytesWritten += end - start;
  }
  return stats;
}

function growF(a: Float64Array<ArrayBuffer>, cap: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(cap);
  b.set(a);
  return b;
}
