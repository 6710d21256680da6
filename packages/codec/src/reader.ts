import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { open as openAsync, stat as statAsync } from "node:fs/promises";
import { native, type LinuxIo } from "@lwlog/native";
import { ENTRY_HEADER_SIZE, KNOWN_FLAGS, LOG_MAGIC, LogFlags } from "./constants.js";
import { viewOf } from "./bytes.js";
import { NOT_A_LOG_PROBE } from "./not-a-log.js";
import { sizeOf } from "./device.js";
import {
  decodeEntryHeader,
  decodeMarkName,
  inspectHeaderBlock,
  markNameBytes,
  type EntryHeader,
  type EntryKind,
  type EntryProblem,
} from "./entry.js";
import { ErrorCodes, LogFormatError, LogIoError, LwlogError, ioError } from "./errors.js";
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

/**
 * Where an entry's data lies in the log: what `dataChunks` and `peekData` need. A `LogEntry`
 * is one; from an `EntrySummary`, `dataOffset` is `offset + S`.
 */
export interface DataPlace {
  /** Byte offset of the data in the log. */
  dataOffset: number;
  /** Bytes of data. */
  dataSize: number;
}

/** How reading ended. */
export interface ReadEnd {
  /**
   * - `declared`: after the declared entries, the tail not looked at;
   * - `eof`: the file ends right after the last entry;
   * - `invalid`: the first header after the declared entries is not a valid entry (garbage or stale data);
   * - `truncated`: past the declared entries, a header block, or the data of a clean header,
   *   runs past the end of the file (logging cut off by a crash);
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

/**
 * What `LogCursor.skim` says about an entry: where it is and what it is, in numbers. One
 * object, reused by the cursor: valid until its next call.
 */
export interface EntrySummary {
  index: number;
  /** Byte offset of the header block. */
  offset: number;
  /** Byte offset of the next header block. */
  nextOffset: number;
  /** Bytes of data the entry carries in the log. */
  dataSize: number;
  kind: EntryKind;
  tail: boolean;
  /** The known flag bits that are set (FLUSH 1, FUA 2, DISCARD 4, MARK 8, METADATA 16). */
  knownFlags: number;
  /** True when a flag bit nobody defines is set (the full value is in `entry`). */
  unknownFlags: boolean;
  /** Target offset in units of S: exact below 2^53; -1 beyond, and then `entry` is given. */
  sector: number;
  /** Length in units of S: exact below 2^53; -1 beyond, and then `entry` is given. */
  nrSectors: number;
  /** The full entry, for marks, for entries with problems or unusual fields and for
   * sectors beyond 2^53; else undefined. */
  entry: LogEntry | undefined;
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
  /** Bytes read at a time when entries are small (default 128 KiB; rounded up to whole sectors). */
  blockSize?: number;
  /** With `data`, refuse to hold more than this many bytes of one entry (default 256 MiB). */
  maxDataBytes?: number;
}

const NO_PROBLEMS: readonly EntryProblem[] = Object.freeze([]);
/** Window size while entries are small: 128 KiB reads measured fastest (they stay in L2). */
const DEFAULT_BLOCK = 128 << 10;
/**
 * Data size past which the next header is read on its own rather than with a window.
 * Measured on warm 512 MiB logs: a window reads the whole file at about 0.12 ns a byte,
 * a lone header read costs 1.5–3 µs; the two cross between 16 and 64 KiB of data an entry.
 */
const SPARSE_GAP = 32 << 10;
const FLUSH_BIT = Number(LogFlags.FLUSH);
const DISCARD_BIT = Number(LogFlags.DISCARD);
const MARK_BIT = Number(LogFlags.MARK);
/** Flag bits an entry can have and still be taken without a full check (all known ones but MARK). */
const PLAIN_FLAGS = Number(KNOWN_FLAGS & ~LogFlags.MARK);
const ALL_KNOWN = Number(KNOWN_FLAGS);
/** Shared bigints for small values (flags, common lengths): bigints are immutable, and this saves allocations. */
const SMALL: readonly bigint[] = Array.from({ length: 1024 }, (_, i) => BigInt(i));
/**
 * Window size when the log is mapped (see `LogCursor`). Mapped pages the walk touches count in
 * the process's RSS until the window is unmapped (256 MiB windows: ~300 MiB peak RSS for a
 * walk over a log of 4 KiB writes), so a window is small: 16 MiB adds at most that. Measured on
 * a warm 1 GiB log: setting up and tearing down the page tables costs the same per page
 * whatever the window size, and the syscalls per window are noise.
 */
const MAP_WINDOW = 16 << 20;
/** `dataChunks` maps data of at least this size (below it, one read is cheaper than mmap + munmap). */
const MAP_DATA_MIN = 256 << 10;

/** The I/O primitives new `LogFile`s use (the addon's when it is built: see `@lwlog/native`). */
let readerIo: LinuxIo = native;

/**
 * Sets the I/O primitives that `LogFile`s opened from now on use, and returns the previous
 * ones: tests read the same logs through mapped windows (`native`) and plain reads
 * (`fallback`) and compare. Not part of the public API.
 * @internal
 */
export function setReaderIo(io: LinuxIo): LinuxIo {
  const previous = readerIo;
  readerIo = io;
  return previous;
}

/**
 * Refuses what is neither a regular file nor a block device (nor a directory, reported as
 * such when opened): a pipe, a socket or a character device has no size to walk and cannot
 * be read at offsets, and opening a pipe that has no writer would block forever.
 */
function refuseUnseekable(stat: Stats | undefined, path: string): void {
  if (stat === undefined || stat.isFile() || stat.isBlockDevice() || stat.isDirectory()) return;
  const what = stat.isFIFO() ? "a pipe (FIFO)" : stat.isSocket() ? "a socket" : stat.isCharacterDevice() ? "a character device" : "a special file";
  throw new LogIoError(
    ErrorCodes.NOT_A_FILE,
    `is ${what}, not a regular file or block device: a log is read at offsets, which only those allow`,
    { file: path },
  );
}

/**
 * An open log: its superblock, size and file descriptor. Reads are synchronous
 * (`readSync` at checked `number` positions): one header is one small read, and the
 * async machinery would cost more than the read itself. `readLog` gives the async iterator.
 *
 * Where `@lwlog/native`'s addon is built, cursors and `dataChunks` read through read-only
 * mapped windows of the file instead (no copy into JS; see `LogCursor`); the results are
 * the same. Every window is unmapped when the cursor moves past it and, at the latest, by
 * `close()`. A mapped log must not shrink while it is read: another process truncating it
 * would kill this one with SIGBUS (`LWLOG_NO_MMAP=1` reads copies instead).
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
    windowsOf.set(this, new LogWindows(readerIo, fd));
  }

  /** Opens a log file or device and decodes its superblock. Throws `LwlogError`s only. */
  static openSync(path: string): LogFile {
    let before: Stats | undefined;
    try {
      before = statSync(path);
    } catch {
      // the open below reports it (missing, no permission, …)
    }
    refuseUnseekable(before, path);
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      throw ioError(err, path, "open the log");
    }
    try {
      const stat = fstatSync(fd);
      if (stat.isDirectory()) throw ioError(Object.assign(new Error("EISDIR"), { code: "EISDIR" }), path, "read");
      refuseUnseekable(stat, path);
      const size = sizeOf(stat, fd);
      // The whole first sector when it is there (up to 8 MiB), else what the file has.
      const want = Math.min(size, 8 * 1024 * 1024);
      const first = new Uint8Array(Math.min(want, 4096));
      readFully(fd, first, 0, path);
      if (first.length >= 8 && viewOf(first).getBigUint64(0, true) !== LOG_MAGIC) {
        // Not a log: read enough to say what it is instead (decodeSuper throws LWLOG_BAD_MAGIC).
        const probe = new Uint8Array(Math.min(size, NOT_A_LOG_PROBE));
        readFully(fd, probe, 0, path);
        decodeSuper(probe, { file: path, fileSize: size });
      }
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
    // A pipe is refused before it is opened: opening one with no writer blocks forever.
    refuseUnseekable(await statAsync(path).catch(() => undefined), path);
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
   * each chunk is valid until the next is asked for (and not after the generator ends).
   * Pass `buffer` to read into it (chunks of at most its length), so that a caller reading
   * the data of many entries allocates nothing per entry. Without `buffer`, on a mapped log,
   * the chunks of a large entry are read-only views of a mapped window (no copy), and a
   * chunk that is kept past its time reads as empty (its window is unmapped), never as
   * other bytes.
   */
  *dataChunks(entry: DataPlace, chunkSize = 4 << 20, buffer?: Uint8Array): Generator<Uint8Array> {
    const windows = windowsOf.get(this)!;
    if (buffer === undefined && windows.enabled && entry.dataSize >= MAP_DATA_MIN) {
      yield* this.mappedChunks(windows, entry, Math.max(1, chunkSize));
      return;
    }
    const buf =
      buffer !== undefined && buffer.length > 0
        ? buffer.subarray(0, Math.min(chunkSize, buffer.length))
        : new Uint8Array(Math.min(chunkSize, Math.max(entry.dataSize, 1)));
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
    // One header: one read, cheaper than mapping a window for it.
    const c = new LogCursor(this, { start: { index, offset }, tail: true, data: options.data ?? false, blockSize: this.sectorSize }, false);
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
    windowsOf.get(this)!.close();
    closeSync(this.fd);
  }

  /** `dataChunks` over mapped windows of at least `MAP_WINDOW` bytes, each unmapped once passed. */
  private *mappedChunks(windows: LogWindows, entry: DataPlace, chunkSize: number): Generator<Uint8Array> {
    const span = Math.max(MAP_WINDOW, chunkSize);
    let window: Uint8Array | undefined;
    try {
      for (let done = 0; done < entry.dataSize; ) {
        const n = Math.min(span, entry.dataSize - done);
        window = windows.map(entry.dataOffset + done, n);
        if (window === undefined) {
          // Mapping failed: the rest through reads.
          yield* this.dataChunks({ dataOffset: entry.dataOffset + done, dataSize: entry.dataSize - done }, chunkSize, new Uint8Array(Math.min(chunkSize, entry.dataSize - done)));
          return;
        }
        for (let at = 0; at < n; at += chunkSize) yield window.subarray(at, Math.min(at + chunkSize, n));
        windows.unmap(window);
        window = undefined;
        done += n;
      }
    } finally {
      if (window !== undefined) windows.unmap(window);
    }
  }
}

/**
 * The mapped windows of one open log. `enabled` is true while the log is mapped: from the
 * start when the primitives map (`LinuxIo.maps`), until a mapping fails (a file that shrank,
 * a special file, no address space left), after which every reader of the log reads, which
 * gives the same bytes or the right error. Every window is unmapped by `unmap`, or by
 * `close` (the log's `close()`) at the latest, which makes its views read as empty.
 */
class LogWindows {
  enabled: boolean;
  private readonly live = new Set<Uint8Array>();

