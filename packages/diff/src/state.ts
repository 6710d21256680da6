import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { LogFile, LogRangeError, ErrorCodes, ioError } from "@lwlog/codec/core";
import { lastWriters, type StateMap } from "@lwlog/state";
import { KIND, type LogScan } from "./scan.js";

/**
 * The state of a disk after entries `[0, until)` of a scanned log: the shared last-writer
 * map (`@lwlog/state`) whose writers are entry indexes. A write's bytes come from its data;
 * a discard's are zeros. Bytes in no range hold the base image (zeros unless told otherwise).
 */
export interface ScanState extends StateMap {
  /** Entries `[0, until)` were applied. */
  until: number;
}

/**
 * The last-writer map of entries `[0, until)` of a scan: its writes and discards (each one
 * whole piece, ids = entry indexes, in log order) through `@lwlog/state`'s `lastWriters`.
 */
export function scanState(s: LogScan, until = s.count): ScanState {
  let n = 0;
  for (let i = 0; i < until; i++) {
    const k = s.kinds[i];
    if (k === KIND.write || k === KIND.discard) n++;
  }
  const ids = new Uint32Array(n);
  n = 0;
  for (let i = 0; i < until; i++) {
    const k = s.kinds[i];
    if (k === KIND.write || k === KIND.discard) ids[n++] = i;
  }
  return { ...lastWriters(s.offsets, s.lengths, ids), until };
}

/**
 * How many entries of a log make its state "at" a point: all of them (no `mark`), or every
 * entry up to and including the first mark named `mark`. Throws `LWLOG_NO_SUCH_MARK` when the
 * log has no such mark.
 */
export function entriesUntil(s: LogScan, mark?: string): number {
  if (mark === undefined) return s.count;
  const m = s.marks.find((x) => x.name === mark);
  if (m === undefined) {
    const names = s.marks.slice(0, 8).map((x) => JSON.stringify(x.name.length > 40 ? x.name.slice(0, 40) + "…" : x.name));
    throw new LogRangeError("LWLOG_NO_SUCH_MARK", `no mark named ${JSON.stringify(mark)} (marks: ${names.join(", ") || "none"}${s.marks.length > 8 ? ", …" : ""})`, {
      file: s.path,
    });
  }
  return m.index + 1;
}

/** A byte range whose content differs between the two disks, with who last wrote it. */
export interface StateRange {
  start: number;
  end: number;
  /** Entries of A that last wrote some of the range (at most 8; -1 for the base image). */
  a: number[];
  b: number[];
}

/** Options of `diffStates`. */
export interface StateDiffOptions {
  /** Image both disks start from (default: zeros). Bytes past its end are zeros. */
  base?: string;
}

/** What `diffStates` found. */
export interface StateDiff {
  identical: boolean;
  /** Bytes are compared in blocks of this size: the smaller of the two sector sizes. */
  granularity: number;
  ranges: StateRange[];
  differingBytes: number;
  /** Bytes known equal from the entries' data hashes, without reading them. */
  equalByHash: number;
  /** Bytes read from the logs (and base) and compared. */
  comparedByRead: number;
  /** The highest byte either disk's writes reach (the images' useful size). */
  extent: number;
  /** Entries applied in each log. */
  aUntil: number;
  bUntil: number;
}

const CHUNK = 1 << 20;
const MAX_WRITERS = 8;

/** Where a piece of a disk's content comes from. */
interface Source {
  log: LogFile | undefined;
  scan: LogScan;
}

/**
 * Compares the disks two logs leave, from their last-writer maps alone (no image is
 * written). The two maps are walked together, cutting at every boundary of either; each
 * piece is equal without a read when both sides are the same write (same place, length and
 * data hash), both discards, or both untouched; otherwise its bytes are read from the logs
 * and compared block by block, so two logs that wrote the same bytes through different
 * entries compare equal. Differing blocks are merged into byte ranges.
 */
