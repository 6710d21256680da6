import { lcs } from "fast-myers-diff";
import type { ScanMark } from "./scan.js";

/** A mark present in both logs: the entry index of that mark in each. */
export interface Anchor {
  name: string;
  a: number;
  b: number;
}

/**
 * The marks the two logs share, paired in order: the longest common subsequence of the two
 * sequences of mark names (Myers). A name used several times pairs its occurrences one to
 * one, in order; where several pairings are equally long, Myers picks one. Occurrences left
 * over (a mark only one log has, or repeats more often) stay unpaired and show up as added
 * or removed entries, and so does a mark whose pairing would cross another pair: anchors
 * must increase in both logs.
 */
export function pairMarks(a: readonly ScanMark[], b: readonly ScanMark[]): Anchor[] {
  const out: Anchor[] = [];
  // fast-myers-diff's lcs compares index -1 when a side is empty: nothing to pair anyway.
  if (a.length === 0 || b.length === 0) return out;
  for (const [sx, sy, l] of lcs(a, b, (i, j) => a[i]!.name === b[j]!.name)) {
    for (let k = 0; k < l; k++) out.push({ name: a[sx + k]!.name, a: a[sx + k]!.index, b: b[sy + k]!.index });
  }
  return out;
}
