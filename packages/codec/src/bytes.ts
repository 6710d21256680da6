/** A `DataView` over exactly the bytes of `array`, whatever its `byteOffset` in its buffer. */
export function viewOf(array: Uint8Array): DataView {
  return new DataView(array.buffer, array.byteOffset, array.byteLength);
}

/** Index of the first non-zero byte of `array` in `[from, to)`, or -1 when all are zero. */
export function firstNonZero(array: Uint8Array, from = 0, to = array.length): number {
  let i = from;
  // Eight bytes at a time while aligned: header blocks are up to 8 MiB of zeros.
  if (to - from >= 64) {
    while (i < to && (array.byteOffset + i) % 8 !== 0) {
      if (array[i] !== 0) return i;
      i += 1;
    }
    const words = new BigUint64Array(array.buffer, array.byteOffset + i, Math.floor((to - i) / 8));
    for (let w = 0; w < words.length; w++) {
      if (words[w] !== 0n) {
        const base = i + w * 8;
        for (let j = base; j < base + 8; j++) if (array[j] !== 0) return j;
      }
    }
    i += words.length * 8;
  }
  for (; i < to; i++) if (array[i] !== 0) return i;
  return -1;
}

/** Lower-case hex of some bytes. */
export function toHex(array: Uint8Array): string {
  let s = "";
  for (const b of array) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Bytes from a hex string (whitespace ignored). */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new RangeError("not a hex string");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}
