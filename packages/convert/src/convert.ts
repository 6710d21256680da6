import { closeSync, copyFileSync, openSync, rmSync, writeSync } from "node:fs";
import {
  ENTRY_HEADER_SIZE,
  ErrorCodes,
  LogBatchWriter,
  LogFile,
  LogFlags,
  LogFormatError,
  LwlogError,
  QEMU_FLAG_MASK,
  U64_MAX,
  formatFlags,
  ioError,
  isValidSectorSize,
  maxMarkLength,
  toSafeNumber,
  type DataCopy,
  type DataSource,
  type EntryHeader,
  type EntrySummary,
  type EntryToAppend,
  type LogEntry,
  type ReadEnd,
} from "@lwlog/codec/core";
import { native } from "@lwlog/native";
import { AtomicOutput } from "./atomic.js";
import { InterruptedError } from "./export.js";
import { withRepairHint } from "./repair-hint.js";
import { RepairList, verifyRepaired, type Repair } from "./repairs.js";
import { entryOf } from "./summary.js";
import { Yielder } from "./yield.js";

/** Error codes of `convertLog`. */
export const ConvertErrorCodes = {
  /** A mark name does not fit the new sector size (and `truncateMarks` was not given). */
  MARK_TOO_LONG: "LWLOG_MARK_TOO_LONG",
  /** A write or discard does not cover whole sectors of the new size (and no base image was given). */
  UNALIGNED: "LWLOG_UNALIGNED",
  /** A converted sector number does not fit in 64 bits. */
  OVERFLOW: "LWLOG_SECTOR_OVERFLOW",
} as const;

/** A log that cannot be converted as asked: names the entry, its offset and what to do. */
export class ConvertError extends LwlogError {}

/** Options of `convertLog`. */
export interface ConvertOptions {
  /** Sector size of the output (default: the input's). */
  sectorSize?: number;
  /** Cut mark names longer than the new limit (S−33 bytes) instead of failing. */
  truncateMarks?: boolean;
  /** Keep the valid entries past the declared count (default true); false keeps only the declared ones. */
  tail?: boolean;
  /** Declare every entry written in the superblock (`nr_entries`), repairing a lagging count. */
  fixSuperblock?: boolean;
  /** Make the log one QEMU's `log-append=on` accepts: flags beyond 0x0f (METADATA) dropped; implies `fixSuperblock` for a tail. */
  forQemu?: boolean;
  /**
   * An image of the target device as it was when the log began. With it, converting up
   * completes partial sectors by read-modify-write from the image's state at that point of
   * the log (replayed on the fly on a temporary copy, next to the output).
   */
  baseImage?: string;
  /** Replace the output when it exists (default: refuse). */
  overwrite?: boolean;
  /** Polled between entries; when it returns true the conversion stops and leaves no output. */
  shouldStop?: () => boolean;
  /** Called now and then with the log offset reached and the log's size. */
  onProgress?: (offset: number, total: number) => void;
}

/** A mark whose name was cut to fit the new sector size. */
export interface TruncatedMark {
  /** Its index in the input and in the output. */
  entry: number;
  outEntry: number;
  /** The name's length before and after, in bytes. */
  bytes: number;
  keptBytes: number;
  /** The name as kept. */
  name: string;
}

/** What a conversion did: everything that changed beyond the units. */
export interface ConvertSummary {
  source: string;
  output: string;
  fromSectorSize: number;
  toSectorSize: number;
  /** Entries read, of which past the declared count. */
  entriesIn: number;
  tailIn: number;
  /** Entries written, and the `nr_entries` written to the superblock. */
  entriesOut: number;
  nrEntriesIn: bigint;
  nrEntriesOut: number;
  /** Tail entries left out (`tail: false`). */
  tailDropped: number;
  /** `nr_entries` rewritten to count the entries present (and how the input's walk ended). */
  superblockFixed: boolean;
  end: ReadEnd;
  /** Bytes of the input after its last entry read (not copied). */
  trailingBytes: number;
  marksTruncated: TruncatedMark[];
  /** `forQemu`: entries whose METADATA bit was dropped, and whose unknown bits were. */
  metadataDropped: number;
  unknownFlagsDropped: number;
  /** Entries left out because nothing was left of them (a METADATA-only entry with no data, for QEMU). */
  entriesDropped: number[];
  /** Converting up: flushes and marks whose (meaningless) sector was rounded down to the new unit. */
  sectorsRounded: number;
  /** Converting up with a base image: writes widened, and discards split, by read-modify-write. */
  widenedWrites: number;
  splitDiscards: number;
  /** False when a base image was given but not needed (not converting up). */
  baseImageUsed: boolean;
  /**
   * Bytes of the input the output has as zeros where writers put zeros: a header block's
   * padding, after a mark's name, after the superblock's fields (the first 1000; `repairsTotal` counts them all).
   */
  repairs: Repair[];
  repairsTotal: number;
}