  constructor(
    private readonly io: LinuxIo,
    private readonly fd: number,
  ) {
    this.enabled = io.maps;
  }

  /** A read-only view of `[position, position + length)`, or `undefined` when the log cannot be mapped. */
  map(position: number, length: number): Uint8Array | undefined {
    if (!this.enabled) return undefined;
    try {
      const w = this.io.mapRange(this.fd, position, length);
      this.live.add(w);
      return w;
    } catch {
      this.enabled = false;
      return undefined;
    }
  }

  unmap(window: Uint8Array): void {
    if (this.live.delete(window)) this.io.unmap(window);
  }

  close(): void {
    this.enabled = false;
    for (const w of this.live) this.io.unmap(w);
    this.live.clear();
  }
}

/** Each open log's windows (kept out of `LogFile`'s public shape). */
const windowsOf = new WeakMap<LogFile, LogWindows>();

/**
 * Walks the entries of a log in order.
 *
 * Invariants:
 * - `pos` is the byte offset of the next header block and `index` its entry number; `pos`
 *   is always a multiple of S, and every entry before `index` has been returned.
 * - The window `buf[0, bufLen)` holds the file bytes `[bufStart, bufStart + bufLen)`; it is
 *   refilled only when a header block is not wholly inside it. `bufStart` is always a
 *   multiple of S, so a header block sits at a multiple of S (and of 4) inside `buf`.
 *   The window is either the cursor's own buffer (`own`), refilled by `readSync`, or
 *   (where `@lwlog/native` maps files) a read-only mapped range of the log, replaced by
 *   unmapping it and mapping the next one; `view` and `words` always cover `buf`.
 * - Views into the window live only until it is replaced: `peekData` views until the next
 *   `next()`/`skim()`, and never past the end of the walk or `log.close()`. A mapped window
 *   is unmapped then, and every view of it reads as empty (length 0), never as other
 *   bytes. Entry data that callers keep (`entry.data`, `markBytes`) is always a copy.
 * - Entries with `index < declared` are "declared"; past them the cursor stops unless
 *   `tail` is set, and then it stops at the first header that is not a clean entry. A
 *   declared entry that is broken throws (or, leniently, ends the walk with `end.error`).
 * - Once `end` is set, `next()` returns `undefined` forever. A strict cursor that threw
 *   has not moved: asking again throws the same error.
 *
 * Speed: headers are decoded straight from the window as 32-bit halves; a header whose
 * fields are all small, whose flags are known, non-mark bits and whose padding is zero (the
 * usual case) is taken without the full `inspectHeaderBlock` check, which it would pass.
 * A read window is refilled with `blockSize` bytes while entries are small, and with just
 * the next header block after an entry whose data is large enough that reading past it
 * would cost more than a separate read (see `SPARSE_GAP`). A mapped window is `blockSize`
 * bytes when that is given, else `MAP_WINDOW`; on a mapped log the cursor maps while
 * entries are small and reads lone header blocks after large ones, as a read window does.
 */
export class LogCursor {
  readonly log: LogFile;
  private readonly options: ReadOptions;
  private readonly S: number;
  private readonly size: number;
  private readonly declaredCount: number;
  private readonly tail: boolean;
  private pos: number;
  private index: number;
  private buf: Uint8Array;
  private view: DataView;
  private words: Int32Array;
  /** The log's mapped windows while the cursor maps (else `undefined`: it reads). */
  private windows: LogWindows | undefined;
  /** Bytes a mapped window holds. */
  private readonly mapSize: number;
  /** The cursor's own buffer, for reads (allocated when first needed on a mapped log). */
  private own: Uint8Array | undefined;
  private bufStart = 0;
  private bufLen = 0;
  private lastGap = 0;
  /** Data size of the last entry that had data (flushes and marks leave it as it was). */
  private lastData = 0;
  // The entry `advance()` decoded: its header block's offset in `buf`, 32-bit halves of
  // nr_sectors and flags, data size, kind, problems, and the header when not clean.
  private at = 0;
  private nrLo = 0;
  private nrHi = 0;
  private flLo = 0;
  private flHi = 0;
  private dataSize = 0;
  private kind: EntryKind = "noop";
  private problems: readonly EntryProblem[] = NO_PROBLEMS;
  private header: EntryHeader | undefined;
  private readonly summary: EntrySummary = {
    index: 0,
    offset: 0,
    nextOffset: 0,
    dataSize: 0,
    kind: "noop",
    tail: false,
    knownFlags: 0,
    unknownFlags: false,
    sector: 0,
    nrSectors: 0,
    entry: undefined,
  };
  /** Set once the walk is over. */
  end: ReadEnd | undefined;