export function diffStates(a: LogScan, ma: ScanState, b: LogScan, mb: ScanState, options: StateDiffOptions = {}): StateDiff {
  const g = Math.min(a.sectorSize, b.sectorSize);
  const base = options.base === undefined ? undefined : openBase(options.base);
  const logA = LogFile.openSync(a.path);
  const logB = LogFile.openSync(b.path);
  const result: StateDiff = {
    identical: true,
    granularity: g,
    ranges: [],
    differingBytes: 0,
    equalByHash: 0,
    comparedByRead: 0,
    extent: Math.max(ma.count > 0 ? ma.ends[ma.count - 1]! : 0, mb.count > 0 ? mb.ends[mb.count - 1]! : 0),
    aUntil: ma.until,
    bUntil: mb.until,
  };
  const bufA = new Uint8Array(CHUNK);
  const bufB = new Uint8Array(CHUNK);
  try {
    const srcA: Source = { log: logA, scan: a };
    const srcB: Source = { log: logB, scan: b };
    let ka = 0;
    let kb = 0;
    let pos = 0;
    for (;;) {
      // Advance past ranges that end at or before pos.
      while (ka < ma.count && ma.ends[ka]! <= pos) ka++;
      while (kb < mb.count && mb.ends[kb]! <= pos) kb++;
      if (ka >= ma.count && kb >= mb.count) break;
      const inA = ka < ma.count && ma.starts[ka]! <= pos;
      const inB = kb < mb.count && mb.starts[kb]! <= pos;
      if (!inA && !inB) {
        // Jump to the next range of either.
        pos = Math.min(ka < ma.count ? ma.starts[ka]! : Infinity, kb < mb.count ? mb.starts[kb]! : Infinity);
        continue;
      }
      const endA = inA ? ma.ends[ka]! : ka < ma.count ? ma.starts[ka]! : Infinity;
      const endB = inB ? mb.ends[kb]! : kb < mb.count ? mb.starts[kb]! : Infinity;
      const end = Math.min(endA, endB);
      const wa = inA ? ma.writers[ka]! : -1;
      const wb = inB ? mb.writers[kb]! : -1;
      comparePiece(result, pos, end, srcA, wa, srcB, wb, base, bufA, bufB, g);
      pos = end;
    }
  } finally {
    logA.close();
    logB.close();
    if (base !== undefined) closeSync(base.fd);
  }
  result.identical = result.ranges.length === 0;
  return result;
}

function comparePiece(
  out: StateDiff,
  start: number,
  end: number,
  A: Source,
  wa: number,
  B: Source,
  wb: number,
  base: Base | undefined,
  bufA: Uint8Array,
  bufB: Uint8Array,
  g: number,
): void {
  const len = end - start;
  const ka = wa >= 0 ? A.scan.kinds[wa] : -1;
  const kbk = wb >= 0 ? B.scan.kinds[wb] : -1;
  const sameWrite =
    ka === KIND.write &&
    kbk === KIND.write &&
    A.scan.offsets[wa] === B.scan.offsets[wb] &&
    A.scan.lengths[wa] === B.scan.lengths[wb] &&
    A.scan.hashes[2 * wa] === B.scan.hashes[2 * wb] &&
    A.scan.hashes[2 * wa + 1] === B.scan.hashes[2 * wb + 1];
  const bothZero = (ka === KIND.discard || (wa < 0 && base === undefined)) && (kbk === KIND.discard || (wb < 0 && base === undefined));
  if (sameWrite || bothZero || (wa < 0 && wb < 0)) {
    out.equalByHash += len;
    return;
  }
  for (let p = start; p < end; p += CHUNK) {
    const n = Math.min(CHUNK, end - p);
    const va = fill(bufA, n, p, A, wa, base);
    const vb = fill(bufB, n, p, B, wb, base);
    out.comparedByRead += n;
    if (Buffer.compare(va, vb) === 0) continue;
    for (let o = 0; o < n; o += g) {
      const m = Math.min(g, n - o);
      if (Buffer.compare(va.subarray(o, o + m), vb.subarray(o, o + m)) !== 0) addRange(out, p + o, p + o + m, wa, wb);
    }
  }
}

/** Fills `buf[0, n)` with disk bytes `[p, p+n)` of one side, whose last writer is `w`. */
function fill(buf: Uint8Array, n: number, p: number, src: Source, w: number, base: Base | undefined): Uint8Array {
  const view = buf.subarray(0, n);
  if (w < 0) {
    if (base === undefined) view.fill(0);
    else base.read(view, p);
    return view;
  }
  if (src.scan.kinds[w] === KIND.discard) {
    view.fill(0);
    return view;
  }
  const at = src.scan.headers[w]! + src.scan.sectorSize + (p - src.scan.offsets[w]!);
  src.log!.readAt(view, at, n);
  return view;
}

function addRange(out: StateDiff, start: number, end: number, wa: number, wb: number): void {
  out.differingBytes += end - start;
  const last = out.ranges[out.ranges.length - 1];
  if (last !== undefined && last.end === start) {
    last.end = end;
    if (!last.a.includes(wa) && last.a.length < MAX_WRITERS) last.a.push(wa);
    if (!last.b.includes(wb) && last.b.length < MAX_WRITERS) last.b.push(wb);
    return;
  }
  out.ranges.push({ start, end, a: [wa], b: [wb] });
}

interface Base {
  fd: number;
  size: number;
  read(view: Uint8Array, position: number): void;
}

/** The base image, read at checked number positions; bytes past its end read as zeros. */
function openBase(path: string): Base {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw ioError(err, path, "open the base image");
  }
  const size = fstatSync(fd).size;
  return {
    fd,
    size,
    read(view, position) {
      view.fill(0);
      const n = Math.max(0, Math.min(view.length, size - position));
      let done = 0;
      while (done < n) {
        const got = readSync(fd, view, done, n - done, position + done);
        if (got === 0) throw new LogRangeError(ErrorCodes.IO, `base image shrank while reading at ${position + done}`, { file: path });
        done += got;
      }
    },
  };
}
