import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { LogFile, LogFlags } from "@lwlog/codec";
import { ImageTarget } from "@lwlog/replay";
import type { EngineView, ViewMaker } from "./judge.js";
import { LogWriter } from "@lwlog/codec";
import { randomBytes } from "@lwlog/testkit";
import { CrashLog } from "./log-table.js";
import { candidatesOf } from "./points.js";
import { keptRanges, type CrashState } from "./state.js";

/** One entry of a test log; offsets and lengths in bytes (multiples of the sector size). */
export type TestEntry =
  | { w: number; len: number; seed: number; flags?: bigint }
  | { d: number; len: number }
  | { f: true; flags?: bigint }
  | { m: string };

export const FUA = LogFlags.FUA;
export const FLUSH = LogFlags.FLUSH;

/** Writes a log of `entries` with sector size `S` (kernel superblock policy). */
export async function writeTestLog(path: string, S: number, entries: readonly TestEntry[]): Promise<void> {
  const w = await LogWriter.create(path, { sectorSize: S, overwrite: true });
  const pending: Promise<number>[] = [];
  for (const e of entries) {
    if ("m" in e) pending.push(w.mark(e.m));
    else if ("f" in e) pending.push(w.flush(e.flags ?? 0n));
    else if ("d" in e) pending.push(w.discard(BigInt(e.d / S), BigInt(e.len / S)));
    else pending.push(w.write(BigInt(e.w / S), randomBytes(e.len, e.seed), { flags: e.flags ?? 0n }));
  }
  await Promise.all(pending);
  await w.close();
}

/** Opens a log and reads its crash table (close `file` when done). */
export function openCrashLog(path: string, tail = false): { file: LogFile; log: CrashLog } {
  const file = LogFile.openSync(path);
  return { file, log: CrashLog.read(file, { tail }) };
}

/**
 * The disk a crash state leaves, the plain way (the model the engine is checked against):
 * entries before the point's flush in order, then from it to the position every write and
 * discard in order unless dropped, a torn one only in its kept sectors.
 */
export function paintState(entries: readonly TestEntry[], S: number, log: CrashLog, flush: number, state: CrashState, size: number): Uint8Array {
  const disk = new Uint8Array(size);
  const candidates = [...candidatesOf(log, { flush, position: state.position })];
  const dropped = new Set(state.dropped.map((o) => candidates[o]!));
  const torn = new Map(state.torn.map((t) => [candidates[t.ordinal]!, t.runs]));
  entries.forEach((e, i) => {
    if (i >= state.position || dropped.has(i)) return;
    if ("d" in e) disk.fill(0, e.d, e.d + e.len);
    else if ("w" in e) {
      const data = randomBytes(e.len, e.seed);
      const runs = torn.get(i);
      if (runs === undefined) disk.set(data, e.w);
      else for (const [a, b] of keptRanges(runs)) disk.set(data.subarray(a * S, b * S), e.w + a * S);
    }
  });
  return disk;
}

/**
 * The plain-file stand-in for a scratch view (tests only; `@lwlog/scratch` makes the real
 * ones): a full copy of the base in `dir`, written and read with positional I/O.
 */
export function fileViews(dir: string): ViewMaker & { made: number; live: number } {
  let n = 0;
  const maker = Object.assign(
    async (base: string, size: number): Promise<EngineView> => {
      const path = join(dir, `view-${n++}.img`);
      copyFileSync(base, path);
      const target = ImageTarget.open(path, { size });
      maker.made++;
      maker.live++;
      let disposed = false;
      return {
        write: (o, d) => target.write(o, d),
        zero: (o, l) => target.zero(o, l),
        readInto: (out, o) => target.readInto(out, o),
        expose: async () => ({ image: path }),
        dispose: async () => {
          if (disposed) return;
          disposed = true;
          maker.live--;
          target.close();
          rmSync(path, { force: true });
        },
      };
    },
    { made: 0, live: 0 },
  );
  return maker;
}