  /** `mapped: false` makes the cursor read even where the log could be mapped (internal: `entryAt`). */
  constructor(log: LogFile, options: ReadOptions = {}, mapped = true) {
    this.log = log;
    this.options = options;
    this.S = log.sectorSize;
    this.size = log.size;
    this.declaredCount = log.declared;
    this.tail = options.tail === true;
    this.pos = options.start?.offset ?? this.S;
    this.index = options.start?.index ?? 0;
    const windows = windowsOf.get(log)!;
    this.windows = mapped && windows.enabled ? windows : undefined;
    this.mapSize = this.wholeSectors(options.blockSize ?? MAP_WINDOW);
    if (this.windows === undefined) this.own = new Uint8Array(this.wholeSectors(options.blockSize ?? DEFAULT_BLOCK));
    this.buf = this.own ?? new Uint8Array(0);
    this.view = new DataView(this.buf.buffer);
    this.words = new Int32Array(this.buf.buffer);
  }

  /** A whole number of sectors, at least one: header blocks then never straddle a window's end. */
  private wholeSectors(bytes: number): number {
    return Math.ceil(Math.max(bytes, this.S) / this.S) * this.S;
  }

  /** The next entry, or `undefined` at the end (then `end` says why). */
  next(): LogEntry | undefined {
    return this.advance() ? this.build() : undefined;
  }

