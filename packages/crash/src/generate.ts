import { Prng } from "./prng.js";
import { tearRuns, type CrashState, type Tear } from "./state.js";

/**
 * The shape of a point's state space: for each candidate, the units a torn state chooses
 * from (its sectors for a write, 1 for a discard, which is dropped or kept whole), and
 * whether tears are allowed. Without tears a state is a subset of the candidates; with them,
 * a subset of all the candidates' units (a write whose units are all kept is kept, all lost
 * dropped, some of each torn).
 */
export interface StateShape {
  units: ArrayLike<number>;
  torn: boolean;
}

/** log2 of the number of states of a point (the candidates, or with tears all their units). */
export function spaceBits(shape: StateShape): number {
  if (!shape.torn) return shape.units.length;
  let bits = 0;
  for (let j = 0; j < shape.units.length; j++) bits += shape.units[j]!;
  return bits;
}

/** The number of states of a point, when it is below 2^53; else `Infinity`. */
export function spaceSize(shape: StateShape): number {
  const bits = spaceBits(shape);
  return bits < 53 ? 2 ** bits : Infinity;
}

/**
 * State number `k` of a point's exhaustive enumeration (`0 ≤ k < spaceSize`): bit `j` of `k`
 * set means candidate `j` dropped (with tears: unit `j` of the candidates' units laid end to
 * end lost). State 0 is the prefix state.
 */
export function exhaustiveState(position: number, shape: StateShape, k: number): CrashState {
  const dropped: number[] = [];
  const torn: Tear[] = [];
  let bit = 0;
  const isSet = (b: number) => Math.floor(k / 2 ** b) % 2 === 1;
  for (let j = 0; j < shape.units.length; j++) {
    const n = shape.torn ? shape.units[j]! : 1;
    const first = bit;
    bit += n;
    let lost = 0;
    for (let b = first; b < first + n; b++) if (isSet(b)) lost++;
    if (lost === 0) continue;
    if (lost === n) {
      dropped.push(j);
      continue;
    }
    torn.push({ ordinal: j, runs: tearRuns(n, (s) => isSet(first + s))! });
  }
  return { position, dropped, torn };
}

/**
 * Generator 1: the state a 32-bit `seed` stands for at a point (ids store the seed instead of
 * the sets). A drop rate `r` in (0, 1] is drawn first, then each candidate in order is
 * dropped with probability `r`; with tears a kept write of two or more sectors is then torn
 * with probability `r`, its tear being 1 to 3 cuts at random sector boundaries, the runs
 * between them alternately kept and lost. Drawing the rate first spreads states between
 * "almost everything kept" and "almost everything lost". This sequence is part of id format
 * version 1: never change it.
 */
export function generatedState(position: number, shape: StateShape, seed: number): CrashState {
  const rng = new Prng(seed);
  const rate = (rng.nextU32() + 1) / 0x1_0000_0000;
  const dropped: number[] = [];
  const torn: Tear[] = [];
  for (let j = 0; j < shape.units.length; j++) {
    if (rng.nextFloat() < rate) {
      dropped.push(j);
      continue;
    }
    const n = shape.units[j]!;
    if (shape.torn && n >= 2 && rng.nextFloat() < rate) torn.push({ ordinal: j, runs: randomTear(rng, n) });
  }
  return { position, dropped, torn };
}

/** 1 to 3 distinct cuts in `[1, n)`, runs alternating from a random start. */
function randomTear(rng: Prng, n: number): number[] {
  const cuts = 1 + rng.below(Math.min(3, n - 1));
  const at = new Set<number>();
  while (at.size < cuts) at.add(1 + rng.below(n - 1));
  const sorted = [...at].sort((a, b) => a - b);
  const startKept = rng.below(2) === 0;
  const runs: number[] = startKept ? [] : [0];
  let prev = 0;
  for (const c of sorted) {
    runs.push(c - prev);
    prev = c;
  }
  runs.push(n - prev);
  return runs;
}