/**
 * Converts a log: to another sector size (down always; up when every write and discard
 * is aligned, or with a base image), for QEMU's `log-append`, with or without its tail,
 * with a repaired superblock. One pass, one entry at a time; the output is written to a
 * temporary file renamed over `output` at the end, so a failure leaves nothing behind.
 */
export async function convertLog(source: string, output: string, options: ConvertOptions = {}): Promise<ConvertSummary> {
  const log = await LogFile.open(source);
  let work: string | undefined;
  let out: AtomicOutput | undefined;
  let writer: LogBatchWriter | undefined;
  let image: ImageLike | undefined;
  try {
    const S = log.sectorSize;
    const T = options.sectorSize ?? S;
    if (!isValidSectorSize(T)) {
      throw new ConvertError(ErrorCodes.BAD_SECTOR_SIZE, `invalid sector size ${T}: it must be a power of two from 32 to 8388608`);
    }
    out = AtomicOutput.prepare(output, { overwrite: options.overwrite ?? false, inputs: [source, ...(options.baseImage !== undefined ? [options.baseImage] : [])] });
    // Only converting up can leave partial sectors to complete.
    const useImage = options.baseImage !== undefined && T > S;
    if (useImage) {
      work = `${out.temp}.image`;
      image = await openWorkImage(options.baseImage!, work);
    }
    const fixSuper = options.fixSuperblock === true;
    const keepTail = options.tail ?? true;
    writer = LogBatchWriter.create(out.temp, { sectorSize: T, superPadding: log.super.padding });
    const conv = new EntryConverter(log, T, options, image, writer);
    const repairs = new RepairList();
    repairs.superblock(log.superPadding);
    // Leniently with --fix-superblock: a declared count past the entries present ends the
    // walk instead of failing it; a broken entry still fails it (RepairList.entry).
    const cursor = log.cursor({ tail: true, lenient: fixSuper });
    const yielder = new Yielder();
    // Where the data of the entry being converted lies, for `peekData` and `readData`: one
    // object, reused (nothing is allocated per entry on the usual path).
    const place = { dataOffset: 0, dataSize: 0, nextOffset: 0 };
    // Data not in the cursor's window is read straight into the writer's buffer; large data
    // is copied by the kernel (copy_file_range), where the addon is built, as `cp` does.
    const readSource: DataSource = (target, at, length, from) => log.readAt(target, place.dataOffset + from, length, at);
    const copyData: DataCopy | undefined = native.available ? (fd, position, length) => copyRange(log, place, fd, position, length, output) : undefined;
    let entriesIn = 0;
    let tailIn = 0;
    let declaredOut = 0;
    let tailDropped = 0;
    for (;;) {
      let s: EntrySummary | undefined;
      try {
        s = cursor.skim();
      } catch (err) {
        if (err instanceof LogFormatError && err.code === ErrorCodes.MALFORMED_ENTRY && !fixSuper) {
          throw new LogFormatError(err.code, `${err.message} (--fix-superblock writes a copy with it zeroed, and lists it)`, { ...(err.file !== undefined ? { file: err.file } : {}), ...(err.entry !== undefined ? { entry: err.entry } : {}), ...(err.offset !== undefined ? { offset: err.offset } : {}) });
        }
        throw withRepairHint(err, "--fix-superblock converts the entries that are there and declares them");
      }
      if (s === undefined) break;
      entriesIn += 1;
      if (s.tail) {
        tailIn += 1;
        if (!keepTail) {
          tailDropped += 1;
          continue;
        }
      }
      if (s.entry !== undefined && s.entry.problems.length > 0) repairs.entry(s.entry, log);
      place.dataOffset = s.offset + S;
      place.dataSize = s.dataSize;
      place.nextOffset = s.nextOffset;
      // A plain entry without a base image goes straight to the writer as numbers; the rest
      // (marks, odd entries, huge sectors, unaligned ones, any entry with a base image) as a
      // full entry, with the data straight from the cursor's read window when it is there
      // (valid until the next entry is read: every append is done, or awaited, before that).
      let fast: Promise<void> | undefined | typeof SLOW = SLOW;
      if (s.entry === undefined && image === undefined) {
        if (s.dataSize === 0) fast = conv.plain(s, undefined);
        else if (s.dataSize >= COPY_MIN && copyData !== undefined) fast = conv.plain(s, undefined, copyData);
        else fast = conv.plain(s, cursor.peekData(place) ?? readSource);
      }
      if (fast === SLOW) {
        const e = s.entry ?? entryOf(s, S);
        const data = e.dataSize === 0 ? undefined : (cursor.peekData(e) ?? log.readData(e));
        for (const piece of conv.convert(e, data)) {
          const p = writer.append(piece);
          if (p !== undefined) await p;
          conv.entriesOut += 1;
        }
      } else if (fast !== undefined) {
        await fast;
      }
      if (!s.tail) declaredOut = conv.entriesOut;
      if (yielder.tick()) {
        await yielder.pause();
        if (options.shouldStop?.()) throw new InterruptedError();
        options.onProgress?.(s.nextOffset, log.size);
      }
    }
    await yielder.pause();
    if (options.shouldStop?.()) throw new InterruptedError();
    const end = cursor.end!;
    const entriesOut = conv.entriesOut;
    const qemuNeedsAll = options.forQemu === true && entriesOut > declaredOut;
    const superblockFixed = fixSuper || qemuNeedsAll;
    const nrOut = superblockFixed ? entriesOut : declaredOut;
    await writer.writeSuper(nrOut);
    await writer.close();
    writer = undefined;
    // A repair is kept only if `lwlog check` would call it valid.
    if (superblockFixed) await verifyRepaired(out.temp, output);
    await out.commit();
    return {
      source,
      output,
      fromSectorSize: S,
      toSectorSize: T,
      entriesIn,
      tailIn,
      entriesOut,
      nrEntriesIn: log.super.nrEntries,
      nrEntriesOut: nrOut,
      tailDropped,
      superblockFixed,
      end,
      trailingBytes: log.size - end.offset,
      marksTruncated: conv.marksTruncated,
      metadataDropped: conv.metadataDropped,
      unknownFlagsDropped: conv.unknownFlagsDropped,
      entriesDropped: conv.entriesDropped,
      sectorsRounded: conv.sectorsRounded,
      widenedWrites: conv.widenedWrites,
      splitDiscards: conv.splitDiscards,
      baseImageUsed: useImage,
      repairs: repairs.listed,
      repairsTotal: repairs.count,
    };
  } catch (err) {
    if (writer) await writer.abort().catch(() => undefined);
    out?.abort();
    throw out === undefined ? err : out.named(err);
  } finally {
    image?.close();
    if (work !== undefined) rmSync(work, { force: true });
    log.close();
  }
}

