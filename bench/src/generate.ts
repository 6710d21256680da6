import { existsSync, renameSync, statSync } from "node:fs";
import { LogWriter } from "@lwlog/codec";

/** What a synthetic log looks like. */
export interface SyntheticLog {
  /** Approximate size of the log file in bytes. */
  bytes: number;
  /** Bytes per write entry (a multiple of the sector size). */
  writeSize: number;
  /** Log sector size (default 512). */
  sectorSize?: number;
  /** Size of the target device the writes land on (default 1 GiB). */
  deviceBytes?: number;
  /** `random` offsets (default) or `sequential` ones (wrapping at the device end). */
  pattern?: "random" | "sequential";
  /** A FLUSH entry after every N writes (default 64); 0 for none. */
  flushEvery?: number;
  /** A FUA write instead of a plain one every N writes (default 0: none). */
  fuaEvery?: number;
  /** A MARK entry after every N writes (default 4096); 0 for none. */
  markEvery?: number;
  /** A discard of one write's size every N writes (default 0: none). */
  discardEvery?: number;
  /** Seed of the pseudo-random offsets and data. */
  seed?: number;
}

/**
 * Writes a large synthetic log with lwlog's own codec writer (kernel superblock policy),
 * to `path` (via a temporary file, so an interrupted run leaves nothing half-made).
 * Skips the work when `path` already exists with about the right size.
 */
export async function generateLog(path: string, spec: SyntheticLog): Promise<string> {
  if (existsSync(path) && Math.abs(statSync(path).size - spec.bytes) < spec.bytes / 10 + (1 << 20)) return path;
  const S = spec.sectorSize ?? 512;
  if (spec.writeSize % S !== 0) throw new Error(`write size ${spec.writeSize} is not a multiple of ${S}`);
  const device = BigInt(spec.deviceBytes ?? 1 << 30);
  const slots = device / BigInt(spec.writeSize);
  const tmp = `${path}.tmp-${process.pid}`;
  const w = await LogWriter.create(tmp, { sectorSize: S, overwrite: true, superPolicy: { onFua: true, onMark: true } });
  let x = (spec.seed ?? 12345) >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  // A few distinct data blocks, so data is not all one value but generating stays cheap.
  const blocks = Array.from({ length: 16 }, () => {
    const b = new Uint8Array(spec.writeSize);
    for (let i = 0; i < b.length; i += 4) {
      const v = rnd();
      b[i] = v & 0xff;
      b[i + 1] = (v >>> 8) & 0xff;
      b[i + 2] = (v >>> 16) & 0xff;
      b[i + 3] = v >>> 24;
    }
    return b;
  });
  const perSector = BigInt(spec.writeSize / S);
  let n = 0;
  let seq = 0n;
  while (w.offset < spec.bytes) {
    const slot = spec.pattern === "sequential" ? seq++ % slots : BigInt(rnd()) % slots;
    n += 1;
    const fua = spec.fuaEvery ? n % spec.fuaEvery === 0 : false;
    await w.write(slot * perSector, blocks[n % blocks.length]!, { flags: fua ? 2n : 0n });
    if (spec.discardEvery && n % spec.discardEvery === 0) await w.discard((BigInt(rnd()) % slots) * perSector, perSector);
    if ((spec.flushEvery ?? 64) > 0 && n % (spec.flushEvery ?? 64) === 0) await w.flush();
    if ((spec.markEvery ?? 4096) > 0 && n % (spec.markEvery ?? 4096) === 0) await w.mark(`m${n}`);
  }
  await w.mark("end");
  await w.close();
  renameSync(tmp, path);
  return path;
}
