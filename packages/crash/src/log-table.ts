import { ErrorCodes, LogFile, LogFlags, LogFormatError, toSafeNumber, type EntryKind, type ReadEnd } from "@lwlog/codec/core";

/** Codes of `CrashLog.kinds`. */
export const KIND = { write: 0, discard: 1, flush: 2, mark: 3, noop: 4 } as const satisfies Record<EntryKind, number>;
/** The kind of each code of `CrashLog.kinds`. */
export const KIND_NAMES: readonly EntryKind[] = ["write", "discard", "flush", "mark", "noop"];

export const FLUSH_BIT = Number(LogFlags.FLUSH);
export const FUA_BIT = Number(LogFlags.FUA);

/** A mark of the log. */
export interface CrashMark {
  name: string;
  index: number;
}

/** Options of `CrashLog.read`. */
export interface CrashLogOptions {
  /** Take the valid entries past the superblock's declared count too (default false, as replay). */
  tail?: boolean;
}

/**
 * What the crash engine knows of a log, from one pass over its headers (never its data), in
 * columns of about 30 bytes an entry: kind, known flag bits, target byte range, where the
 * header is in the log, and a running fingerprint of the headers (what binds a state id to
 * the log it was made on). Immutable once read.
 */
export class CrashLog {
  readonly path: string;
  readonly sectorSize: number;
  /** Entries taken (declared, plus the tail with `tail`). */
  readonly count: number;
  /** Entries within the declared count, and valid entries found past it (taken or not). */
  readonly declared: number;
  readonly tailFound: number;
  readonly tailTaken: boolean;
  /** How the header walk ended. */
  readonly end: ReadEnd;
  readonly kinds: Uint8Array;
  /** The five known flag bits of each entry (FLUSH 1, FUA 2, DISCARD 4, MARK 8, METADATA 16). */
  readonly flags: Uint8Array;
  /** Target byte offset and length of writes and discards (0 for the others). */
  readonly offsets: Float64Array;
  readonly lengths: Float64Array;
  /** Byte offset of each entry's header block in the log; its data follows one sector later. */
  readonly headers: Float64Array;
  /** `fingerprints[p]`: a 32-bit hash of the headers of entries `[0, p)` and the sector size. */
  readonly fingerprints: Uint32Array;
  readonly marks: readonly CrashMark[];
  /** One past the highest target byte any taken write or discard reaches. */
  readonly extent: number;

  private constructor(parts: CrashLogParts) {
    this.path = parts.path;
    this.sectorSize = parts.sectorSize;
    this.count = parts.count;
    this.declared = parts.declared;
    this.tailFound = parts.tailFound;
    this.tailTaken = parts.tailTaken;
    this.end = parts.end;
    this.kinds = parts.kinds;
    this.flags = parts.flags;
    this.offsets = parts.offsets;
    this.lengths = parts.lengths;
    this.headers = parts.headers;
    this.fingerprints = parts.fingerprints;
    this.marks = parts.marks;
    this.extent = parts.extent;
  }

