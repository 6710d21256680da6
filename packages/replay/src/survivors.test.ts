import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogWriter } from "@lwlog/codec";
import { lastWriters } from "@lwlog/state";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { ImageTarget, writeState } from "./index.js";

const tmp = makeTempDir("lwlog-replay-survivors-");
afterAll(() => tmp.cleanup());
let serial = 0;
const S = 512;
const UNITS = 128;

describe("writeState", () => {
  it("writes what pieces of entries leave, torn ones included (a sub-range takes its data from its place in the entry)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: UNITS - 1 }), fc.integer({ min: 1, max: 40 }), fc.boolean()), { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { maxLength: 30 }),
        fc.nat(),
        async (entries, picks, seed) => {
          // A log of writes (and a discard or two), then pieces: each a random sub-range of one entry, in a random order of priority.
          const path = join(tmp.path, `${++serial}.log`);
          const w = await LogWriter.create(path, { sectorSize: S });
          const spans: { at: number; n: number; discard: boolean }[] = [];
          for (const [i, [at, len, discard]] of entries.entries()) {
            const n = Math.min(len, UNITS - at);
            if (discard && i % 3 === 2) await w.discard(BigInt(at), BigInt(n));
            else await w.write(BigInt(at), randomBytes(n * S, seed + i));
            spans.push({ at, n, discard: discard && i % 3 === 2 });
          }
          await w.close();
          const log = LogFile.openSync(path);
          const headers = [];
          const cursor = log.cursor();
          for (let e = cursor.next(); e !== undefined; e = cursor.next()) headers.push(e);
          const offsets: number[] = [];
          const lengths: number[] = [];
          const sources: number[] = [];
          const bytes = readFileSync(path);
          const model = randomBytes(UNITS * S, seed + 1000);
          const base = model.slice();
          for (const [which, from, len] of picks) {
            const k = which % spans.length;
            const { at, n, discard } = spans[k]!;
            const skip = from % n;
            const take = 1 + (len % (n - skip));
            offsets.push((at + skip) * S);
            lengths.push(take * S);
            sources.push(discard ? -1 : headers[k]!.dataOffset + skip * S);
            if (discard) model.fill(0, (at + skip) * S, (at + skip + take) * S);
            else model.set(bytes.subarray(headers[k]!.dataOffset + skip * S, headers[k]!.dataOffset + (skip + take) * S), (at + skip) * S);
          }
          const ids = offsets.map((_, i) => i);
          const map = lastWriters(Float64Array.from(offsets), Float64Array.from(lengths), ids);
          const image = join(tmp.path, `${serial}.img`);
          writeFileSync(image, base);
          const target = ImageTarget.open(image);
          const out = writeState(target, log, map, { offsets: Float64Array.from(offsets), sources: Float64Array.from(sources) });
          target.close();
          log.close();
          expect(Buffer.compare(readFileSync(image), model)).toBe(0);
          expect(out.ranges).toBe(map.count);
        },
      ),
      { numRuns: 80 },
    );
  });
});