  /** The `LogEntry` for the entry `advance()` decoded (with its data when asked); moves past it. */
  private build(withData = this.options.data === true): LogEntry {
    const pos = this.pos;
    const at = this.at;
    const v = this.view;
    let header = this.header;
    if (header === undefined) {
      // A clean header: its fields are small, so the bigints come from 32-bit halves.
      header = {
        sector: v.getUint32(at + 4, true) === 0 ? BigInt(v.getUint32(at, true)) : v.getBigUint64(at, true),
        nrSectors: this.nrHi === 0 ? (this.nrLo < SMALL.length ? SMALL[this.nrLo]! : BigInt(this.nrLo)) : v.getBigUint64(at + 8, true),
        flags: SMALL[this.flLo]!,
        dataLen: 0n,
      };
    }
    const dataSize = this.dataSize;
    const entry: LogEntry = {
      sector: header.sector,
      nrSectors: header.nrSectors,
      flags: header.flags,
      dataLen: header.dataLen,
      index: this.index,
      offset: pos,
      kind: this.kind,
      tail: this.index >= this.declaredCount,
      dataOffset: pos + this.S,
      dataSize,
      nextOffset: pos + this.S + dataSize,
      problems: this.problems,
    };
    if (this.kind === "mark") {
      entry.markBytes = markNameBytes(header, this.buf.subarray(at, at + this.S), this.S);
      entry.mark = decodeMarkName(entry.markBytes);
    }
    if (withData && dataSize > 0) {
      const max = this.options.maxDataBytes ?? 256 << 20;
      if (dataSize > max) {
        throw new LogFormatError(
          ErrorCodes.ENTRY_TOO_LARGE,
          `entry carries ${dataSize} bytes of data, more than ${max} can be held at once; read it in chunks`,
          { file: this.log.path, entry: this.index, offset: pos },
        );
      }
      entry.data = this.copy(entry.dataOffset, dataSize);
    }
    this.step();
    return entry;
  }

