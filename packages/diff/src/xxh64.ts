/**
 * XXH64 in plain JavaScript, as the xxHash specification (doc/xxhash_spec.md) defines it: the
 * same values as the addon's C and as xxhash-wasm. It needs no WebAssembly memory, whose
 * instantiation reserves ~10 GiB of address space and so fails under any `ulimit -v`; it is
 * what diff hashes with when neither the addon nor WebAssembly is there.
 *
 * 64-bit words are pairs of 32-bit numbers (high, low): no bigint a step. Results of the
 * helpers come back through `H` and `L` rather than in a new array, and are kept as int32 (`| 0`,
 * not `>>> 0`): a value past 2^31 would be a boxed double there, one allocation a step (4× slower).
 */

// The five primes, as (high, low) halves (int32, see above).
const P1H = 0x9e3779b1 | 0, P1L = 0x85ebca87 | 0;
const P2H = 0xc2b2ae3d | 0, P2L = 0x27d4eb4f | 0;
const P3H = 0x165667b1 | 0, P3L = 0x9e3779f9 | 0;
const P4H = 0x85ebca77 | 0, P4L = 0xc2b2ae63 | 0;
const P5H = 0x27d4eb2f | 0, P5L = 0x165667c5 | 0;
// 2^64 − P1, so that seed − P1 is an addition (P1's low half is not 0: no borrow).
const NEG_P1H = ~P1H, NEG_P1L = (~P1L + 1) | 0;

const TWO32 = 4294967296;

let H = 0;
let L = 0;

/** (ah, al) × (bh, bl) mod 2^64 into (H, L). */
function mul(ah: number, al: number, bh: number, bl: number): void {
  // The high half of al × bl from 16-bit pieces (Hacker's Delight's mulhu): every partial
  // sum stays below 2^32, so it is exact and `>>>` applies.
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const t = a1 * b0 + ((a0 * b0) >>> 16);
  const w1 = (t & 0xffff) + a0 * b1;
  L = Math.imul(al, bl);
  H = (a1 * b1 + (t >>> 16) + (w1 >>> 16) + Math.imul(ah, bl) + Math.imul(al, bh)) | 0;
}

/** (ah, al) + (bh, bl) mod 2^64 into (H, L). */
function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0);
  L = lo | 0;
  H = (ah + bh + (lo >= TWO32 ? 1 : 0)) | 0;
}

/** (h, l) rotated left by `r` bits (0 < r < 32) into (H, L). */
function rotl(h: number, l: number, r: number): void {
  H = (h << r) | (l >>> (32 - r));
  L = (l << r) | (h >>> (32 - r));
}

/** round(acc, input) = rotl(acc + input × P2, 31) × P1, into (H, L). */
function round(ah: number, al: number, ih: number, il: number): void {
  mul(ih, il, P2H, P2L);
  add(ah, al, H, L);
  rotl(H, L, 31);
  mul(H, L, P1H, P1L);
}

/** The little-endian u32 at `p[i]` (as an int32, as every word here). */
function u32(p: Uint8Array, i: number): number {
  return p[i]! | (p[i + 1]! << 8) | (p[i + 2]! << 16) | (p[i + 3]! << 24);
}

/**
 * A streaming XXH64: `update` with the data in as many pieces as it comes, then `digestInto`.
 *
 * Invariants: `v` holds the four lane accumulators (high, low pairs) over the first
 * `total − buffered` bytes, a multiple of 32; `buf[0, buffered)` holds the bytes after them
 * (fewer than 32); `total` counts every byte given to `update`.
 */
export class Xxh64 {
  private readonly v = new Uint32Array(8);
  private readonly buf = new Uint8Array(32);
  private buffered = 0;
  private total = 0;
  private seedH = 0;
  private seedL = 0;

  /** A hasher with the seed `seedHi·2^32 + seedLo`. */
  constructor(seedLo = 0, seedHi = 0) {
    this.reset(seedLo, seedHi);
  }

  /** Starts over with the seed `seedHi·2^32 + seedLo`. */
  reset(seedLo = 0, seedHi = 0): this {
    const sh = seedHi >>> 0;
    const sl = seedLo >>> 0;
    const v = this.v;
    add(sh, sl, P1H, P1L);
    add(H, L, P2H, P2L);
    v[0] = H;
    v[1] = L;
    add(sh, sl, P2H, P2L);
    v[2] = H;
    v[3] = L;
    v[4] = sh;
    v[5] = sl;
    add(sh, sl, NEG_P1H, NEG_P1L);
    v[6] = H;
    v[7] = L;
    this.buffered = 0;
    this.total = 0;
    this.seedH = sh;
    this.seedL = sl;
    return this;
  }