/**
 * Data at least this large is copied by the kernel (copy_file_range) rather than through JS.
 * Measured on warm 1 GiB logs converted 512 → 4096: 64 KiB writes 1.02 s → 0.73 s, 1 MiB
 * writes 0.76 s → 0.62 s (cp of the same file: 0.33 s).
 */
const COPY_MIN = 64 << 10;

/** Copies an entry's data from the log to the output in the kernel; a short copy means the log shrank. */
function copyRange(log: LogFile, place: { dataOffset: number; dataSize: number }, fd: number, position: number, length: number, output: string): void {
  let n: number;
  try {
    n = native.copyFileRange(log.fd, place.dataOffset, fd, position, length);
  } catch (err) {
    throw ioError(err, output, `copy ${length} bytes of data from ${log.path}`);
  }
  if (n !== length) {
    throw new LogFormatError(ErrorCodes.DATA_PAST_EOF, `the log ends inside the data at offset ${place.dataOffset} (it shrank while being converted)`, {
      file: log.path,
      offset: place.dataOffset,
    });
  }
}

/** `EntryConverter.plain`'s answer when an entry needs the full treatment. */
const SLOW = Symbol("slow");
const METADATA_BIT = Number(LogFlags.METADATA);
const QEMU_BITS = Number(QEMU_FLAG_MASK);
/** The parts of `@lwlog/replay`'s `ImageTarget` the conversion uses. */
interface ImageLike {
  applyEntry(entry: LogEntry, log: LogFile, options?: { data?: Uint8Array }): unknown;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/**
 * Copies the base image (a file or a block device) to `work` and opens the copy as a replay
 * target that may grow. A regular file is copied by the kernel (`copy_file_range`); a device,
 * whose size `fstat` does not tell, is read in 4 MiB chunks up to its size.
 */
async function openWorkImage(baseImage: string, work: string): Promise<ImageLike> {
  const { ImageTarget } = await import("@lwlog/replay");
  const base = ImageTarget.open(baseImage, { readOnly: true });
  try {
    if (base.kind === "file") {
      copyFileSync(baseImage, work);
    } else {
      const fd = openSync(work, "wx");
      try {
        const chunk = new Uint8Array(4 << 20);
        for (let at = 0; at < base.size; at += chunk.length) {
          const n = Math.min(chunk.length, base.size - at);
          const view = chunk.subarray(0, n);
          base.readInto(view, at);
          for (let done = 0; done < n; ) done += writeSync(fd, view, done, n - done, at + done);
        }
      } finally {
        closeSync(fd);
      }
    }
  } catch (err) {
    rmSync(work, { force: true });
    if (err instanceof LwlogError) throw err;
    // An I/O error like any other (exit 2 in the CLI), whichever side failed (a disk full).
    throw ioError(err, baseImage, `copy the base image to ${work}`);
  } finally {
    base.close();
  }
  return ImageTarget.open(work, { grow: true });
}


/**
 * Turns one input entry into the output entries that do the same thing in the new sector
 * size (usually one; a discard completed by read-modify-write becomes up to three).
 *
 * Invariants: when a base image is given, it holds the target's state after every input
 * entry converted so far (each is applied right after its output entries are made), so a
 * read of it is the state the converted entry's partial sectors must keep.
 */
class EntryConverter {
  readonly marksTruncated: TruncatedMark[] = [];
  metadataDropped = 0;
  unknownFlagsDropped = 0;
  readonly entriesDropped: number[] = [];
  sectorsRounded = 0;
  widenedWrites = 0;
  splitDiscards = 0;
  /** Entries written so far: the output index of the next one. */
  entriesOut = 0;
  private readonly S: number;
  private readonly markLimit: number;