  /**
   * Like `next()`, for one-pass scans that need only where each entry is and what it is
   * (`LogIndex.build` uses it): the same checks, end and errors, but no `LogEntry` is built
   * for a plain entry and no data is read. The returned summary is one object, reused:
   * its fields are valid until the next call. Marks and entries with problems or
   * fields too wide for the fast path also come as a full `entry`.
   */
  skim(): EntrySummary | undefined {
    if (!this.advance()) return undefined;
    const sum = this.summary;
    sum.index = this.index;
    sum.offset = this.pos;
    sum.kind = this.kind;
    sum.tail = this.index >= this.declaredCount;
    sum.dataSize = this.dataSize;
    sum.nextOffset = this.pos + this.S + this.dataSize;
    sum.knownFlags = this.flLo & ALL_KNOWN;
    sum.unknownFlags = this.flHi !== 0 || (this.flLo & ~ALL_KNOWN) !== 0;
    // Numbers from the 32-bit halves while they are exact (below 2^53 = 2^21 · 2^32).
    const sectorHi = this.view.getUint32(this.at + 4, true);
    sum.sector = sectorHi < 0x20_0000 ? sectorHi * 0x1_0000_0000 + this.view.getUint32(this.at, true) : -1;
    sum.nrSectors = this.nrHi < 0x20_0000 ? this.nrHi * 0x1_0000_0000 + this.nrLo : -1;
    if (this.header === undefined && sum.sector >= 0 && sum.nrSectors >= 0) {
      sum.entry = undefined;
      this.step();
    } else {
      // Rare (marks, problems, wide fields, sectors past 2^53): the full entry, without its data.
      sum.entry = this.build(false);
    }
    return sum;
  }

  /** Moves past the entry `advance()` decoded. */
  private step(): void {
    this.lastGap = this.dataSize;
    if (this.dataSize > 0) this.lastData = this.dataSize;
    this.pos += this.S + this.dataSize;
    this.index += 1;
  }

