import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { open as openAsync } from "node:fs/promises";
import { LogFlags } from "./constants.js";
import { sizeOf } from "./device.js";
import {
  decodeEntryHeader,
  decodeMarkName,
  entryDataBytes,
  entryKind,
  inspectHeaderBlock,
  markNameBytes,
  type EntryHeader,
  type EntryKind,
  type EntryProblem,
} from "./entry.js";
import { ErrorCodes, LogFormatError, LwlogError, ioError } from "./errors.js";
import { toSafeNumber } from "./numbers.js";
import { decodeSuper, superPaddingProblem, type LogSuper } from "./super.js";

/** One entry of a log, as the reader found it. */
export interface LogEntry extends EntryHeader {
  /** 0-based index of the entry in the log. */
  index: number;
  /** Byte offset of the entry's header block in the log. */
  offset: number;
  /** What the entry does. */
  kind: EntryKind;
  /** True for an entry past the superblock's declared count (found by scanning on). */
  tail: boolean;
  /** Byte offset of the entry's data in the log (right after the header block). */
  dataOffset: number;
  /** Bytes of data the entry carries in the log (`nrSectors × S`, 0 for a discard). */
  dataSize: number;
  /** Byte offset of the next entry's header block. */
  nextOffset: number;
  /** A mark's name as raw bytes (only for marks). */
  markBytes?: Uint8Array;
  /** A mark's name as text (only for marks). */
  mark?: string;
  /** Problems found in the entry: warnings, and errors when reading leniently. */
  problems: readonly EntryProblem[];
  /** The entry's data, when the caller asked for it. */
  data?: Uint8Array;
}

/** How reading ended. */
export interface ReadEnd {
  /**
   * - `declared`: after the declared entries, the tail not looked at;
   * - `eof`: the file ends right after the last entry;
   * - `invalid`: the first header after the declared entries is not a valid entry (garbage or stale data);
   * - `truncated`: a tail entry runs past the end of the file;
   * - `error`: a declared entry is broken (only when reading leniently; otherwise that throws).
   */
  reason: "declared" | "eof" | "invalid" | "truncated" | "error";
  /** Byte offset where reading stopped: the first byte not part of a returned entry. */
  offset: number;
  /** Index the next entry would have had. */
  index: number;
  /** Why the header at `offset` was not taken, for `invalid`, `truncated` and `error`. */
  detail?: string;
  /** The error, for `error`. */
  error?: LogFormatError;
}

/** Options of `LogFile.cursor` and `readLog`. */
export interface ReadOptions {
  /** Read each entry's data into `entry.data` (default: headers only). */
  data?: boolean;
  /** Go on past the declared entries while headers are valid (default false). */
  tail?: boolean;
  /**
   * Record a broken declared entry in `entry.problems` (or, when the walk cannot go on,
   * in `end`) instead of throwing. For `lwlog check`.
   */
  lenient?: boolean;
  /** Start at this entry instead of the first (from an index: its offset and number). */
  start?: { index: number; offset: number };
  /** Bytes read at a time when entries are small (default 1 MiB). */
  blockSize?: number;
  /** With `data`, refuse to hold more than this many bytes of one entry (default 256 MiB). */
  maxDataBytes?: number;
}

const NO_PROBLEMS: readonly EntryProblem[] = Object.freeze([]);
const DEFAULT_BLOCK = 1 << 20;

/**
 * An open log: its superblock, size and file descriptor. Reads are synchronous
 * (`readSync` at checked `number` positions): one header is one small read, and the
 * async machinery would cost more than the read itself. `readLog` gives the async iterator.
 */
export class LogFile {
  readonly path: string;
  readonly fd: number;
  /** Bytes in the file (or block device). */
  readonly size: number;
  readonly super: LogSuper;
  readonly sectorSize: number;
  /**
   * The declared entry count as a `number`, clamped to the most entries the file could
   * hold (each takes at least one sector), so a garbage `nr_entries` costs nothing.
   */
  readonly declared: number;
  /** Offset of the first non-zero byte after the superblock fields in sector 0, or -1. */
  readonly superPadding: number;
  private closed = false;

