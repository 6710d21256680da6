import {
  LogFile,
  LogFormatError,
  LogIoError,
  LogRangeError,
  LwlogError,
  ErrorCodes,
  type EntryKind,
  type ReadEnd,
} from "@lwlog/codec/core";
import { MARK_SEED, loadHasher, type HashImpl } from "./hash.js";

/** The kind of each code in `LogScan.kinds`. */
export const KIND_CODES: readonly EntryKind[] = ["write", "discard", "flush", "mark", "noop"];
/** The code of each kind in `LogScan.kinds`. */
export const KIND = { write: 0, discard: 1, flush: 2, mark: 3, noop: 4 } as const satisfies Record<EntryKind, number>;

/** A mark found by the scan. */
export interface ScanMark {
  name: string;
  index: number;
}

/** Options of `scanLog`. */
export interface ScanOptions {
  /** Read the valid entries past the superblock's declared count too (default false). */
  tail?: boolean;
  /** The reader's window size (default 256 KiB). */
  blockSize?: number;
  /**
   * The XXH64 code to prefer (default `native`: the addon's, else xxhash-wasm's, else the
   * JavaScript one; all give the same values). For tests.
   */
  hash?: HashImpl;
}

/**
 * Every entry of one log reduced to its signature, in columns (about 41 bytes an entry, so
 * a million entries take 41 MB): kind, target byte offset and length, flags, the XXH64 of
 * its data (of its name, for a mark), and where its header is in the log so that the full
 * entry can be read again for a report. Offsets and lengths are in bytes, so logs with
 * different sector sizes compare directly.
 */
export class LogScan {
  readonly path: string;
  readonly sectorSize: number;
  readonly fileSize: number;
  /** Entries scanned. */
  readonly count: number;
  /** How reading ended (see the codec's `ReadEnd`). */
  readonly end: ReadEnd;
  readonly kinds: Uint8Array;
  /** Target byte offset (`sector × S`; rounded past 2^53, where `bigOffsets` has it exactly). */
  readonly offsets: Float64Array;
  /** Target byte length (`nrSectors × S`; 0 for flushes and marks). */
  readonly lengths: Float64Array;
  /** Low and high 32 bits of the raw flags. */
  readonly flagsLo: Uint32Array;
  readonly flagsHi: Uint32Array;
  /** XXH64 of the data (writes) or name (marks), as [lo, hi] pairs; 0 for the others. */
  readonly hashes: Uint32Array;
  /** Byte offset of each entry's header block in the log. */
  readonly headers: Float64Array;
  readonly marks: readonly ScanMark[];
  /**
   * The exact target byte offsets past 2^53, by entry index: only entries that touch no byte
   * (flushes, marks; a log `check` calls valid may put one at any sector) can have one.
   */
  readonly bigOffsets: ReadonlyMap<number, bigint>;

  constructor(parts: {
    path: string;
    sectorSize: number;
    fileSize: number;
    count: number;
    end: ReadEnd;
    kinds: Uint8Array;
    offsets: Float64Array;
    lengths: Float64Array;
    flagsLo: Uint32Array;
    flagsHi: Uint32Array;
    hashes: Uint32Array;
    headers: Float64Array;
    marks: ScanMark[];
    bigOffsets?: ReadonlyMap<number, bigint>;
  }) {
    this.path = parts.path;
    this.sectorSize = parts.sectorSize;
    this.fileSize = parts.fileSize;
    this.count = parts.count;
    this.end = parts.end;
    this.kinds = parts.kinds;
    this.offsets = parts.offsets;
    this.lengths = parts.lengths;
    this.flagsLo = parts.flagsLo;
    this.flagsHi = parts.flagsHi;
    this.hashes = parts.hashes;
    this.headers = parts.headers;
    this.marks = parts.marks;
    this.bigOffsets = parts.bigOffsets ?? new Map();
  }

  /** Entry `i`'s target byte offset, exact (a bigint past 2^53). */
  byteOffset(i: number): number | bigint {
    return this.bigOffsets.get(i) ?? this.offsets[i]!;
  }

  /** The entry's flags as the raw u64. */
  flags(i: number): bigint {
    return (BigInt(this.flagsHi[i]!) << 32n) | BigInt(this.flagsLo[i]!);
  }

  /** Bytes written (write entries' lengths) by entries `[from, to)`. */
  bytesWritten(from: number, to: number): number {
    let n = 0;
    for (let i = from; i < to; i++) if (this.kinds[i] === KIND.write) n += this.lengths[i]!;
    return n;
  }

  /** The typed arrays, for moving a scan between threads without a copy. */
  transferables(): ArrayBuffer[] {
    return [this.kinds, this.offsets, this.lengths, this.flagsLo, this.flagsHi, this.hashes, this.headers].map((a) => a.buffer as ArrayBuffer);
  }
}

