import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { LogFile, LogRangeError, ErrorCodes, ioError, missingMarkHint } from "@lwlog/codec/core";
import { KIND, type LogScan } from "./scan.js";

/**
 * The state of a disk after a prefix of a log, as an interval map: sorted, disjoint byte
 * ranges `[starts[k], ends[k])`, each with the entry that last wrote it (`writers[k]`). A
 * write's bytes come from its data; a discard's are zeros. Bytes in no range hold the base
 * image (zeros unless told otherwise).
 */
export interface StateMap {
  starts: Float64Array;
  ends: Float64Array;
  writers: Int32Array;
  /** Ranges in the map. */
  count: number;
  /** Entries `[0, until)` were applied. */
  until: number;
}

/**
 * Builds the last-writer map of entries `[0, until)` of a scan with one sweep over the
 * writes and discards sorted by start: a max-heap of the entries covering the sweep
 * position (keyed by entry index, stale ones dropped lazily) says which one wrote last.
 * O(n log n) time, O(n) memory, exact in bytes for any overlap.
 */
export function lastWriters(s: LogScan, until = s.count): StateMap {
  let n = 0;
  for (let i = 0; i < until; i++) {
    const k = s.kinds[i];
    if ((k === KIND.write || k === KIND.discard) && s.lengths[i]! > 0) n++;
  }
  const ids = new Uint32Array(n);
  n = 0;
  for (let i = 0; i < until; i++) {
    const k = s.kinds[i];
    if ((k === KIND.write || k === KIND.discard) && s.lengths[i]! > 0) ids[n++] = i;
  }
  const byStart = sortByOffset(ids, s.offsets);
  const offsets = s.offsets;
  const lengths = s.lengths;
  const heap = new MaxHeap();
  // At most one range starts at each start or end of an entry.
  const starts = new Float64Array(2 * n + 1);
  const ends = new Float64Array(2 * n + 1);
  const writers = new Int32Array(2 * n + 1);
  let count = 0;
  let cur = -1;
  let curStart = 0;
  let next = 0;
  for (;;) {
    const nextStart = next < n ? offsets[byStart[next]!]! : Infinity;
    let top = heap.size > 0 ? heap.top() : -1;
    const topEnd = top >= 0 ? offsets[top]! + lengths[top]! : Infinity;
    const p = nextStart < topEnd ? nextStart : topEnd;
    if (p === Infinity) break;
    while (next < n && offsets[byStart[next]!] === p) heap.push(byStart[next++]!);
    for (top = heap.size > 0 ? heap.top() : -1; top >= 0 && offsets[top]! + lengths[top]! <= p; top = heap.size > 0 ? heap.top() : -1) heap.pop();
    const w = heap.size > 0 ? heap.top() : -1;
    if (w !== cur) {
      if (cur >= 0 && p > curStart) {
        starts[count] = curStart;
        ends[count] = p;
        writers[count] = cur;
        count++;
      }
      cur = w;
      curStart = p;
    }
  }
  return { starts: starts.subarray(0, count), ends: ends.subarray(0, count), writers: writers.subarray(0, count), count, until };
}

/**
 * `ids` ordered by `offsets[id]`, ties in id order: a stable LSD radix sort on the offsets
 * (whole numbers below 2^53) in 16-bit digits, as many as the largest offset needs, with the
 * keys moved along with the ids so that every pass reads them in order. Linear, where a
 * comparison sort of a million entries takes most of a second.
 */
function sortByOffset(ids: Uint32Array, offsets: Float64Array): Uint32Array {
  const n = ids.length;
  let src: Uint32Array = ids;
  let dst: Uint32Array = new Uint32Array(n);
  let keys = new Float64Array(n);
  let keysDst = new Float64Array(n);
  let max = 0;
  for (let j = 0; j < n; j++) {
    const k = offsets[ids[j]!]!;
    keys[j] = k;
    if (k > max) max = k;
  }
  const counts = new Uint32Array(65537);
  // Digit d of a whole number k < 2^53: ToUint32 takes k modulo 2^32 for the low two.
  const digit = (k: number, d: number) => (d === 0 ? k & 0xffff : d === 1 ? (k >>> 16) & 0xffff : d === 2 ? (k / 4294967296) & 0xffff : (k / 281474976710656) & 0xffff);
  for (let d = 0, scale = 1; d < 4 && scale <= max; d++, scale *= 65536) {
    counts.fill(0);
    for (let j = 0; j < n; j++) counts[digit(keys[j]!, d) + 1]!++;
    for (let c = 1; c <= 65536; c++) counts[c]! += counts[c - 1]!;
    for (let j = 0; j < n; j++) {
      const at = counts[digit(keys[j]!, d)]!++;
      dst[at] = src[j]!;
      keysDst[at] = keys[j]!;
    }
    [src, dst] = [dst, src];
    [keys, keysDst] = [keysDst, keys];
  }
  return src;
}

/** A max-heap of entry indexes. */
class MaxHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  top(): number {
    return this.a[0]!;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! >= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): void {
    const a = this.a;
    const last = a.pop()!;
    if (a.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && a[r]! > a[l]! ? r : l;
      if (a[c]! <= last) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
  }
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
    throw new LogRangeError("LWLOG_NO_SUCH_MARK", `no mark named ${JSON.stringify(mark)}${missingMarkHint(mark, s.marks.map((x) => x.name))}`, {
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
export function diffStates(a: LogScan, ma: StateMap, b: LogScan, mb: StateMap, options: StateDiffOptions = {}): StateDiff {
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