  private constructor(path: string, fd: number, size: number, first: Uint8Array) {
    this.path = path;
    this.fd = fd;
    this.size = size;
    this.super = decodeSuper(first, { file: path });
    this.sectorSize = this.super.sectorSize;
    if (size < this.sectorSize) {
      throw new LogFormatError(
        ErrorCodes.TRUNCATED_SUPER,
        `truncated superblock: the file has ${size} bytes, the superblock sector is ${this.sectorSize}`,
        { file: path, offset: 0 },
      );
    }
    const room = Math.floor((size - this.sectorSize) / this.sectorSize);
    this.declared = this.super.nrEntries > BigInt(room) ? room + 1 : Number(this.super.nrEntries);
    this.superPadding = superPaddingProblem(first.subarray(0, Math.min(first.length, this.sectorSize)));
  }

  /** Opens a log file or device and decodes its superblock. Throws `LwlogError`s only. */
  static openSync(path: string): LogFile {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      throw ioError(err, path, "open the log");
    }
    try {
      const stat = fstatSync(fd);
      if (stat.isDirectory()) throw ioError(Object.assign(new Error("EISDIR"), { code: "EISDIR" }), path, "read");
      const size = sizeOf(stat);
      // The whole first sector when it is there (up to 8 MiB), else what the file has.
      const want = Math.min(size, 8 * 1024 * 1024);
      const first = new Uint8Array(Math.min(want, 4096));
      readFully(fd, first, 0, path);
      if (first.length >= 28) {
        const s = decodeSuper(first, { file: path });
        if (s.sectorSize > first.length && size >= s.sectorSize) {
          const whole = new Uint8Array(s.sectorSize);
          readFully(fd, whole, 0, path);
          return new LogFile(path, fd, size, whole);
        }
      }
      return new LogFile(path, fd, size, first);
    } catch (err) {
      closeSync(fd);
      if (err instanceof LwlogError) throw err;
      throw ioError(err, path, "read the log");
    }
  }

  /** Async form of `openSync` (the same checks). */
  static async open(path: string): Promise<LogFile> {
    // Probe with the async API first so a missing file does not block the loop, then
    // reuse the synchronous path for the rest.
    try {
      const h = await openAsync(path, "r");
      await h.close();
    } catch (err) {
      throw ioError(err, path, "open the log");
    }
    return LogFile.openSync(path);
  }

  /** A cursor over the entries (see `ReadOptions`). */
  cursor(options: ReadOptions = {}): LogCursor {
    return new LogCursor(this, options);
  }

  /** The entries as an async iterator (see `ReadOptions`). */
  async *entries(options: ReadOptions = {}): AsyncGenerator<LogEntry, ReadEnd, undefined> {
    const c = this.cursor(options);
    for (let e = c.next(); e !== undefined; e = c.next()) yield e;
    return c.end!;
  }

  /** Reads `length` bytes at `position` into `target` (at `targetOffset`); throws on a short read. */
  readAt(target: Uint8Array, position: number, length = target.length - 0, targetOffset = 0): void {
    readFully(this.fd, target.subarray(targetOffset, targetOffset + length), position, this.path);
  }

  /** All the data of an entry (allocates `entry.dataSize` bytes; see `dataChunks` for big ones). */
  readData(entry: LogEntry): Uint8Array {
    const out = new Uint8Array(entry.dataSize);
    if (entry.dataSize > 0) this.readAt(out, entry.dataOffset);
    return out;
  }

  /**
   * The data of an entry in chunks of at most `chunkSize` bytes, in one reused buffer:
   * each chunk is valid until the next is asked for.
   */
  *dataChunks(entry: LogEntry, chunkSize = 4 << 20): Generator<Uint8Array> {
    const buf = new Uint8Array(Math.min(chunkSize, Math.max(entry.dataSize, 1)));
    for (let done = 0; done < entry.dataSize; ) {
      const n = Math.min(buf.length, entry.dataSize - done);
      const view = buf.subarray(0, n);
      this.readAt(view, entry.dataOffset + done);
      yield view;
      done += n;
    }
  }

  /** Reads the entry whose header block is at `offset` (from an index). Strict: throws on a broken entry. */
  entryAt(index: number, offset: number, options: { tail?: boolean; data?: boolean } = {}): LogEntry {
    const c = new LogCursor(this, { start: { index, offset }, tail: true, data: options.data ?? false, blockSize: this.sectorSize });
    const e = c.next();
    if (e === undefined) {
      throw new LogFormatError(ErrorCodes.NO_SUCH_ENTRY, `no valid entry ${index} at offset ${offset}${c.end?.detail ? `: ${c.end.detail}` : ""}`, {
        file: this.path,
        entry: index,
        offset,
      });
    }
    return e;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/**
 * Walks the entries of a log in order.
 *
 * Invariants:
 * - `pos` is the byte offset of the next header block and `index` its entry number; `pos`
 *   is always a multiple of S, and every entry before `index` has been returned.
 * - The window `buf[0, bufLen)` holds the file bytes `[bufStart, bufStart + bufLen)`; it is
 *   refilled only when a header block is not wholly inside it. Entry data that callers keep
 *   is always copied out of the window.
 * - Entries with `index < declared` are "declared"; past them the cursor stops unless
 *   `tail` is set, and then it stops at the first header that is not a clean entry. A
 *   declared entry that is broken throws (or, leniently, ends the walk with `end.error`).
 * - Once `end` is set, `next()` returns `undefined` forever.
 */
export class LogCursor {
  readonly log: LogFile;
  private readonly options: ReadOptions;
  private readonly S: number;
  private pos: number;
  private index: number;
  private buf: Uint8Array;
  private bufStart = 0;
  private bufLen = 0;
  private lastGap = 0;
  /** Set once the walk is over. */
  end: ReadEnd | undefined;

  constructor(log: LogFile, options: ReadOptions = {}) {
    this.log = log;
    this.options = options;
    this.S = log.sectorSize;
    this.pos = options.start?.offset ?? this.S;
    this.index = options.start?.index ?? 0;
    const block = Math.max(options.blockSize ?? DEFAULT_BLOCK, this.S);
    this.buf = new Uint8Array(block);
  }

  /** The next entry, or `undefined` at the end (then `end` says why). */
  next(): LogEntry | undefined {
    if (this.end !== undefined) return undefined;
    const { log, S } = this;
    const declared = this.index < log.declared;
    if (!declared && !this.options.tail) return this.finish("declared");
    if (this.pos === log.size) {
      if (declared) return this.broken(ErrorCodes.MISSING_ENTRIES, this.missingMessage());
      return this.finish("eof");
    }
    if (this.pos + S > log.size) {
      const msg = `header block cut short: ${log.size - this.pos} of ${S} bytes before the end of the file`;
      if (declared) return this.broken(ErrorCodes.TRUNCATED_HEADER, `${msg}; ${this.missingMessage()}`);
      return this.finish("truncated", msg);
    }
    const block = this.window(this.pos, S);
    const header = decodeEntryHeader(block);
    const problems = inspectHeaderBlock(header, block, S);
    const dataBytes = entryDataBytes(header, S);
    const dataOffset = this.pos + S;
    // Compare in bigint first: nr_sectors may be 2^63, which must not become an allocation.
    if (BigInt(dataOffset) + dataBytes > BigInt(log.size)) {
      const msg = `data runs past the end of the file: ${dataBytes} bytes at offset ${dataOffset}, the file has ${log.size}`;
      if (declared) return this.broken(ErrorCodes.DATA_PAST_EOF, msg);
      return this.finish(problems.length > 0 || header.flags === 0n ? "invalid" : "truncated", msg);
    }
    const dataSize = Number(dataBytes);
    if (problems.length > 0) {
      const errors = problems.filter((p) => p.severity === "error");
      if (!declared) {
        const spoiling = problems.filter((p) => p.code !== ErrorCodes.MARK_NO_NUL);
        if (spoiling.length > 0) return this.finish("invalid", spoiling[0]!.message);
      } else if (errors.length > 0) {
        const first = errors[0]!;
        // An empty header means nothing more was written: the walk cannot go on.
        if (first.code === ErrorCodes.EMPTY_ENTRY) {
          return this.broken(first.code, `${first.message}; ${this.missingMessage()}`);
        }
        if (!this.options.lenient) {
          throw new LogFormatError(first.code, first.message, { file: log.path, entry: this.index, offset: this.pos });
        }
      }
    }
    const kind = entryKind(header);
    const entry: LogEntry = {
      ...header,
      index: this.index,
      offset: this.pos,
      kind,
      tail: !declared,
      dataOffset,
      dataSize,
      nextOffset: dataOffset + dataSize,
      problems: problems.length > 0 ? problems : NO_PROBLEMS,
    };
    if (kind === "mark") {
      entry.markBytes = markNameBytes(header, block, S);
      entry.mark = decodeMarkName(entry.markBytes);
    }
    if (this.options.data && dataSize > 0) {
      const max = this.options.maxDataBytes ?? 256 << 20;
      if (dataSize > max) {
        throw new LogFormatError(
          ErrorCodes.ENTRY_TOO_LARGE,
          `entry carries ${dataSize} bytes of data, more than ${max} can be held at once; read it in chunks`,
          { file: log.path, entry: this.index, offset: this.pos },
        );
      }
      entry.data = this.copy(dataOffset, dataSize);
    }
    this.lastGap = dataSize;
    this.pos = entry.nextOffset;
    this.index += 1;
    return entry;
  }

  /**
   * The data of `entry` (the entry `next()` just returned) as a view into the cursor's read
   * window when the window already holds all of it, else `undefined` (then read it with
   * `LogFile.dataChunks`). No copy and no read: for small entries the bytes came in with the
   * header. The view is valid only until the next call to `next()`.
   */
  peekData(entry: LogEntry): Uint8Array | undefined {
    if (entry.dataSize === 0 || entry.nextOffset !== this.pos) return undefined;
    const start = entry.dataOffset - this.bufStart;
    if (start < 0 || start + entry.dataSize > this.bufLen) return undefined;
    return this.buf.subarray(start, start + entry.dataSize);
  }

  /** Entries returned so far plus the starting index: the index of the next entry. */
  get nextIndex(): number {
    return this.index;
  }

  /** Byte offset of the next header block. */
  get nextOffset(): number {
    return this.pos;
  }

  private missingMessage(): string {
    return `the superblock declares ${this.log.super.nrEntries} entries but the log holds only ${this.index}`;
  }

  private broken(code: string, message: string): undefined {
    const error = new LogFormatError(code, message, { file: this.log.path, entry: this.index, offset: this.pos });
    if (!this.options.lenient) throw error;
    this.end = { reason: "error", offset: this.pos, index: this.index, detail: message, error };
    return undefined;
  }

  private finish(reason: ReadEnd["reason"], detail?: string): undefined {
    this.end = { reason, offset: this.pos, index: this.index };
    if (detail !== undefined) this.end.detail = detail;
    return undefined;
  }

  /** A view of `[pos, pos+len)` from the window, refilling it when needed (`len <= buf.length`). */
  private window(pos: number, len: number): Uint8Array {
    if (pos < this.bufStart || pos + len > this.bufStart + this.bufLen) {
      // After a big entry, the next header is far away: read just the header block
      // rather than a window of data that would be skipped.
      const want = this.lastGap >= this.buf.length / 4 ? len : this.buf.length;
      const n = Math.min(want, this.log.size - pos);
      readFully(this.log.fd, this.buf.subarray(0, n), pos, this.log.path);
      this.bufStart = pos;
      this.bufLen = n;
    }
    return this.buf.subarray(pos - this.bufStart, pos - this.bufStart + len);
  }

  /** A copy of `[pos, pos+len)`: from the window where it is there, else read directly. */
  private copy(pos: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    const end = this.bufStart + this.bufLen;
    if (pos >= this.bufStart && pos + len <= end) {
      out.set(this.buf.subarray(pos - this.bufStart, pos - this.bufStart + len));
    } else {
      readFully(this.log.fd, out, pos, this.log.path);
    }
    return out;
  }
}

/** Reads exactly `target.length` bytes at `position`; a short read is a truncated file. */
function readFully(fd: number, target: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < target.length) {
    let n: number;
    try {
      n = readSync(fd, target, done, target.length - done, position + done);
    } catch (err) {
      throw ioError(err, file, "read the log");
    }
    if (n === 0) {
      throw new LogFormatError(ErrorCodes.TRUNCATED_HEADER, `unexpected end of file at offset ${position + done}`, {
        file,
        offset: position + done,
      });
    }
    done += n;
  }
}

/**
 * Opens `path` and yields its entries (see `ReadOptions`); closes the file when done,
 * also when the caller stops early. The generator's return value says how reading ended.
 */
export async function* readLog(path: string, options: ReadOptions = {}): AsyncGenerator<LogEntry, ReadEnd, undefined> {
  const log = await LogFile.open(path);
  try {
    return yield* log.entries(options);
  } finally {
    log.close();
  }
}

/** True when the entry has every bit of `flag` (a `LogFlags` value). */
export function entryHas(entry: { flags: bigint }, flag: bigint): boolean {
  return (entry.flags & flag) === flag;
}

/** Byte offset on the target of an entry (`sector × S`), checked. */
export function byteOffset(entry: { sector: bigint }, sectorSize: number): number {
  return toSafeNumber(entry.sector * BigInt(sectorSize), "target byte offset");
}

/** Byte length on the target of an entry (`nrSectors × S`), checked. */
export function byteLength(entry: { nrSectors: bigint }, sectorSize: number): number {
  return toSafeNumber(entry.nrSectors * BigInt(sectorSize), "target byte length");
}

export { LogFlags };
