/**
 * Disjoint byte ranges, each labelled with a small integer: which parts of an export an
 * overlay holds, and how (see `OverlayBackend`).
 *
 * Invariants: `starts`, `ends` and `labels` have one element per range; ranges are sorted
 * by start, non-empty (`start < end`) and disjoint; two ranges that touch never carry the
 * same label (they are merged). Every position is a safe non-negative integer.
 */
export class RangeMap {
  private starts: number[] = [];
  private ends: number[] = [];
  private labels: number[] = [];

  /** Number of ranges. */
  get count(): number {
    return this.starts.length;
  }

  /** Bytes covered by ranges. */
  get covered(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i]! - this.starts[i]!;
    return n;
  }

  /** Labels `[start, end)` with `label`, replacing whatever covered it. */
  set(start: number, end: number, label: number): void {
    if (end <= start) return;
    // First range that ends after `start` (it may start before it), and first that starts at or after `end`.
    let lo = this.firstEndingAfter(start);
    let hi = this.firstStartingAtOrAfter(end, lo);
    let newStart = start;
    let newEnd = end;
    const pieces: [number, number, number][] = [];
    if (lo < hi && this.starts[lo]! < start) {
      if (this.labels[lo] === label) newStart = this.starts[lo]!;
      else pieces.push([this.starts[lo]!, start, this.labels[lo]!]);
    }
    if (lo < hi && this.ends[hi - 1]! > end) {
      if (this.labels[hi - 1] === label) newEnd = this.ends[hi - 1]!;
      else pieces.push([end, this.ends[hi - 1]!, this.labels[hi - 1]!]);
    }
    // Neighbours that touch the new range and carry its label merge into it.
    if (lo > 0 && this.ends[lo - 1] === newStart && this.labels[lo - 1] === label) {
      lo -= 1;
      newStart = this.starts[lo]!;
    }
    if (hi < this.starts.length && this.starts[hi] === newEnd && this.labels[hi] === label) {
      newEnd = this.ends[hi]!;
      hi += 1;
    }
    const before = pieces.filter((p) => p[0] < newStart);
    const after = pieces.filter((p) => p[0] >= newEnd);
    const insert = [...before, [newStart, newEnd, label] as [number, number, number], ...after];
    this.starts.splice(lo, hi - lo, ...insert.map((p) => p[0]));
    this.ends.splice(lo, hi - lo, ...insert.map((p) => p[1]));
    this.labels.splice(lo, hi - lo, ...insert.map((p) => p[2]));
  }

  /**
   * Splits `[start, end)` into consecutive pieces, in order: each either inside one range
   * (`label` is its label) or in a gap between ranges (`label` undefined).
   */
  *segments(start: number, end: number): Generator<{ start: number; end: number; label: number | undefined }> {
    let at = start;
    for (let i = this.firstEndingAfter(start); at < end; i++) {
      const rs = i < this.starts.length ? this.starts[i]! : Infinity;
      if (rs > at) {
        const gapEnd = Math.min(rs, end);
        yield { start: at, end: gapEnd, label: undefined };
        at = gapEnd;
        if (at >= end) break;
      }
      const re = Math.min(this.ends[i]!, end);
      yield { start: at, end: re, label: this.labels[i]! };
      at = re;
    }
  }

  /** The ranges, in order (for tests and reports). */
  entries(): { start: number; end: number; label: number }[] {
    return this.starts.map((s, i) => ({ start: s, end: this.ends[i]!, label: this.labels[i]! }));
  }

  private firstEndingAfter(pos: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private firstStartingAtOrAfter(pos: number, from: number): number {
    let lo = from;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
