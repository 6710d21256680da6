import { LogWriter } from "@lwlog/codec";
import { randomBytes } from "@lwlog/testkit";

/** One entry of a test log; offsets and lengths in bytes (multiples of the sector size). */
export type TestEntry =
  | { w: number; len: number; seed: number; flags?: bigint }
  | { w: number; bytes: Uint8Array; flags?: bigint }
  | { d: number; len: number }
  | { f: true; flags?: bigint }
  | { m: string };

/** Writes a log of `entries` with sector size `S` (kernel superblock policy). */
export async function writeTestLog(path: string, S: number, entries: readonly TestEntry[]): Promise<void> {
  const w = await LogWriter.create(path, { sectorSize: S, overwrite: true });
  // Appends take their slots in call order, so they need not be awaited one by one.
  const pending: Promise<number>[] = [];
  for (const e of entries) {
    if ("m" in e) pending.push(w.mark(e.m));
    else if ("f" in e) pending.push(w.flush(e.flags ?? 0n));
    else if ("d" in e) pending.push(w.discard(BigInt(e.d / S), BigInt(e.len / S)));
    else {
      const data = "bytes" in e ? e.bytes : randomBytes(e.len, e.seed);
      pending.push(w.write(BigInt(e.w / S), data, { flags: e.flags ?? 0n }));
    }
  }
  await Promise.all(pending);
  await w.close();
}

/** The disk bytes `[0, size)` after applying `entries` to zeros, the plain way. */
export function paint(entries: readonly TestEntry[], size: number): Uint8Array {
  const disk = new Uint8Array(size);
  for (const e of entries) {
    if ("d" in e) disk.fill(0, e.d, e.d + e.len);
    else if ("w" in e) disk.set("bytes" in e ? e.bytes : randomBytes(e.len, e.seed), e.w);
  }
  return disk;
}