  constructor(
    private readonly log: LogFile,
    private readonly T: number,
    private readonly options: ConvertOptions,
    private readonly image: ImageLike | undefined,
    private readonly writer: LogBatchWriter,
  ) {
    this.S = log.sectorSize;
    // Same size or bigger: whatever the old header block held fits. Smaller: the kernel's rule.
    this.markLimit = T >= this.S ? T - ENTRY_HEADER_SIZE : Math.max(0, maxMarkLength(T));
  }

  /**
   * Converts a plain entry (a `skim()` summary without `entry`: known flags but MARK, no
   * `data_len`, numbers below 2^53) straight into the writer, as `convert` would; returns the
   * writer's promise when it must be awaited, or `SLOW` when the entry needs `convert` (its
   * converted numbers pass 2^53, or it is unaligned going up), before anything is counted.
   */
  plain(s: EntrySummary, data: Uint8Array | DataSource | undefined, copy?: DataCopy): Promise<void> | undefined | typeof SLOW {
    const { S, T } = this;
    let sector = s.sector;
    let nr = s.nrSectors;
    let rounded = false;
    // Powers of two: these products and quotients are exact.
    if (T < S) {
      const k = S / T;
      sector *= k;
      nr *= k;
      if (sector > Number.MAX_SAFE_INTEGER || nr > Number.MAX_SAFE_INTEGER) return SLOW;
    } else if (T > S) {
      const k = T / S;
      if (nr % k !== 0 || (sector % k !== 0 && nr > 0)) return SLOW;
      rounded = sector % k !== 0;
      sector = Math.floor(sector / k);
      nr /= k;
    }
    let flags = s.knownFlags;
    if (this.options.forQemu) {
      // A plain entry has no unknown bits: METADATA is the only one QEMU refuses.
      if ((flags & METADATA_BIT) !== 0) {
        this.metadataDropped += 1;
        flags &= QEMU_BITS;
      }
      if (flags === 0 && s.nrSectors === 0) {
        this.entriesDropped.push(s.index);
        return undefined;
      }
    }
    if (rounded) this.sectorsRounded += 1;
    this.entriesOut += 1;
    return copy !== undefined ? this.writer.appendPlainCopy(sector, nr, flags, copy) : this.writer.appendPlain(sector, nr, flags, data);
  }