  /** Adds `data` to what is hashed. */
  update(data: Uint8Array): this {
    let i = 0;
    const n = data.length;
    this.total += n;
    if (this.buffered > 0) {
      const take = Math.min(32 - this.buffered, n);
      this.buf.set(data.subarray(0, take), this.buffered);
      this.buffered += take;
      i = take;
      if (this.buffered < 32) return this;
      this.stripes(this.buf, 0, 32);
      this.buffered = 0;
    }
    const whole = i + Math.floor((n - i) / 32) * 32;
    if (whole > i) this.stripes(data, i, whole);
    if (whole < n) {
      this.buf.set(data.subarray(whole), 0);
      this.buffered = n - whole;
    }
    return this;
  }

  /** Runs the four lanes over the 32-byte stripes of `p[from, to)` (`to − from` a multiple of 32). */
  private stripes(p: Uint8Array, from: number, to: number): void {
    const v = this.v;
    let v1h = v[0]!, v1l = v[1]!, v2h = v[2]!, v2l = v[3]!, v3h = v[4]!, v3l = v[5]!, v4h = v[6]!, v4l = v[7]!;
    for (let i = from; i < to; i += 32) {
      round(v1h, v1l, u32(p, i + 4), u32(p, i));
      v1h = H;
      v1l = L;
      round(v2h, v2l, u32(p, i + 12), u32(p, i + 8));
      v2h = H;
      v2l = L;
      round(v3h, v3l, u32(p, i + 20), u32(p, i + 16));
      v3h = H;
      v3l = L;
      round(v4h, v4l, u32(p, i + 28), u32(p, i + 24));
      v4h = H;
      v4l = L;
    }
    v[0] = v1h;
    v[1] = v1l;
    v[2] = v2h;
    v[3] = v2l;
    v[4] = v3h;
    v[5] = v3l;
    v[6] = v4h;
    v[7] = v4l;
  }

  /** Writes the hash of everything given so far to `out[2·index]` (low 32 bits) and `out[2·index + 1]` (high). */
  digestInto(out: Uint32Array, index: number): void {
    const v = this.v;
    let hh: number, hl: number;
    if (this.total >= 32) {
      rotl(v[0]!, v[1]!, 1);
      let ah = H, al = L;
      rotl(v[2]!, v[3]!, 7);
      add(ah, al, H, L);
      ah = H;
      al = L;
      rotl(v[4]!, v[5]!, 12);
      add(ah, al, H, L);
      ah = H;
      al = L;
      rotl(v[6]!, v[7]!, 18);
      add(ah, al, H, L);
      hh = H;
      hl = L;
      for (let k = 0; k < 8; k += 2) {
        // merge: (h ^ round(0, v)) × P1 + P4
        round(0, 0, v[k]!, v[k + 1]!);
        mul((hh ^ H) >>> 0, (hl ^ L) >>> 0, P1H, P1L);
        add(H, L, P4H, P4L);
        hh = H;
        hl = L;
      }
    } else {
      add(this.seedH, this.seedL, P5H, P5L);
      hh = H;
      hl = L;
    }
    add(hh, hl, Math.floor(this.total / TWO32) >>> 0, this.total >>> 0);
    hh = H;
    hl = L;
    const p = this.buf;
    const end = this.buffered;
    let i = 0;
    for (; i + 8 <= end; i += 8) {
      round(0, 0, u32(p, i + 4), u32(p, i));
      rotl((hh ^ H) >>> 0, (hl ^ L) >>> 0, 27);
      mul(H, L, P1H, P1L);
      add(H, L, P4H, P4L);
      hh = H;
      hl = L;
    }
    if (i + 4 <= end) {
      mul(0, u32(p, i), P1H, P1L);
      rotl((hh ^ H) >>> 0, (hl ^ L) >>> 0, 23);
      mul(H, L, P2H, P2L);
      add(H, L, P3H, P3L);
      hh = H;
      hl = L;
      i += 4;
    }
    for (; i < end; i++) {
      mul(0, p[i]!, P5H, P5L);
      rotl((hh ^ H) >>> 0, (hl ^ L) >>> 0, 11);
      mul(H, L, P1H, P1L);
      hh = H;
      hl = L;
    }
    // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32.
    hl = (hl ^ (hh >>> 1)) >>> 0;
    mul(hh, hl, P2H, P2L);
    hh = H;
    hl = (L ^ ((H << 3) | (L >>> 29))) >>> 0;
    hh = (hh ^ (hh >>> 29)) >>> 0;
    mul(hh, hl, P3H, P3L);
    out[2 * index] = (L ^ H) >>> 0;
    out[2 * index + 1] = H;
  }
}

const oneShot = new Xxh64();

/**
 * XXH64 of `data` with the seed `seedHi·2^32 + seedLo`, written to `out[2·index]` (low 32 bits)
 * and `out[2·index + 1]` (high): the signature of the addon's `xxh64Into`.
 */
export function xxh64Into(data: Uint8Array, seedLo: number, seedHi: number, out: Uint32Array, index: number): void {
  oneShot.reset(seedLo, seedHi).update(data).digestInto(out, index);
}
