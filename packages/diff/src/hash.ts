import { native } from "@lwlog/native";
import type { XXHashAPI } from "xxhash-wasm";
import { Xxh64, xxh64Into } from "./xxh64.js";

/**
 * Writes the XXH64 of `data` (seed `seed`, default 0) into `out[2·index]` (low 32 bits) and
 * `out[2·index + 1]` (high). XXH64 rather than sha256 (~1 GB/s with SHA-NI on 4 KiB inputs):
 * hashing is most of a diff's time, and the hash only has to tell two blocks of one workload
 * apart, not resist an adversary (2^-64 per compared pair).
 */
export type HashInto = (data: Uint8Array, out: Uint32Array, index: number, seed?: bigint) => void;

/** An XXH64 over data given in pieces (an entry too big to hash in one). */
export interface HashStream {
  update(data: Uint8Array): void;
  /** Writes the hash as `HashInto` does. */
  digestInto(out: Uint32Array, index: number): void;
}

/**
 * Which code computes XXH64; every one gives the same values. `native`: compiled C from
 * `@lwlog/native`, which hashes the bytes where they lie (alone 1.5–1.9× as fast as
 * WebAssembly on 4 KiB pieces; a whole diff, mostly reading, measured the same). `wasm`:
 * xxhash-wasm (3–7 GB/s). `js`: plain JavaScript (~0.25 GB/s), for where WebAssembly cannot
 * be instantiated: a WebAssembly memory reserves ~10 GiB of address space, so it fails under
 * any `ulimit -v` / `prlimit --as` below that.
 */
export type HashImpl = "native" | "wasm" | "js";

/** The hash functions a scan uses. */
export interface Hasher {
  /** What hashes whole pieces. */
  readonly impl: HashImpl;
  readonly hashInto: HashInto;
  /** A streaming hash (xxhash-wasm's, else the JavaScript one: the addon has none). */
  stream(): Promise<HashStream>;
}

let wasm: Promise<XXHashAPI | undefined> | undefined;

/**
 * xxhash-wasm, instantiated on first use; `undefined` when WebAssembly cannot be (the address
 * space is limited, or WebAssembly is disabled): callers fall back on the JavaScript hash.
 */
export function loadWasm(): Promise<XXHashAPI | undefined> {
  wasm ??= import("xxhash-wasm").then((m) => m.default()).catch(() => undefined);
  return wasm;
}

const LO = 0xffffffffn;

/**
 * The best hash functions here: the addon's when it is built, else xxhash-wasm's when it can be
 * instantiated, else the JavaScript ones; `prefer` asks for one (and falls back the same way
 * when it is not there), for tests.
 */
export async function loadHasher(prefer: HashImpl = "native"): Promise<Hasher> {
  const c = prefer === "native" ? native.xxh64Into : undefined;
  const api = c === undefined && prefer !== "js" ? await loadWasm() : undefined;
  const stream = async (): Promise<HashStream> => {
    const w = prefer === "js" ? undefined : await loadWasm();
    if (w === undefined) {
      const h = new Xxh64();
      return { update: (d) => void h.update(d), digestInto: (out, index) => h.digestInto(out, index) };
    }
    const h = w.create64();
    return {
      update: (d) => void h.update(d),
      digestInto(out, index) {
        const v = h.digest();
        out[2 * index] = Number(v & LO);
        out[2 * index + 1] = Number(v >> 32n);
      },
    };
  };
  if (c !== undefined) {
    return {
      impl: "native",
      hashInto: (data, out, index, seed) => (seed === undefined ? c(data, 0, 0, out, index) : c(data, Number(seed & LO), Number(seed >> 32n), out, index)),
      stream,
    };
  }
  if (api !== undefined) {
    const { h64Raw } = api;
    return {
      impl: "wasm",
      hashInto: (data, out, index, seed) => {
        const h = h64Raw(data, seed);
        out[2 * index] = Number(h & LO);
        out[2 * index + 1] = Number(h >> 32n);
      },
      stream,
    };
  }
  return {
    impl: "js",
    hashInto: (data, out, index, seed) => (seed === undefined ? xxh64Into(data, 0, 0, out, index) : xxh64Into(data, Number(seed & LO), Number(seed >> 32n), out, index)),
    stream,
  };
}

/** Seed of mark-name hashes, so a mark never hashes like a write of the same bytes. */
export const MARK_SEED = 0x6d61726bn;

/** A 64-bit hash as 16 hex digits. */
export function hashHex(lo: number, hi: number): string {
  return (hi >>> 0).toString(16).padStart(8, "0") + (lo >>> 0).toString(16).padStart(8, "0");
}
