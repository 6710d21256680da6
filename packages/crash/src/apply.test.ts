import { afterAll, describe, expect, it } from "vitest";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { makeTempDir } from "@lwlog/testkit";
import { ImageTarget } from "@lwlog/replay";
import { applyPieces, piecesOf } from "./apply.js";
import { DurableImage } from "./durable.js";
import { flushBefore } from "./points.js";
import { shapeOf } from "./plan.js";
import { FUA, openCrashLog, paintState, writeTestLog, type TestEntry } from "./test-logs.js";
import { tearRuns, type CrashState } from "./state.js";

const tmp = makeTempDir("lwlog-crash-apply-");
afterAll(() => tmp.cleanup());

const S = 512;
const DEVICE = 16 * 1024;

const arbEntry: fc.Arbitrary<TestEntry> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ w: fc.integer({ min: 0, max: 31 }).map((s) => s * S), len: fc.integer({ min: 1, max: 6 }).map((n) => n * S), seed: fc.integer({ min: 1, max: 1e6 }) }) },
  { weight: 1, arbitrary: fc.record({ w: fc.integer({ min: 0, max: 31 }).map((s) => s * S), len: fc.integer({ min: 1, max: 4 }).map((n) => n * S), seed: fc.integer({ min: 1, max: 1e6 }), flags: fc.constant(FUA) }) },
  { weight: 1, arbitrary: fc.record({ d: fc.integer({ min: 0, max: 31 }).map((s) => s * S), len: fc.integer({ min: 1, max: 8 }).map((n) => n * S) }) },
  { weight: 2, arbitrary: fc.constant<TestEntry>({ f: true }) },
  { weight: 1, arbitrary: fc.constant<TestEntry>({ m: "m" }) },
).map((e) => ("len" in e ? { ...e, len: Math.min(e.len, DEVICE - ("w" in e ? e.w : e.d)) } : e));

let run = 0;

describe("a crash state on a scratch copy of the durable prefix", () => {
  it("is byte for byte the state the plain model paints (drops, tears, FUA, discards, overlaps)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbEntry, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 ** 16 })), { minLength: 30, maxLength: 30 }),
        async (entries, at, choices) => {
          const dir = join(tmp.path, String(run++));
          const logPath = `${dir}.log`;
          await writeTestLog(logPath, S, entries);
          const { file, log } = openCrashLog(logPath);
          const durable = DurableImage.create(`${dir}.durable`, DEVICE);
          try {
            const position = 1 + (at % log.count);
            const flush = flushBefore(log, position);
            await durable.advanceTo(log, file, flush);
            const { shape } = shapeOf(log, { flush, position }, true);
            const state: CrashState = { position, dropped: [], torn: [] };
            for (let j = 0; j < shape.units.length; j++) {
              const [c, bits] = choices[j] ?? [0, 0];
              const n = shape.units[j]!;
              if (c === 1) state.dropped.push(j);
              else if (c === 2 && n >= 2) {
                const runs = tearRuns(n, (s) => ((bits >>> (s % 16)) & 1) === 1);
                if (runs) state.torn.push({ ordinal: j, runs });
              }
            }
            // The plain-file stand-in for a scratch view: a copy of the durable image.
            copyFileSync(durable.path, `${dir}.view`);
            const view = ImageTarget.open(`${dir}.view`);
            try {
              await applyPieces(log, file, piecesOf(log, flush, state), { write: (o, d) => view.write(o, d), zero: (o, n) => view.zero(o, n) });
            } finally {
              view.close();
            }
            const got = new Uint8Array(readFileSync(`${dir}.view`));
            expect(Buffer.compare(got, paintState(entries, S, log, flush, state, DEVICE))).toBe(0);
          } finally {
            durable.close();
            file.close();
            for (const f of [logPath, `${dir}.durable`, `${dir}.view`]) rmSync(f, { force: true });
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("the durable image only moves forward", async () => {
    const logPath = join(tmp.path, "fwd.log");
    await writeTestLog(logPath, S, [{ w: 0, len: 512, seed: 1 }, { f: true }, { w: 512, len: 512, seed: 2 }]);
    const { file, log } = openCrashLog(logPath);
    const durable = DurableImage.create(join(tmp.path, "fwd.img"), 4096);
    try {
      await durable.advanceTo(log, file, 2);
      expect(durable.applied).toBe(2);
      await expect(durable.advanceTo(log, file, 1)).rejects.toThrowError(/cannot go back/);
    } finally {
      durable.close();
      file.close();
    }
  });
});
