import { LogFile, LogFlags } from "@lwlog/codec/core";

/** Entry kinds as numbers, the same codes as `@lwlog/diff`'s scans. */
export const PLOT_KIND = { write: 0, discard: 1, flush: 2, mark: 3, noop: 4 } as const;

/**
 * One log to draw, in columns: where each entry sits on the time axis (`x`), what it is,
 * where it lands on the device and how long it is (bytes), its flags, and optionally whether
 * it differs from the other log of a diff.
 */
export interface PlotSeries {
  /** Shown as the row's title. */
  label: string;
  count: number;
  /** Place on the time axis: the entry index, or its aligned position in a diff. */
  x: Float64Array;
  kinds: Uint8Array;
  /** Target byte offset and length. */
  offsets: Float64Array;
  lengths: Float64Array;
  /** Low 32 bits of the flags (FLUSH, FUA, DISCARD, MARK, METADATA live there). */
  flagsLo: Uint32Array;
  /** 1 where the entry differs from the other log (diff plots only). */
  differs?: Uint8Array;
  /** 1 where a minimal failing crash state drops or tears the entry (crash campaign plots only). */
  lost?: Uint8Array;
  marks: readonly { name: string; index: number }[];
}

/** Options of `readPlotSeries`. */
export interface ReadSeriesOptions {
  /** Read the valid entries past the declared count too (default false). */
  tail?: boolean;
  label?: string;
}

/**
 * Reads a log's headers into a `PlotSeries` (x = entry index). Data is not read beyond
 * what the codec's window brings in with the headers.
 */
export async function readPlotSeries(path: string, options: ReadSeriesOptions = {}): Promise<PlotSeries> {
  const log = await LogFile.open(path);
  try {
    const S = log.sectorSize;
    let cap = 1024;
    let kinds = new Uint8Array(cap);
    let offsets = new Float64Array(cap);
    let lengths = new Float64Array(cap);
    let flagsLo = new Uint32Array(cap);
    const marks: { name: string; index: number }[] = [];
    const cursor = log.cursor({ tail: options.tail ?? false });
    let n = 0;
    for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
      if (n === cap) {
        cap *= 2;
        kinds = grow(kinds, cap);
        offsets = grow(offsets, cap);
        lengths = grow(lengths, cap);
        flagsLo = grow(flagsLo, cap);
      }
      kinds[n] = PLOT_KIND[e.kind];
      // A plot only needs doubles: a position past 2^53 is drawn where it rounds to.
      offsets[n] = Number(e.sector) * S;
      lengths[n] = Number(e.nrSectors) * S;
      flagsLo[n] = Number(e.flags & 0xffffffffn);
      if (e.kind === "mark") marks.push({ name: e.mark!, index: n });
      n += 1;
    }
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = i;
    return {
      label: options.label ?? path,
      count: n,
      x,
      kinds: kinds.subarray(0, n),
      offsets: offsets.subarray(0, n),
      lengths: lengths.subarray(0, n),
      flagsLo: flagsLo.subarray(0, n),
      marks,
    };
  } finally {
    log.close();
  }
}

function grow<T extends Uint8Array | Uint32Array | Float64Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  new Uint8Array(b.buffer).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return b;
}

export const FLUSH_BIT = Number(LogFlags.FLUSH);
export const FUA_BIT = Number(LogFlags.FUA);
