/**
 * A small deterministic pseudo-random generator (xoshiro128**, seeded through splitmix32).
 * Crash-state ids of format version 1 store generator seeds, so this exact sequence is part of
 * that format: never change it; a new generator needs a new id version.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A number in `[0, 1)` with 32 random bits. */
  nextFloat(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** A whole number in `[0, n)` for `n` ≤ 2^32 (multiply-shift: unbiased enough for sampling). */
  below(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A 32-bit seed derived from a run's seed and a crash point's position (so each point samples on its own). */
export function pointSeed(seed: number, position: number): number {
  let h = (seed >>> 0) ^ 0x63726173;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = (h ^ (position % 0x1_0000_0000)) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ Math.floor(position / 0x1_0000_0000)) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
