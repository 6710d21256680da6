import type { LogFile } from "@lwlog/codec/core";
import { ImageTarget } from "@lwlog/replay";
import { applyPieces, piecesOf, type ApplyStats } from "./apply.js";
import { applyEntries } from "./durable.js";
import { CrashErrorCodes, StateIdError } from "./errors.js";
import { decodeStateId, encodeStateId } from "./id.js";
import type { CrashLog } from "./log-table.js";
import { shapeOf } from "./plan.js";
import { flushBefore } from "./points.js";
import { describeState, type EntryRecord, type TornRecord } from "./records.js";
import type { CrashState } from "./state.js";

/** A state id decoded against its log, with what it drops and tears. */
export interface ResolvedState {
  id: string;
  state: CrashState;
  /** The point's last FLUSH entry (entries before it are durable). */
  flush: number;
  candidates: Int32Array;
  dropped: number[];
  torn: TornRecord[];
  entries: EntryRecord[];
}

/**
 * Decodes `id` on `log` (see `decodeStateId` for the errors) and says what the state holds.
 * A decimal entry index N (what `lwlog replay --check` passes its checker as `LWLOG_STATE`)
 * is the prefix state through entry N, the disk `lwlog replay --until-entry N` writes: the
 * crash point after entry N with nothing dropped; it resolves to that state's `cs1-` id.
 */
export function resolveStateId(log: CrashLog, id: string): ResolvedState {
  const entry = /^\s*(\d+)\s*$/.exec(id)?.[1];
  if (entry !== undefined) return resolvePrefix(log, entry);
  const decoded = decodeStateId(id, log, (p) => shapeOf(log, { flush: flushBefore(log, p), position: p }, true).shape.units);
  const flush = flushBefore(log, decoded.position);
  const { candidates } = shapeOf(log, { flush, position: decoded.position }, true);
  const d = describeState(log, candidates, decoded.state);
  return { id: id.trim(), state: decoded.state, flush, candidates, dropped: d.dropped, torn: d.torn, entries: d.entries };
}

function resolvePrefix(log: CrashLog, digits: string): ResolvedState {
  const n = Number(digits);
  if (!Number.isSafeInteger(n) || n >= log.count) {
    const last = log.count - 1;
    throw new StateIdError(CrashErrorCodes.BAD_STATE_ID, `state ${digits} is an entry index (a replay checkpoint's LWLOG_STATE), but the log's entries are 0..${last}${log.count === 0 ? " (none)" : ""}`, { file: log.path });
  }
  const position = n + 1;
  const flush = flushBefore(log, position);
  const { candidates } = shapeOf(log, { flush, position }, true);
  const state: CrashState = { position, dropped: [], torn: [] };
  const d = describeState(log, candidates, state);
  const id = encodeStateId(state, { fingerprint: log.fingerprints[position]!, candidates: candidates.length });
  return { id, state, flush, candidates, dropped: d.dropped, torn: d.torn, entries: d.entries };
}

/**
 * Writes exactly the state to `target` (an `ImageTarget` holding zeros, of the image's size):
 * the durable prefix in log order, then the state's own pieces.
 */
export async function writeState(log: CrashLog, file: LogFile, resolved: ResolvedState, target: ImageTarget): Promise<ApplyStats> {
  await applyEntries(log, file, target, 0, resolved.flush);
  return applyPieces(log, file, piecesOf(log, resolved.flush, resolved.state), target);
}