  convert(e: LogEntry, data: Uint8Array | undefined): EntryToAppend[] {
    const outIndex = this.entriesOut;
    let flags = e.flags;
    if (this.options.forQemu) {
      const extra = flags & ~QEMU_FLAG_MASK;
      if (extra !== 0n) {
        if ((extra & LogFlags.METADATA) !== 0n) this.metadataDropped += 1;
        if ((extra & ~LogFlags.METADATA) !== 0n) this.unknownFlagsDropped += 1;
        flags &= QEMU_FLAG_MASK;
      }
      if (flags === 0n && e.nrSectors === 0n) {
        this.entriesDropped.push(e.index);
        this.apply(e, data);
        return [];
      }
    }
    let pieces: EntryToAppend[];
    if (e.kind === "mark") {
      pieces = [{ header: this.scaled(e, flags), ...(data ? { data } : {}), inline: this.markName(e, outIndex) }];
      pieces[0]!.header.dataLen = BigInt(pieces[0]!.inline!.length);
    } else if (this.T >= this.S && e.nrSectors > 0n && !this.aligned(e)) {
      pieces = this.readModifyWrite(e, flags, data);
    } else {
      const header = this.scaled(e, flags);
      pieces = [{ header, ...(data ? { data } : {}) }];
    }
    this.apply(e, data);
    return pieces;
  }

  /** Applies the input entry to the work image (with a base image only). */
  private apply(e: LogEntry, data: Uint8Array | undefined): void {
    if (this.image && (e.kind === "write" || e.kind === "discard")) this.image.applyEntry(e, this.log, data ? { data } : {});
  }

  /** True when the entry's range is whole sectors of the new size. */
  private aligned(e: LogEntry): boolean {
    const k = BigInt(this.T / this.S);
    return e.sector % k === 0n && e.nrSectors % k === 0n;
  }

  /** The header with `sector` and `nrSectors` in the new unit (the range must be aligned when going up). */
  private scaled(h: LogEntry, flags: bigint): EntryHeader {
    const { S, T } = this;
    if (T === S) return { sector: h.sector, nrSectors: h.nrSectors, flags, dataLen: h.dataLen };
    if (T < S) {
      const k = BigInt(S / T);
      const sector = h.sector * k;
      const nrSectors = h.nrSectors * k;
      if (sector > U64_MAX || nrSectors > U64_MAX) {
        throw new ConvertError(ConvertErrorCodes.OVERFLOW, `sector ${h.sector} × ${k} does not fit in 64 bits`, { file: this.log.path, entry: h.index, offset: h.offset });
      }
      return { sector, nrSectors, flags, dataLen: h.dataLen };
    }
    const k = BigInt(T / S);
    if (h.sector % k !== 0n) this.sectorsRounded += 1;
    return { sector: h.sector / k, nrSectors: h.nrSectors / k, flags, dataLen: h.dataLen };
  }

