import xxhash, { type XXHashAPI } from "xxhash-wasm";

let api: XXHashAPI | undefined;

/**
 * The XXH64 functions, loaded once. XXH64 (WebAssembly, ~7 GB/s here) rather than sha256
 * (~1 GB/s with SHA-NI on 4 KiB inputs): hashing is most of a diff's time, and the hash only
 * has to tell two blocks of one workload apart, not resist an adversary (2^-64 per compared pair).
 */
export async function loadHasher(): Promise<XXHashAPI> {
  api ??= await xxhash();
  return api;
}

/** Seed of mark-name hashes, so a mark never hashes like a write of the same bytes. */
export const MARK_SEED = 0x6d61726bn;

/** A 64-bit hash as 16 hex digits. */
export function hashHex(lo: number, hi: number): string {
  return (hi >>> 0).toString(16).padStart(8, "0") + (lo >>> 0).toString(16).padStart(8, "0");
}
