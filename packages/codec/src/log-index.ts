import { LogFlags } from "./constants.js";
import type { EntryKind } from "./entry.js";
import { ErrorCodes, LogRangeError } from "./errors.js";
import type { LogCursor, LogEntry, LogFile, ReadEnd, ReadOptions } from "./reader.js";

const KIND_CODES: readonly EntryKind[] = ["write", "discard", "flush", "mark", "noop"];
const KIND_CODE: Record<EntryKind, number> = { write: 0, discard: 1, flush: 2, mark: 3, noop: 4 };

/** A mark found while indexing. */
export interface IndexedMark {
  name: string;
  bytes: Uint8Array;
  index: number;
  offset: number;
  tail: boolean;
}

/** Options of `LogIndex.build`. */
export interface IndexOptions {
  /** Index the valid entries past the declared count too (default true). */
  tail?: boolean;
  /** Record broken declared entries instead of throwing (see `ReadOptions.lenient`). */
  lenient?: boolean;
}

/**
 * Random access to a log's entries, built in one pass over the headers: for each entry,
 * its header offset, flag bits and kind (about 10 bytes an entry), plus every mark.
 * Finding entry N, a mark or the next FUA is then a lookup, and reading from there
 * starts a cursor at that offset instead of walking every header from the first.
 */
export class LogIndex {
  readonly log: LogFile;
  /** Valid entries within the declared count. */
  readonly declared: number;
  /** Valid entries found past the declared count (0 unless built with `tail`). */
  readonly tail: number;
  /** How the indexing pass ended. */
  readonly end: ReadEnd;
  readonly marks: readonly IndexedMark[];
  private readonly offsets: Float64Array;
  private readonly flagBits: Uint8Array;
  private readonly kinds: Uint8Array;

  private constructor(log: LogFile, parts: {
    offsets: Float64Array;
    flagBits: Uint8Array;
    kinds: Uint8Array;
    declared: number;
    tail: number;
    end: ReadEnd;
    marks: IndexedMark[];
  }) {
    this.log = log;
    this.offsets = parts.offsets;
    this.flagBits = parts.flagBits;
    this.kinds = parts.kinds;
    this.declared = parts.declared;
    this.tail = parts.tail;
    this.end = parts.end;
    this.marks = parts.marks;
  }

  /** Indexes `log` in one pass over its headers. */
  static build(log: LogFile, options: IndexOptions = {}): LogIndex {
    const tailWanted = options.tail ?? true;
    let cap = 1024;
    let offsets = new Float64Array(cap);
    let flagBits = new Uint8Array(cap);
    let kinds = new Uint8Array(cap);
    const marks: IndexedMark[] = [];
    let n = 0;
    let declared = 0;
    const cursor = log.cursor({ tail: tailWanted, lenient: options.lenient ?? false });
    for (let e = cursor.skim(); e !== undefined; e = cursor.skim()) {
      if (n === cap) {
        cap *= 2;
        offsets = grow(offsets, cap);
        flagBits = grow(flagBits, cap);
        kinds = grow(kinds, cap);
      }
      offsets[n] = e.offset;
      flagBits[n] = e.unknownFlags ? e.knownFlags | 0x80 : e.knownFlags;
      kinds[n] = KIND_CODE[e.kind];
      if (e.kind === "mark") {
        const m = e.entry!;
        marks.push({ name: m.mark!, bytes: m.markBytes!, index: m.index, offset: m.offset, tail: m.tail });
      }
      if (!e.tail) declared += 1;
      n += 1;
    }
    return new LogIndex(log, {
      offsets: offsets.slice(0, n),
      flagBits: flagBits.slice(0, n),
      kinds: kinds.slice(0, n),
      declared,
      tail: n - declared,
      end: cursor.end!,
      marks,
    });
  }

  /** Entries indexed: declared plus tail. */
  get length(): number {
    return this.offsets.length;
  }

  /** Byte offset of entry `i`'s header block. */
  offsetOf(i: number): number {
    this.check(i);
    return this.offsets[i]!;
  }

  /** Kind of entry `i`. */
  kindOf(i: number): EntryKind {
    this.check(i);
    return KIND_CODES[this.kinds[i]!]!;
  }

  /** True when entry `i` has every bit of `flag` (FLUSH, FUA, DISCARD, MARK or METADATA). */
  has(i: number, flag: bigint): boolean {
    this.check(i);
    const bits = packFlags(flag) & 0x1f;
    return (this.flagBits[i]! & bits) === bits;
  }

  /** Entry `i`, read from its header (and its data with `data`). */
  entry(i: number, options: { data?: boolean } = {}): LogEntry {
    this.check(i);
    const e = this.log.entryAt(i, this.offsets[i]!, options);
    if (i >= this.declared) e.tail = true;
    return e;
  }

  /** A cursor that starts at entry `i` (or at the end of the index when `i === length`). */
  cursorAt(i: number, options: Omit<ReadOptions, "start"> = {}): LogCursor {
    if (i < 0 || i > this.length) throw new LogRangeError(ErrorCodes.NO_SUCH_ENTRY, `no entry ${i}: the log has ${this.length}`);
    const offset = i === this.length ? this.end.offset : this.offsets[i]!;
    return this.log.cursor({ ...options, start: { index: i, offset } });
  }

  /** Index of the first mark named `name` at or after entry `from`, or -1. */
  findMark(name: string | Uint8Array, from = 0): number {
    for (const m of this.marks) {
      if (m.index < from) continue;
      if (typeof name === "string" ? m.name === name : equalBytes(m.bytes, name)) return m.index;
    }
    return -1;
  }

  /** Index of the first entry at or after `from` that has every bit of `flag`, or -1. */
  findNext(flag: bigint, from = 0): number {
    const bits = packFlags(flag) & 0x1f;
    for (let i = Math.max(0, from); i < this.length; i++) {
      if ((this.flagBits[i]! & bits) === bits) return i;
    }
    return -1;
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.offsets.length) {
      throw new LogRangeError(ErrorCodes.NO_SUCH_ENTRY, `no entry ${i}: the log has ${this.offsets.length} entries`, {
        file: this.log.path,
      });
    }
  }
}

/** The five known flag bits in the low bits, and 0x80 when any unknown bit is set. */
function packFlags(flags: bigint): number {
  const known = Number(flags & 0x1fn);
  return flags > 0x1fn ? known | 0x80 : known;
}

function grow<T extends Float64Array | Uint8Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export { LogFlags };