/** Growable columns while scanning. */
class Columns {
  cap: number;
  kinds: Uint8Array;
  offsets: Float64Array;
  lengths: Float64Array;
  flagsLo: Uint32Array;
  flagsHi: Uint32Array;
  hashes64: BigUint64Array;
  headers: Float64Array;

  constructor(cap: number) {
    this.cap = cap;
    this.kinds = new Uint8Array(cap);
    this.offsets = new Float64Array(cap);
    this.lengths = new Float64Array(cap);
    this.flagsLo = new Uint32Array(cap);
    this.flagsHi = new Uint32Array(cap);
    this.hashes64 = new BigUint64Array(cap);
    this.headers = new Float64Array(cap);
  }

  grow(): void {
    this.cap *= 2;
    this.kinds = resize(this.kinds, this.cap);
    this.offsets = resize(this.offsets, this.cap);
    this.lengths = resize(this.lengths, this.cap);
    this.flagsLo = resize(this.flagsLo, this.cap);
    this.flagsHi = resize(this.flagsHi, this.cap);
    this.hashes64 = resize(this.hashes64, this.cap);
    this.headers = resize(this.headers, this.cap);
  }

  /** The first `n` rows; the hashes as [lo, hi] pairs of 32 bits (little-endian, as the platform). */
  trim(n: number) {
    return {
      kinds: this.kinds.subarray(0, n),
      offsets: this.offsets.subarray(0, n),
      lengths: this.lengths.subarray(0, n),
      flagsLo: this.flagsLo.subarray(0, n),
      flagsHi: this.flagsHi.subarray(0, n),
      hashes: new Uint32Array(this.hashes64.buffer, 0, n * 2),
      headers: this.headers.subarray(0, n),
    };
  }
}

function resize<T extends Uint8Array | Uint32Array | Float64Array | BigUint64Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  new Uint8Array(b.buffer).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return b;
}

const LO = 0xffffffffn;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Entries up to this size are hashed in one piece; bigger ones in chunks of it. */
const SCRATCH_MAX = 4 << 20;
/**
 * The read window of a scan: every byte is read, so fewer, larger reads (measured on a 1 GiB
 * log of 4 KiB writes: 128 KiB 357 ms, 256 KiB 349 ms, 1 MiB 349 ms); small enough to stay
 * in the L2 cache while its entries are hashed.
 */
const SCAN_BLOCK = 256 << 10;

/**
 * Reads a log once, front to back, and reduces every entry to its signature, hashing each
 * write's data as it streams past: small entries are hashed straight from the reader's
 * window (`skim` and `peekData`: no entry objects, no copy), big ones in 4 MiB chunks. Throws the codec's errors for a
 * log that cannot be read.
 */