  /**
   * Decodes the header at `pos` into the `at`/`nrLo`/… fields and checks it; false at the
   * end of the walk (with `end` set). Throws for a broken declared entry unless lenient.
   * Leaves `pos` and `index` on the entry (`step()` moves past it).
   */
  private advance(): boolean {
    if (this.end !== undefined) return false;
    const { S, size } = this;
    const pos = this.pos;
    const declared = this.index < this.declaredCount;
    if (!declared && !this.tail) return this.finish("declared");
    if (pos === size) {
      if (declared) return this.broken(ErrorCodes.MISSING_ENTRIES, this.missingMessage());
      return this.finish("eof");
    }
    if (pos + S > size) {
      const msg = `header block cut short: ${size - pos} of ${S} bytes before the end of the file`;
      if (declared) return this.broken(ErrorCodes.TRUNCATED_HEADER, `${msg}; ${this.missingMessage()}`);
      return this.finish("truncated", msg);
    }
    const at = this.fill(pos, S);
    const v = this.view;
    const nrLo = v.getUint32(at + 8, true);
    const nrHi = v.getUint32(at + 12, true);
    const flLo = v.getUint32(at + 16, true);
    const flHi = v.getUint32(at + 20, true);
    const dataOffset = pos + S;
    // Bytes of data after the header block, as a number when that is exact and bigint
    // otherwise: nr_sectors may be 2^63, which must become an error, not an allocation.
    let dataSize: number;
    let pastEof: boolean;
    let dataBytes: bigint | undefined;
    if ((flLo & DISCARD_BIT) !== 0 || (nrLo === 0 && nrHi === 0)) {
      dataSize = 0;
      pastEof = false;
    } else if (nrHi === 0) {
      // nrLo * S < 2^55: inexact only beyond 2^53, far past any file's end, so the compare holds.
      dataSize = nrLo * S;
      pastEof = dataSize > size - dataOffset;
    } else {
      dataBytes = (BigInt(nrHi) * 0x1_0000_0000n + BigInt(nrLo)) * BigInt(S);
      pastEof = dataBytes > BigInt(size - dataOffset);
      dataSize = pastEof ? 0 : Number(dataBytes);
    }
    const clean =
      flHi === 0 &&
      (flLo & ~PLAIN_FLAGS) === 0 &&
      (flLo !== 0 || nrLo !== 0 || nrHi !== 0) &&
      v.getUint32(at + 24, true) === 0 &&
      v.getUint32(at + 28, true) === 0 &&
      this.zeroAfterHeader(at);
    let header: EntryHeader | undefined;
    let problems: readonly EntryProblem[] = NO_PROBLEMS;
    if (!clean) {
      header = decodeEntryHeader(this.buf, at);
      const found = inspectHeaderBlock(header, this.buf.subarray(at, at + S), S);
      if (found.length > 0) problems = found;
    }
    if (pastEof) {
      const msg = `data runs past the end of the file: ${dataBytes ?? BigInt(nrLo) * BigInt(S)} bytes at offset ${dataOffset}, the file has ${size}`;
      if (declared) return this.broken(ErrorCodes.DATA_PAST_EOF, msg);
      // A clean header whose data is cut off is a write the crash interrupted, plain writes
      // (flags 0) included; a header with problems is garbage.
      return this.finish(problems.length > 0 ? "invalid" : "truncated", msg);
    }
    if (problems.length > 0) {
      if (!declared) {
        const spoiling = problems.find((p) => p.code !== ErrorCodes.MARK_NO_NUL);
        if (spoiling !== undefined) return this.finish("invalid", spoiling.message);
      } else {
        const first = problems.find((p) => p.severity === "error");
        if (first !== undefined) {
          // An empty header means nothing more was written: the walk cannot go on.
          if (first.code === ErrorCodes.EMPTY_ENTRY) {
            return this.broken(first.code, `${first.message}; ${this.missingMessage()}`);
          }
          if (!this.options.lenient) {
            throw new LogFormatError(first.code, first.message, { file: this.log.path, entry: this.index, offset: pos });
          }
        }
      }
    }
    this.at = at;
    this.nrLo = nrLo;
    this.nrHi = nrHi;
    this.flLo = flLo;
    this.flHi = flHi;
    this.dataSize = dataSize;
    this.header = header;
    this.problems = problems;
    this.kind =
      (flLo & MARK_BIT) !== 0
        ? "mark"
        : (flLo & DISCARD_BIT) !== 0
          ? "discard"
          : nrLo !== 0 || nrHi !== 0
            ? "write"
            : (flLo & FLUSH_BIT) !== 0
              ? "flush"
              : "noop";
    return true;
  }

