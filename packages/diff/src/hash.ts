import { native } from "@lwlog/native";
import xxhash, { type XXHashAPI } from "xxhash-wasm";

let api: XXHashAPI | undefined;

/**
 * The XXH64 functions of xxhash-wasm, loaded once. XXH64 rather than sha256 (~1 GB/s with
 * SHA-NI on 4 KiB inputs): hashing is most of a diff's time, and the hash only has to tell
 * two blocks of one workload apart, not resist an adversary (2^-64 per compared pair).
 */
export async function loadHasher(): Promise<XXHashAPI> {
  api ??= await xxhash();
  return api;
}

/**
 * Writes the XXH64 of `data` (seed `seed`, default 0) into `out[2·index]` (low 32 bits) and
 * `out[2·index + 1]` (high). The same value either way: compiled C from `@lwlog/native` where
 * it is built (it hashes the bytes where they lie, with no copy into WebAssembly memory and no
 * bigint a call), else xxhash-wasm. Alone, the C hash of 4 KiB pieces ran 1.5–1.9× as fast;
 * a whole diff, whose time is mostly reading, measured the same either way.
 */
export type HashInto = (data: Uint8Array, out: Uint32Array, index: number, seed?: bigint) => void;

/** The `HashInto` to use: the addon's, or one over xxhash-wasm (`wasm: true` forces it, for tests). */
export async function loadHashInto(options: { wasm?: boolean } = {}): Promise<HashInto> {
  const c = options.wasm ? undefined : native.xxh64Into;
  if (c !== undefined) {
    return (data, out, index, seed) =>
      seed === undefined ? c(data, 0, 0, out, index) : c(data, Number(seed & 0xffffffffn), Number(seed >> 32n), out, index);
  }
  const { h64Raw } = await loadHasher();
  return (data, out, index, seed) => {
    const h = h64Raw(data, seed);
    out[2 * index] = Number(h & 0xffffffffn);
    out[2 * index + 1] = Number(h >> 32n);
  };
}

/** Seed of mark-name hashes, so a mark never hashes like a write of the same bytes. */
export const MARK_SEED = 0x6d61726bn;

/** A 64-bit hash as 16 hex digits. */
export function hashHex(lo: number, hi: number): string {
  return (hi >>> 0).toString(16).padStart(8, "0") + (lo >>> 0).toString(16).padStart(8, "0");
}
