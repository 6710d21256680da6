import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { LogFile } from "./reader.js";
import { LogWriter } from "./writer.js";

const tmp = makeTempDir("lwlog-skim-");
afterAll(() => tmp.cleanup());

describe("LogCursor.skim: sector and nrSectors as numbers", () => {
  it("equal the bigints of next() on every kernel log", () => {
    for (const k of kernelLogs()) {
      const log = LogFile.openSync(k.path);
      try {
        const full = log.cursor({ tail: true });
        const fast = log.cursor({ tail: true });
        for (let e = full.next(); e !== undefined; e = full.next()) {
          const s = fast.skim()!;
          expect([s.index, s.sector, s.nrSectors]).toEqual([e.index, Number(e.sector), Number(e.nrSectors)]);
        }
        expect(fast.skim()).toBeUndefined();
      } finally {
        log.close();
      }
    }
  });

  it("are exact up to 2^53 - 1, and -1 with the full entry beyond", async () => {
    const path = join(tmp.path, "wide.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    await w.discard(max - 5n, 5n);
    await w.discard(0x1_2345_6789n, max);
    await w.discard(max + 1n, 1n);
    await w.discard(7n, (1n << 63n) + 3n);
    await w.close();
    const log = LogFile.openSync(path);
    try {
      const c = log.cursor();
      const got: unknown[] = [];
      // The summary is one reused object: read it before the next call.
      for (let s = c.skim(); s !== undefined; s = c.skim()) got.push([s.sector, s.nrSectors, s.entry?.sector, s.entry?.nrSectors]);
      expect(got).toEqual([
        [Number.MAX_SAFE_INTEGER - 5, 5, undefined, undefined],
        [0x1_2345_6789, Number.MAX_SAFE_INTEGER, undefined, undefined],
        [-1, 1, max + 1n, 1n],
        [7, -1, 7n, (1n << 63n) + 3n],
      ]);
    } finally {
      log.close();
    }
  });
});