  /**
   * The data of `entry` (the entry `next()` or `skim()` just returned; for a summary, its
   * place is `{ dataOffset: offset + S, dataSize, nextOffset }`) as a view into the cursor's
   * read window when the window already holds all of it, else `undefined` (then read it with
   * `LogFile.dataChunks`). No copy and no read: for small entries the bytes came in with the
   * header. The view is valid only until the next call to `next()` or `skim()` (or the end of
   * the walk, or `log.close()`); where the log is mapped, a view kept longer may read as
   * empty (its window unmapped), never as other bytes. Copy what must be kept.
   */
  peekData(entry: DataPlace & { nextOffset: number }): Uint8Array | undefined {
    if (entry.dataSize === 0 || entry.nextOffset !== this.pos || this.buf.byteLength === 0) return undefined;
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

  private broken(code: string, message: string): false {
    const error = new LogFormatError(code, message, { file: this.log.path, entry: this.index, offset: this.pos });
    if (!this.options.lenient) throw error;
    this.release();
    this.end = { reason: "error", offset: this.pos, index: this.index, detail: message, error };
    return false;
  }

  private finish(reason: ReadEnd["reason"], detail?: string): false {
    this.release();
    this.end = { reason, offset: this.pos, index: this.index };
    if (detail !== undefined) this.end.detail = detail;
    return false;
  }

  /** True when the header block at `at` in the window is all zero after its 32 field bytes. */
  private zeroAfterHeader(at: number): boolean {
    const w = this.words;
    const end = (at + this.S) >> 2;
    // First one word of each further 64-byte cache line: independent loads, so that on a
    // mapped window (the block not yet in the CPU cache) their misses overlap instead of
    // coming one after the other; measured a third faster there, and free on a read window.
    let lines = 0;
    for (let i = (at >> 2) + 16; i < end; i += 16) lines |= w[i]!;
    if (lines !== 0) return false;
    // S - 32 is a multiple of 32 bytes (S is a power of two ≥ 32): eight words a step,
    // or-ed together, measured three times faster than a word at a time.
    for (let i = (at + ENTRY_HEADER_SIZE) >> 2; i < end; i += 8) {
      if ((w[i]! | w[i + 1]! | w[i + 2]! | w[i + 3]! | w[i + 4]! | w[i + 5]! | w[i + 6]! | w[i + 7]!) !== 0) return false;
    }
    return true;
  }

  /**
   * Makes `[pos, pos+len)` (`len <= buf.length`) present in the window and returns its
   * offset in `buf`, refilling the window when needed.
   */
  private fill(pos: number, len: number): number {
    // Large entries: a header in a mapped window costs its page and the pages faulted in
    // around it (mapped, then unmapped), twice what a lone read costs, so they are read.
    const mappedSparse = this.lastData >= SPARSE_GAP && this.windows !== undefined && this.buf !== this.own;
    // byteLength 0: a mapped window that `log.close()` unmapped under the cursor.
    if (pos < this.bufStart || pos + len > this.bufStart + this.bufLen || this.buf.byteLength === 0 || mappedSparse) {
      // After an entry with much data the next header is far away: read just its block
      // rather than a window of data that would be skipped.
      const sparse = this.lastGap >= SPARSE_GAP;
      if (this.windows !== undefined) {
        if (this.lastData < SPARSE_GAP && this.remap(pos)) return 0;
        this.useOwnBuffer();
      }
      const want = sparse ? len : this.buf.length;
      const n = Math.min(want, this.size - pos);
      readFully(this.log.fd, this.buf.subarray(0, n), pos, this.log.path);
      this.bufStart = pos;
      this.bufLen = n;
    }
    return pos - this.bufStart;
  }

  /**
   * Replaces the mapped window with one starting at `pos`; false when the log cannot be
   * mapped (then the cursor reads from now on, into a buffer of its own).
   */
  private remap(pos: number): boolean {
    this.release();
    const n = Math.min(this.mapSize, this.size - pos);
    const w = this.windows!.map(pos, n);
    if (w === undefined) {
      this.windows = undefined;
      return false;
    }
    this.setWindow(w);
    this.bufStart = pos;
    this.bufLen = n;
    return true;
  }

  /** Makes `buf` (and `view`, `words` over it) the window, empty. */
  private setWindow(buf: Uint8Array): void {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.words = new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
    this.bufStart = 0;
    this.bufLen = 0;
  }

  /** Unmaps the mapped window, if any (its views then read as empty). */
  private release(): void {
    if (this.windows !== undefined && this.buf !== this.own && this.buf.length > 0) {
      this.windows.unmap(this.buf);
      this.setWindow(new Uint8Array(0));
    }
  }

  /** Makes the cursor's own buffer the (empty) window, unmapping a mapped one. */
  private useOwnBuffer(): void {
    this.release();
    if (this.own === undefined) this.own = new Uint8Array(this.wholeSectors(this.options.blockSize ?? DEFAULT_BLOCK));
    if (this.buf !== this.own) this.setWindow(this.own);
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
