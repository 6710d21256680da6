import fc from "fast-check";
import { native } from "@lwlog/native";
import { randomBytes } from "@lwlog/testkit";
import xxhash from "xxhash-wasm";
import { describe, expect, it } from "vitest";
import { loadHasher, type HashImpl } from "./hash.js";
import { Xxh64, xxh64Into } from "./xxh64.js";

const SEEDS = [0n, 1n, 0x6d61726bn, 0x80000000n, 0xffffffffn, 2n ** 32n, 0x9e3779b185ebca87n, 2n ** 63n, 2n ** 64n - 1n];

function js(data: Uint8Array, seed: bigint): bigint {
  const out = new Uint32Array(2);
  xxh64Into(data, Number(seed & 0xffffffffn), Number(seed >> 32n), out, 0);
  return (BigInt(out[1]!) << 32n) | BigInt(out[0]!);
}

describe("XXH64 in JavaScript", () => {
  it("gives the xxHash specification's values (the reference vectors)", () => {
    // From xxHash's own test suite (the spec's sanity values for the empty input and "a"...).
    expect(js(new Uint8Array(0), 0n)).toBe(0xef46db3751d8e999n);
    expect(js(new TextEncoder().encode("a"), 0n)).toBe(0xd24ec4f1a98c6e5bn);
    expect(js(new TextEncoder().encode("abc"), 0n)).toBe(0x44bc2cf5ad770999n);
    expect(js(new TextEncoder().encode("xxhash"), 0n)).toBe(0x32dd38952c4bc720n);
  });

  it("equals xxhash-wasm and the addon's C at every length to 300 bytes and with every kind of seed", async () => {
    const { h64Raw } = await xxhash();
    const c = native.xxh64Into;
    if (process.env.CI === "true") expect(c, "CI builds the addon").toBeDefined();
    const out = new Uint32Array(2);
    for (let n = 0; n <= 300; n++) {
      const data = randomBytes(n, n + 1);
      for (const seed of SEEDS) {
        const want = h64Raw(data, seed);
        expect(js(data, seed), `length ${n}, seed ${seed}`).toBe(want);
        if (c !== undefined) {
          c(data, Number(seed & 0xffffffffn), Number(seed >> 32n), out, 0);
          expect((BigInt(out[1]!) << 32n) | BigInt(out[0]!)).toBe(want);
        }
      }
    }
  });

  it("streams: any split of the data into pieces gives the one-shot value", async () => {
    const { h64Raw } = await xxhash();
    const data = randomBytes(5000, 42);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 5000 }), { maxLength: 12 }), fc.constantFrom(...SEEDS), fc.nat({ max: 5000 }), (cuts, seed, n) => {
        const bytes = data.subarray(0, n);
        const at = [...new Set(cuts.map((x) => x % (n + 1)))].sort((x, y) => x - y);
        const h = new Xxh64(Number(seed & 0xffffffffn), Number(seed >> 32n));
        let from = 0;
        for (const to of [...at, n]) {
          h.update(bytes.subarray(from, to));
          from = to;
        }
        const out = new Uint32Array(4);
        h.digestInto(out, 1);
        expect((BigInt(out[3]!) << 32n) | BigInt(out[2]!)).toBe(h64Raw(bytes, seed));
        expect(out[0]).toBe(0);
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  it("a hasher of each kind gives the same values, whole and streamed (a 9 MiB piece in 4 MiB chunks)", async () => {
    const big = randomBytes(9 << 20, 5);
    const small = randomBytes(4096, 6);
    const values: Record<string, number[]> = {};
    for (const prefer of ["native", "wasm", "js"] as HashImpl[]) {
      const h = await loadHasher(prefer);
      if (prefer !== "native") expect(h.impl).toBe(prefer);
      const out = new Uint32Array(6);
      h.hashInto(small, out, 0);
      h.hashInto(small, out, 1, 0x6d61726bn);
      const s = await h.stream();
      for (let i = 0; i < big.length; i += 4 << 20) s.update(big.subarray(i, i + (4 << 20)));
      s.digestInto(out, 2);
      values[prefer] = Array.from(out);
    }
    expect(values.js).toEqual(values.wasm);
    expect(values.native).toEqual(values.wasm);
  });
});
