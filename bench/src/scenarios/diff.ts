import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import { LogFile, LogWriter } from "@lwlog/codec";
import { generateLog } from "../generate.js";
import type { Scenario } from "../harness.js";

const GiB = 1 << 30;

/**
 * A copy of the log at `src` in which about 1% of the entries differ: every 100th entry
 * (from the 50th) that is a write gets its data changed, and every 1000th of those is
 * dropped instead (so the diff has removed entries too, not only changed ones). Written
 * through a temporary file; skipped when `dst` exists.
 */
async function deriveLog(src: string, dst: string): Promise<{ changed: number; dropped: number }> {
  const counts = { changed: 0, dropped: 0 };
  if (existsSync(dst)) return counts;
  const log = LogFile.openSync(src);
  const tmp = `${dst}.tmp-${process.pid}`;
  const w = await LogWriter.create(tmp, { sectorSize: log.sectorSize, overwrite: true, superPolicy: { onFua: true, onMark: true } });
  try {
    const cursor = log.cursor({ data: true });
    let pending: Promise<number>[] = [];
    for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
      let data = e.data;
      if (e.index % 100 === 50 && e.kind === "write") {
        if (e.index % 100_000 === 50) {
          counts.dropped += 1;
          continue;
        }
        data = data!.slice();
        data[0] = data[0]! ^ 0xff;
        counts.changed += 1;
      }
      const inline = e.kind === "mark" ? e.markBytes : undefined;
      pending.push(w.append({ header: { sector: e.sector, nrSectors: e.nrSectors, flags: e.flags, dataLen: e.dataLen }, ...(data ? { data } : {}), ...(inline ? { inline } : {}) }));
      if (pending.length >= 256) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    await w.close();
  } finally {
    log.close();
  }
  renameSync(tmp, dst);
  return counts;
}

/**
 * A diff scenario: a generated log `logName` and a copy of it with 1% of its entries changed
 * (`deriveLog`), `lwlog diff` of the two against `cat A B > /dev/null`: goal ratio ≤ 2 and
 * peak RSS ≤ 300 MiB.
 */
function diffScenario(name: string, goal: string, logName: (scale: number) => string, generate: Omit<Parameters<typeof generateLog>[1], "bytes">): Scenario {
  return {
    name,
    goal,
    async setup(ctx) {
      const a = await generateLog(join(ctx.dataDir, `${logName(ctx.scale)}.log`), { bytes: GiB * ctx.scale, ...generate });
      const b = join(ctx.dataDir, `${logName(ctx.scale)}-1pct.log`);
      await deriveLog(a, b);
      const lwlog = ctx.lwlog.join(" ");
      return {
        subjects: [
          // diff exits 1 when the logs differ, as they do here: that is success for the bench.
          { name: "lwlog", argv: ["sh", "-c", `${lwlog} diff ${a} ${b} > /dev/null; test $? -eq 1`] },
          { name: "cat", argv: ["sh", "-c", `cat ${a} ${b} > /dev/null`] },
        ],
        maxRatio: 2,
        maxRssMiB: 300,
      };
    },
  };
}

/**
 * `lwlog diff` of two 1 GiB logs of 4 KiB writes that differ in 1% of their entries,
 * against reading both once (`cat A B > /dev/null`): goal ratio ≤ 2 and peak RSS ≤ 300 MB.
 */
export const diff1pct = diffScenario(
  "diff-1pct",
  "lwlog diff of two 1 GiB logs (4 KiB writes) differing in 1% of entries: within 2x of cat A B > /dev/null, peak memory under 300 MB",
  (scale) => `writes-4k-${scale}`,
  { writeSize: 4096 },
);

/**
 * The same with a million entries a log (512-byte writes, about 1 GiB each): the alignment
 * and the columns grow with the entry count, so this is where memory would show.
 */
export const diff1m = diffScenario(
  "diff-1m-entries",
  "lwlog diff of two logs of a million 512-byte writes (1 GiB each) differing in 1% of entries: within 2x of cat A B, peak memory under 300 MB",
  (scale) => `writes-512-${scale}`,
  { writeSize: 512, markEvery: 16384 },
);
