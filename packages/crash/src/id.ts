import { crc32 } from "node:zlib";
import { CrashErrorCodes, StateIdError } from "./errors.js";
import { generatedState, type StateShape } from "./generate.js";
import type { CrashLog } from "./log-table.js";
import { tearProblem, type CrashState, type Tear } from "./state.js";

/**
 * Crash-state ids: `cs1-<position>-<code>`, where `1` is the format version, `position` the
 * crash point (entries before it may be on the disk) and `code` Crockford base32 (lower case,
 * no i, l, o, u) of:
 *
 *   flags (1 byte): bits 0-1 how the dropped candidates are given (0 a list, 1 a bitmap,
 *     2 a generator seed), bit 2 the generator tears writes, bit 3 a list of tears follows;
 *   the dropped candidates: list: varint count, then varint gaps between ordinals (each minus
 *     one); bitmap: varint candidate count, then one bit a candidate (1 = dropped), LSB first;
 *     seed: 4 bytes, little-endian (`generatedState`);
 *   the tears (bit 3): varint count, then for each a varint ordinal gap, a varint run count,
 *     and the runs (kept, lost, kept, …) as varints;
 *   the log's fingerprint at the position (4 bytes): the headers of entries before it;
 *   a CRC-32 (4 bytes) of the text before the code and every byte before it.
 *
 * So an id says everything about its state given the log, and a damaged id (CRC), an id of
 * another log (fingerprint) or of a newer format (version) is told apart from a good one.
 */
export const STATE_ID_VERSION = 1;

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const MODE_LIST = 0;
const MODE_BITMAP = 1;
const MODE_SEED = 2;
const GEN_TORN = 4;
const HAS_TEARS = 8;

/** What encoding a state needs to know about its point. */
export interface IdPoint {
  /** The log's fingerprint at the position (`CrashLog.fingerprints[position]`). */
  fingerprint: number;
  /** Candidates of the point. */
  candidates: number;
}

/** How a state was generated, when it was: its id may then store the seed. */
export interface Generated {
  seed: number;
  torn: boolean;
}

/** The shortest id of `state` (a seed when it was generated and that is shorter). */
export function encodeStateId(state: CrashState, point: IdPoint, generated?: Generated): string {
  const prefix = `cs${STATE_ID_VERSION}-${state.position}-`;
  const bodies: number[][] = [];
  const withTears = (flags: number, out: number[]) => {
    if (state.torn.length === 0) return out;
    out[0] = flags | HAS_TEARS;
    writeTears(out, state.torn);
    return out;
  };
  const list = [MODE_LIST];
  varint(list, state.dropped.length);
  let prev = -1;
  for (const o of state.dropped) {
    varint(list, o - prev - 1);
    prev = o;
  }
  bodies.push(withTears(MODE_LIST, list));
  if (state.dropped.length > 0) {
    const bitmap = [MODE_BITMAP];
    varint(bitmap, point.candidates);
    const bytes = new Array<number>(Math.ceil(point.candidates / 8)).fill(0);
    for (const o of state.dropped) bytes[o >> 3]! |= 1 << (o & 7);
    bitmap.push(...bytes);
    bodies.push(withTears(MODE_BITMAP, bitmap));
  }
  if (generated !== undefined) {
    const s = generated.seed >>> 0;
    bodies.push([MODE_SEED | (generated.torn ? GEN_TORN : 0), s & 0xff, (s >>> 8) & 0xff, (s >>> 16) & 0xff, s >>> 24]);
  }
  const body = bodies.reduce((a, b) => (b.length < a.length ? b : a));
  pushU32(body, point.fingerprint);
  pushU32(body, crc32(Buffer.concat([Buffer.from(prefix, "ascii"), Buffer.from(body)])));
  return prefix + toBase32(body);
}

/** A decoded id: the state, and where its point is. */
export interface DecodedId {
  state: CrashState;
  /** The id's position. */
  position: number;
}

/**
 * The state an id stands for on `log`. `shapeAt(position)` gives the point's candidate count
 * and state shape (units, and whether tears are allowed do not matter here: the id says).
 * Throws `StateIdError` with `LWLOG_BAD_STATE_ID` (not an id, damaged, impossible for the
 * log), `LWLOG_FOREIGN_STATE_ID` (made on another log) or `LWLOG_STATE_ID_VERSION`.
 */