  private markName(e: LogEntry, outIndex: number): Uint8Array {
    const name = e.markBytes ?? new Uint8Array(0);
    if (name.length <= this.markLimit) return name;
    const shown = JSON.stringify((e.mark ?? "").length > 40 ? `${e.mark!.slice(0, 40)}…` : (e.mark ?? ""));
    if (!this.options.truncateMarks) {
      throw new ConvertError(
        ConvertErrorCodes.MARK_TOO_LONG,
        `mark ${shown} is ${name.length} bytes; ${this.T}-byte sectors hold names of at most ${this.markLimit} bytes (--truncate-marks cuts it to fit)`,
        { file: this.log.path, entry: e.index, offset: e.offset },
      );
    }
    const kept = name.slice(0, this.markLimit);
    this.marksTruncated.push({ entry: e.index, outEntry: outIndex, bytes: name.length, keptBytes: kept.length, name: new TextDecoder().decode(kept) });
    return kept;
  }

  /**
   * An unaligned write or discard going up: widened to whole new sectors, the bytes it
   * does not cover taken from the image's current state (a discard's own range as zeros).
   * A discard keeps its aligned middle as a discard, with the partial sectors at either
   * end as writes.
   */
  private readModifyWrite(e: LogEntry, flags: bigint, data: Uint8Array | undefined): EntryToAppend[] {
    const { S, T } = this;
    const start = e.sector * BigInt(S);
    const end = start + e.nrSectors * BigInt(S);
    const bigT = BigInt(T);
    if (this.image === undefined || (e.kind !== "write" && e.kind !== "discard")) {
      const what = e.kind === "write" || e.kind === "discard" ? e.kind : `${e.kind} with data`;
      throw new ConvertError(
        ConvertErrorCodes.UNALIGNED,
        `${what} (${formatFlags(e.flags)}) of bytes ${start}..${end - 1n} (sector ${e.sector}, ${e.nrSectors} sector${e.nrSectors === 1n ? "" : "s"} of ${S}) is not whole ${T}-byte sectors` +
          (e.kind === "write" || e.kind === "discard" ? "; give --base-image IMG (the device as it was when the log began) to complete the partial sectors" : ""),
        { file: this.log.path, entry: e.index, offset: e.offset },
      );
    }
    const lo = (start / bigT) * bigT;
    const hi = ((end + bigT - 1n) / bigT) * bigT;
    const widen = (from: bigint, to: bigint, f: bigint): EntryToAppend => {
      const buf = this.image!.read(toSafeNumber(from, "target byte offset"), toSafeNumber(to - from, "target byte length"));
      // Overlay what this entry does to [from, to): its data, or zeros for a discard.
      const a = start > from ? start : from;
      const b = end < to ? end : to;
      if (e.kind === "write") {
        const src = data ?? this.log.readData(e);
        buf.set(src.subarray(Number(a - start), Number(b - start)), Number(a - from));
      } else {
        buf.fill(0, Number(a - from), Number(b - from));
      }
      return { header: { sector: from / bigT, nrSectors: (to - from) / bigT, flags: f, dataLen: e.kind === "write" ? e.dataLen : 0n }, data: buf };
    };
    if (e.kind === "write") {
      this.widenedWrites += 1;
      return [widen(lo, hi, flags)];
    }
    this.splitDiscards += 1;
    const writeFlags = flags & ~LogFlags.DISCARD;
    const innerLo = ((start + bigT - 1n) / bigT) * bigT;
    const innerHi = (end / bigT) * bigT;
    if (innerLo >= innerHi) return [widen(lo, hi, writeFlags)];
    const pieces: EntryToAppend[] = [];
    if (innerLo > lo) pieces.push(widen(lo, innerLo, writeFlags));
    pieces.push({ header: { sector: innerLo / bigT, nrSectors: (innerHi - innerLo) / bigT, flags, dataLen: 0n } });
    if (hi > innerHi) pieces.push(widen(innerHi, hi, writeFlags));
    return pieces;
  }
}