  /** Reads the headers of `log` once. A broken declared entry throws its `LogFormatError` (entry and offset named). */
  static read(log: LogFile, options: CrashLogOptions = {}): CrashLog {
    const S = log.sectorSize;
    let cap = 1024;
    let kinds = new Uint8Array(cap);
    let flags = new Uint8Array(cap);
    let offsets = new Float64Array(cap);
    let lengths = new Float64Array(cap);
    let headers = new Float64Array(cap);
    let fps = new Uint32Array(cap + 1);
    const marks: CrashMark[] = [];
    let n = 0;
    let declared = 0;
    let tailFound = 0;
    let extent = 0;
    let h = mix(0x6c776c67 ^ S);
    fps[0] = h;
    const tail = options.tail ?? false;
    // Walk the tail even when it is not taken, to say how many entries it holds.
    const cursor = log.cursor({ tail: true });
    for (let e = cursor.skim(); e !== undefined; e = cursor.skim()) {
      if (e.tail) {
        tailFound += 1;
        if (!tail) continue;
      } else declared += 1;
      if (n === cap) {
        cap *= 2;
        kinds = grow(kinds, cap);
        flags = grow(flags, cap);
        offsets = grow(offsets, cap);
        lengths = grow(lengths, cap);
        headers = grow(headers, cap);
        fps = grow(fps, cap + 1);
      }
      const kind = KIND[e.kind];
      let sector = e.sector;
      let nr = e.nrSectors;
      if (sector < 0 || nr < 0) {
        // Fields too wide for the fast path: the full entry has them as bigints.
        const full = e.entry!;
        const ranged = kind === KIND.write || kind === KIND.discard;
        try {
          sector = ranged ? toSafeNumber(full.sector * BigInt(S), "the target byte offset") / S : 0;
          nr = ranged ? toSafeNumber(full.nrSectors * BigInt(S), "the target byte length") / S : 0;
        } catch (err) {
          throw new LogFormatError(ErrorCodes.RANGE, (err as Error).message, { file: log.path, entry: e.index, offset: e.offset });
        }
      }
      kinds[n] = kind;
      flags[n] = e.knownFlags;
      headers[n] = e.offset;
      if (kind === KIND.write || kind === KIND.discard) {
        const off = sector * S;
        const len = nr * S;
        if (!Number.isSafeInteger(off + len)) {
          throw new LogFormatError(ErrorCodes.RANGE, `the ${e.kind} reaches beyond byte 2^53 of the target`, { file: log.path, entry: e.index, offset: e.offset });
        }
        offsets[n] = off;
        lengths[n] = len;
        if (off + len > extent) extent = off + len;
      }
      if (kind === KIND.mark) marks.push({ name: e.entry!.mark!, index: n });
      // The fingerprint covers what decides a crash state: kind, flags, sector and length.
      h = mix(h ^ (kind | (e.knownFlags << 8)));
      h = mix(h ^ (sector % 0x1_0000_0000));
      h = mix(h ^ Math.floor(sector / 0x1_0000_0000));
      h = mix(h ^ (nr % 0x1_0000_0000));
      h = mix(h ^ Math.floor(nr / 0x1_0000_0000));
      n += 1;
      fps[n] = h;
    }
    return new CrashLog({
      path: log.path,
      sectorSize: S,
      count: n,
      declared,
      tailFound,
      tailTaken: tail,
      end: cursor.end!,
      kinds: kinds.slice(0, n),
      flags: flags.slice(0, n),
      offsets: offsets.slice(0, n),
      lengths: lengths.slice(0, n),
      headers: headers.slice(0, n),
      fingerprints: fps.slice(0, n + 1),
      marks,
      extent,
    });
  }

  /** Byte offset of entry `i`'s data in the log. */
  dataOffset(i: number): number {
    return this.headers[i]! + this.sectorSize;
  }

  /** True for a write or discard with at least one byte. */
  isRanged(i: number): boolean {
    const k = this.kinds[i];
    return (k === KIND.write || k === KIND.discard) && this.lengths[i]! > 0;
  }

  isFua(i: number): boolean {
    return (this.flags[i]! & FUA_BIT) !== 0;
  }

  isFlush(i: number): boolean {
    return (this.flags[i]! & FLUSH_BIT) !== 0;
  }

  /** The last mark at or before entry `i`, or undefined. */
  markBefore(i: number): CrashMark | undefined {
    let lo = 0;
    let hi = this.marks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.marks[mid]!.index <= i) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? this.marks[lo - 1] : undefined;
  }

  /** The first mark at or after entry `i`, or undefined. */
  markAfter(i: number): CrashMark | undefined {
    let lo = 0;
    let hi = this.marks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.marks[mid]!.index < i) lo = mid + 1;
      else hi = mid;
    }
    return this.marks[lo];
  }

  /** Flag names of entry `i` (`FLUSH`, `FUA`, …), `NONE` when it has none. */
  describeFlags(i: number): string {
    const f = this.flags[i]!;
    const names = ["FLUSH", "FUA", "DISCARD", "MARK", "METADATA"].filter((_, b) => (f & (1 << b)) !== 0);
    return names.length > 0 ? names.join("|") : "NONE";
  }
}

type CrashLogParts = {
  [K in "path" | "sectorSize" | "count" | "declared" | "tailFound" | "tailTaken" | "end" | "kinds" | "flags" | "offsets" | "lengths" | "headers" | "fingerprints" | "marks" | "extent"]: CrashLog[K];
};

/** A 32-bit mixing step (murmur3's finaliser): every input bit moves every output bit. */
export function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function grow<T extends Float64Array | Uint8Array | Uint32Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}