export function decodeStateId(id: string, log: CrashLog, unitsAt: (position: number) => ArrayLike<number>): DecodedId {
  const text = id.trim();
  const shape = /^cs([0-9]+)-([0-9]+)-([0-9a-zA-Z]+)$/.exec(text);
  if (shape === null) {
    throw new StateIdError(CrashErrorCodes.BAD_STATE_ID, `${quote(text)} is not a crash-state id (they read cs1-POSITION-CODE, as lwlog crashes prints them)`, { file: log.path });
  }
  const version = Number(shape[1]);
  if (version !== STATE_ID_VERSION) {
    throw new StateIdError(CrashErrorCodes.STATE_ID_VERSION, `${quote(text)} is a version ${shape[1]} id; this lwlog reads version ${STATE_ID_VERSION} (use the lwlog that printed it)`, { file: log.path });
  }
  const position = Number(shape[2]);
  const bytes = fromBase32(shape[3]!);
  const damaged = () => new StateIdError(CrashErrorCodes.BAD_STATE_ID, `${quote(text)} is damaged (its checksum does not match): copy it again, whole`, { file: log.path });
  if (bytes === undefined || bytes.length < 9 || !Number.isSafeInteger(position)) throw damaged();
  const prefix = `cs${shape[1]}-${shape[2]}-`;
  const sum = readU32(bytes, bytes.length - 4);
  if (crc32(Buffer.concat([Buffer.from(prefix, "ascii"), Buffer.from(bytes.subarray(0, bytes.length - 4))])) !== sum) throw damaged();
  if (position < 1 || position > log.count) {
    const more = position <= log.count + log.tailFound && !log.tailTaken ? " (the log has valid entries past its declared count: add --tail)" : "";
    throw new StateIdError(CrashErrorCodes.FOREIGN_STATE_ID, `${quote(text)} is for a crash point at entry ${position}, but the log has ${log.count} entries${more}: it was made on another log`, { file: log.path });
  }
  const fingerprint = readU32(bytes, bytes.length - 8);
  if (fingerprint !== log.fingerprints[position]) {
    throw new StateIdError(
      CrashErrorCodes.FOREIGN_STATE_ID,
      `${quote(text)} was made on another log (or this log changed): its entries 0..${position - 1} are not the ones the id was made on`,
      { file: log.path },
    );
  }
  const units = unitsAt(position);
  const impossible = (why: string) => new StateIdError(CrashErrorCodes.BAD_STATE_ID, `${quote(text)} cannot be a state of this log: ${why}`, { file: log.path });
  try {
    return parseBody(new Reader(bytes.subarray(0, bytes.length - 8)), position, units, impossible);
  } catch (err) {
    if (err instanceof RangeError) throw impossible("its code ends too soon");
    throw err;
  }
}

function parseBody(r: Reader, position: number, units: ArrayLike<number>, impossible: (why: string) => StateIdError): DecodedId {
  const flags = r.byte();
  const mode = flags & 3;
  let state: CrashState;
  if (mode === MODE_SEED) {
    const seed = r.byte() | (r.byte() << 8) | (r.byte() << 16) | (r.byte() << 24);
    const shapeOf: StateShape = { units, torn: (flags & GEN_TORN) !== 0 };
    state = generatedState(position, shapeOf, seed >>> 0);
  } else {
    const dropped: number[] = [];
    if (mode === MODE_LIST) {
      const count = r.varint();
      let prev = -1;
      for (let k = 0; k < count; k++) {
        prev = prev + 1 + r.varint();
        if (prev >= units.length) throw impossible(`it drops candidate ${prev}, the crash point has ${units.length}`);
        dropped.push(prev);
      }
    } else if (mode === MODE_BITMAP) {
      const count = r.varint();
      if (count !== units.length) throw impossible(`it is for ${count} candidates, the crash point has ${units.length}`);
      for (let o = 0; o < count; o += 8) {
        const b = r.byte();
        for (let bit = 0; bit < 8; bit++) {
          if ((b & (1 << bit)) === 0) continue;
          if (o + bit >= count) throw impossible("its bitmap has bits past the candidates");
          dropped.push(o + bit);
        }
      }
    } else {
      throw impossible(`unknown encoding ${mode}`);
    }
    const torn: Tear[] = [];
    if ((flags & HAS_TEARS) !== 0) {
      const count = r.varint();
      let prev = -1;
      for (let k = 0; k < count; k++) {
        const ordinal = prev + 1 + r.varint();
        prev = ordinal;
        const n = r.varint();
        if (n > 1 << 20) throw impossible("a tear with too many runs");
        const runs: number[] = [];
        for (let q = 0; q < n; q++) runs.push(r.varint());
        if (ordinal >= units.length) throw impossible(`it tears candidate ${ordinal}, the crash point has ${units.length}`);
        const problem = tearProblem(runs, units[ordinal]!);
        if (problem !== undefined) throw impossible(`candidate ${ordinal}'s tear: ${problem}`);
        if (dropped.includes(ordinal)) throw impossible(`candidate ${ordinal} is both dropped and torn`);
        torn.push({ ordinal, runs });
      }
    }
    state = { position, dropped, torn };
  }
  if (!r.done) throw impossible("bytes are left over");
  return { state, position };
}

function writeTears(out: number[], torn: readonly Tear[]): void {
  varint(out, torn.length);
  let prev = -1;
  for (const t of torn) {
    varint(out, t.ordinal - prev - 1);
    prev = t.ordinal;
    varint(out, t.runs.length);
    for (const len of t.runs) varint(out, len);
  }
}

/** Unsigned LEB128 of a whole number below 2^53. */
function varint(out: number[], n: number): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

function pushU32(out: number[], v: number): void {
  out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

class Reader {
  private at = 0;
  constructor(private readonly b: Uint8Array) {}
  get done(): boolean {
    return this.at === this.b.length;
  }
  byte(): number {
    if (this.at >= this.b.length) throw new RangeError("short");
    return this.b[this.at++]!;
  }
  varint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
      if (scale > 2 ** 49) throw new RangeError("varint too long");
    }
    return n;
  }
}

function toBase32(bytes: readonly number[]): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/** Crockford base32 (any case; o reads as 0, i and l as 1), or undefined when it is not. */
function fromBase32(text: string): Uint8Array | undefined {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of text.toLowerCase()) {
    const c = ch === "o" ? "0" : ch === "i" || ch === "l" ? "1" : ch;
    const v = ALPHABET.indexOf(c);
    if (v < 0) return undefined;
    acc = ((acc << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >>> bits) & 0xff);
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return undefined;
  return Uint8Array.from(out);
}

function quote(id: string): string {
  return JSON.stringify(id.length > 80 ? id.slice(0, 80) + "…" : id);
}