export async function scanLog(path: string, options: ScanOptions = {}): Promise<LogScan> {
  const hasher = await loadHasher(options.hash);
  const hashInto = hasher.hashInto;
  const log = await LogFile.open(path);
  try {
    const S = log.sectorSize;
    // Sized from the superblock's count (clamped by the codec to what the file can hold),
    // so that a log whose superblock is right never grows the columns. Pages of the
    // columns that are never written are never touched, so a garbage count costs address
    // space, not memory.
    const cols = new Columns(Math.max(1024, log.declared + (options.tail ? 1024 : 0)));
    const marks: ScanMark[] = [];
    const bigOffsets = new Map<number, bigint>();
    /**
     * Entry `n`'s target byte offset (or `length`) from its u64 fields, as a number. An entry
     * that touches no byte (a flush, a mark: no length) needs no offset on the target: one past
     * 2^53 is kept exactly in `bigOffsets` and rounded in `offsets`. One that touches bytes
     * there cannot be compared or replayed: an error naming the log, entry and header offset.
     */
    const place64 = (sector: bigint, nrSectors: bigint, n: number, header: number, length = false): number => {
      const bytes = (length ? nrSectors : sector) * BigInt(S);
      if (bytes <= MAX_SAFE) return Number(bytes);
      if (!length && nrSectors === 0n) {
        bigOffsets.set(n, bytes);
        return Number(bytes);
      }
      const what = length ? `length of ${nrSectors} sectors` : `offset of sector ${sector}`;
      throw new LogRangeError(ErrorCodes.RANGE, `the target byte ${what} (${bytes} bytes) is beyond 2^53: lwlog cannot compare or replay it`, {
        file: path,
        entry: n,
        offset: header,
      });
    };
    const cursor = log.cursor({ tail: options.tail ?? false, blockSize: options.blockSize ?? SCAN_BLOCK });
    // One reused place object: where the current entry's data lies, for peekData/dataChunks.
    const place = { dataOffset: 0, dataSize: 0, nextOffset: 0 };
    let scratch = new Uint8Array(64 << 10);
    let { kinds, offsets, lengths, flagsLo, flagsHi, hashes64, headers } = cols;
    let hashes32 = new Uint32Array(hashes64.buffer);
    let n = 0;
    // skim(): numbers straight from the read window; the full entry only for marks and
    // unusual headers (unknown flags, fields past 2^53, problems).
    for (let e = cursor.skim(); e !== undefined; e = cursor.skim()) {
      if (n === cols.cap) {
        cols.grow();
        ({ kinds, offsets, lengths, flagsLo, flagsHi, hashes64, headers } = cols);
        hashes32 = new Uint32Array(hashes64.buffer);
      }
      const kind = e.kind === "write" ? KIND.write : e.kind === "flush" ? KIND.flush : e.kind === "discard" ? KIND.discard : e.kind === "mark" ? KIND.mark : KIND.noop;
      kinds[n] = kind;
      headers[n] = e.offset;
      const full = e.entry;
      if (full === undefined) {
        // Both below 2^53; their products with S are exact doubles when below 2^53 too.
        const off = e.sector * S;
        const len = e.nrSectors * S;
        offsets[n] = off <= Number.MAX_SAFE_INTEGER ? off : place64(BigInt(e.sector), BigInt(e.nrSectors), n, e.offset);
        lengths[n] = len <= Number.MAX_SAFE_INTEGER ? len : place64(BigInt(e.sector), BigInt(e.nrSectors), n, e.offset, true);
        flagsLo[n] = e.knownFlags;
      } else {
        offsets[n] = place64(full.sector, full.nrSectors, n, e.offset);
        lengths[n] = place64(full.sector, full.nrSectors, n, e.offset, true);
        flagsLo[n] = Number(full.flags & LO);
        flagsHi[n] = Number(full.flags >> 32n);
      }
      if (kind === KIND.mark) {
        hashInto(full!.markBytes!, hashes32, n, MARK_SEED);
        marks.push({ name: full!.mark!, index: n });
      } else if (e.dataSize > 0) {
        place.dataOffset = e.offset + S;
        place.dataSize = e.dataSize;
        place.nextOffset = e.nextOffset;
        const view = cursor.peekData(place);
        if (view !== undefined) {
          hashInto(view, hashes32, n);
        } else if (e.dataSize <= SCRATCH_MAX) {
          // Straddles the window's end (or is bigger than it): one read into a reused buffer.
          if (scratch.length < e.dataSize) scratch = new Uint8Array(Math.min(SCRATCH_MAX, Math.max(e.dataSize, 2 * scratch.length)));
          const bytes = scratch.subarray(0, e.dataSize);
          log.readAt(bytes, place.dataOffset);
          hashInto(bytes, hashes32, n);
        } else {
          const stream = await hasher.stream();
          for (const chunk of log.dataChunks(place, SCRATCH_MAX)) stream.update(chunk);
          stream.digestInto(hashes32, n);
        }
      }
      n += 1;
    }
    return new LogScan({ path, sectorSize: S, fileSize: log.size, count: n, end: cursor.end!, marks, bigOffsets, ...cols.trim(n) });
  } finally {
    log.close();
  }
}

/** True when entry `i` of `a` and entry `j` of `b` have the same signature. */
export function sameEntry(a: LogScan, i: number, b: LogScan, j: number): boolean {
  return (
    a.hashes[2 * i] === b.hashes[2 * j] &&
    a.hashes[2 * i + 1] === b.hashes[2 * j + 1] &&
    a.kinds[i] === b.kinds[j] &&
    a.offsets[i] === b.offsets[j] &&
    a.lengths[i] === b.lengths[j] &&
    a.flagsLo[i] === b.flagsLo[j] &&
    a.flagsHi[i] === b.flagsHi[j] &&
    (a.offsets[i]! <= Number.MAX_SAFE_INTEGER || a.byteOffset(i) === b.byteOffset(j))
  );
}

/** Which parts of two entries' signatures differ: `kind`, `offset`, `length`, `flags`, `data` (or `name` for marks). */
export function differingFields(a: LogScan, i: number, b: LogScan, j: number): string[] {
  const out: string[] = [];
  if (a.kinds[i] !== b.kinds[j]) out.push("kind");
  if (a.offsets[i] !== b.offsets[j] || (a.offsets[i]! > Number.MAX_SAFE_INTEGER && a.byteOffset(i) !== b.byteOffset(j))) out.push("offset");
  if (a.lengths[i] !== b.lengths[j]) out.push("length");
  if (a.flagsLo[i] !== b.flagsLo[j] || a.flagsHi[i] !== b.flagsHi[j]) out.push("flags");
  if (a.hashes[2 * i] !== b.hashes[2 * j] || a.hashes[2 * i + 1] !== b.hashes[2 * j + 1]) {
    out.push(a.kinds[i] === KIND.mark && b.kinds[j] === KIND.mark ? "name" : "data");
  }
  return out;
}

