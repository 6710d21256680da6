import { LogFlags } from "@lwlog/codec/core";
import { KIND, compareEntries, type LogScan } from "./scan.js";

const FLUSH_BIT = Number(LogFlags.FLUSH);

/** True when entry `i` closes a flush epoch: any entry with the FLUSH bit, and every mark. */
export function isEpochBoundary(s: LogScan, i: number): boolean {
  return (s.flagsLo[i]! & FLUSH_BIT) !== 0 || s.kinds[i] === KIND.mark;
}

/**
 * The entries of a log in canonical epoch order: boundaries (flushes and marks) stay where
 * they are, and the entries between two boundaries are sorted by signature, so two epochs
 * that hold the same multiset of entries become the same sequence whatever the order the
 * kernel logged them in. Position `p` of the result is entry `order[p]`; a boundary's
 * position is its own index.
 *
 * Marks close an epoch too: they are the anchors, and the kernel logs a mark as soon as it
 * is sent, so its place among the writes is meaningful.
 */
export function epochOrder(s: LogScan): Uint32Array {
  const order = new Uint32Array(s.count);
  for (let i = 0; i < s.count; i++) order[i] = i;
  const cmp = (x: number, y: number) => compareEntries(s, x, y);
  let start = 0;
  for (let i = 0; i <= s.count; i++) {
    if (i === s.count || isEpochBoundary(s, i)) {
      if (i - start > 1) order.subarray(start, i).sort(cmp);
      start = i + 1;
    }
  }
  return order;
}