/**
 * Orders two entries of one scan by signature (kind, offset, length, flags, hash), for
 * sorting a flush epoch into a canonical order.
 */
export function compareEntries(s: LogScan, i: number, j: number): number {
  return (
    s.kinds[i]! - s.kinds[j]! ||
    s.offsets[i]! - s.offsets[j]! ||
    (s.offsets[i]! > Number.MAX_SAFE_INTEGER ? Number(BigInt(s.byteOffset(i)) - BigInt(s.byteOffset(j))) : 0) ||
    s.lengths[i]! - s.lengths[j]! ||
    s.flagsLo[i]! - s.flagsLo[j]! ||
    s.flagsHi[i]! - s.flagsHi[j]! ||
    s.hashes[2 * i + 1]! - s.hashes[2 * j + 1]! ||
    s.hashes[2 * i]! - s.hashes[2 * j]! ||
    i - j
  );
}

/** Options of `scanLogs`. */
export interface ScanManyOptions extends ScanOptions {
  /**
   * Scan the logs at the same time in worker threads (default: true when running from the
   * built package; the sources under a test runner scan one after the other).
   */
  parallel?: boolean;
}

/**
 * Scans several logs, in parallel when it can: the first here, the others in worker
 * threads, each log read and hashed on its own core; the columns come back without a copy.
 * Errors are the codec's, as if the scan had run here.
 */
export async function scanLogs(paths: readonly string[], options: ScanManyOptions = {}): Promise<LogScan[]> {
  const { parallel, ...scanOptions } = options;
  const workerUrl = new URL("./scan-worker.js", import.meta.url);
  const canFork = import.meta.url.endsWith(".js");
  if (!(parallel ?? canFork) || !canFork || paths.length < 2) {
    const out: LogScan[] = [];
    for (const p of paths) out.push(await scanLog(p, scanOptions));
    return out;
  }
  const { Worker } = await import("node:worker_threads");
  // The first log is scanned here while workers scan the others: one thread fewer to start.
  const workers: import("node:worker_threads").Worker[] = [];
  const inWorkers = paths.slice(1).map(
    (path) =>
      new Promise<LogScan>((resolve, reject) => {
        // No inherited execArgv: a parent run with `--conditions @lwlog/source` (a test
        // runner) would make the worker load TypeScript sources it cannot run.
        // A young generation larger than the default: the scan makes two short-lived
        // objects an entry (a view of the window, the hash as a bigint), and a small
        // nursery spends its time copying the few that are live at each scavenge.
        const w = new Worker(workerUrl, { workerData: { path, options: scanOptions }, execArgv: [], resourceLimits: { maxYoungGenerationSizeMb: 96 } });
        workers.push(w);
        let settled = false;
        w.once("message", (m: WorkerReply) => {
          settled = true;
          if (m.ok) resolve(new LogScan(m.parts));
          else reject(reviveError(m.error));
          void w.terminate();
        });
        w.once("error", (err) => {
          settled = true;
          reject(err);
        });
        w.once("exit", (code) => {
          if (!settled) reject(new Error(`the scan worker for ${path} exited with code ${code}`));
        });
      }),
  );
  // Settle every promise even when the local scan throws, so no rejection goes unhandled.
  const [first, ...rest] = await Promise.allSettled([scanLog(paths[0]!, scanOptions), ...inWorkers]);
  const all = [first!, ...rest];
  const failed = all.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return all.map((r) => (r as PromiseFulfilledResult<LogScan>).value);
}

type WorkerReply =
  | { ok: true; parts: ConstructorParameters<typeof LogScan>[0] }
  | { ok: false; error: { lwlog: boolean; name: string; code?: string; message: string; file?: string; entry?: number; offset?: number; stack?: string } };

/** The error a worker reported, as the same class here (so the CLI maps it to the same exit code). */
function reviveError(e: Extract<WorkerReply, { ok: false }>["error"]): Error {
  if (!e.lwlog) {
    const err = new Error(e.message);
    if (e.stack) err.stack = e.stack;
    return err;
  }
  const Cls = e.name === "LogIoError" ? LogIoError : e.name === "LogRangeError" ? LogRangeError : e.name === "LogFormatError" ? LogFormatError : LwlogError;
  const details: { file?: string; entry?: number; offset?: number } = {};
  if (e.file !== undefined) details.file = e.file;
  if (e.entry !== undefined) details.entry = e.entry;
  if (e.offset !== undefined) details.offset = e.offset;
  return new Cls(e.code ?? "LWLOG_IO", e.message, details);
}
