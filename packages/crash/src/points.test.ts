import { afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { choosePoints, candidatesOf, flushBefore } from "./points.js";
import { FLUSH, FUA, openCrashLog, writeTestLog, type TestEntry } from "./test-logs.js";
import { NoCrashPointsError } from "./errors.js";

const tmp = makeTempDir("lwlog-crash-points-");
afterAll(() => tmp.cleanup());

const S = 512;
// 0 w, 1 w, 2 FLUSH, 3 mark a, 4 w FUA, 5 w, 6 FLUSH, 7 FLUSH, 8 w, 9 discard, 10 mark b, 11 w
const entries: TestEntry[] = [
  { w: 0, len: 1024, seed: 1 },
  { w: 4096, len: 512, seed: 2 },
  { f: true },
  { m: "a" },
  { w: 8192, len: 512, seed: 3, flags: FUA },
  { w: 0, len: 512, seed: 4 },
  { f: true },
  { f: true },
  { w: 1024, len: 2048, seed: 5 },
  { d: 4096, len: 1024 },
  { m: "b" },
  { w: 512, len: 512, seed: 6 },
];

async function table() {
  const path = join(tmp.path, "points.log");
  await writeTestLog(path, S, entries);
  return openCrashLog(path);
}

describe("crash points", () => {
  it("before each flush, with the end; a flush right after a flush is merged into the point before it", async () => {
    const { file, log } = await table();
    try {
      const points = choosePoints(log, { rules: ["flush"] });
      expect(points.map((p) => p.position)).toEqual([2, 6, 12]);
      expect(points[1]!.merged).toEqual([7]);
      expect(points[0]).toMatchObject({ flush: 0, candidates: 2, units: 3, forced: 0, kinds: ["flush"] });
      // After the flush at 2: the FUA write is forced, the write at 5 a candidate.
      expect(points[1]).toMatchObject({ flush: 2, candidates: 1, units: 1, forced: 1, kinds: ["flush"] });
      expect(points[2]).toMatchObject({ flush: 7, candidates: 3, units: 6, forced: 0, kinds: ["end"] });
      expect([...candidatesOf(log, points[2]!)]).toEqual([8, 9, 11]);
      expect(flushBefore(log, 12)).toBe(7);
    } finally {
      file.close();
    }
  });

  it("after FUA entries and marks, every N entries, after every entry; from and until a mark", async () => {
    const { file, log } = await table();
    try {
      expect(choosePoints(log, { rules: ["fua"] }).map((p) => [p.position, p.kinds.join()])).toEqual([
        [5, "fua"],
        [12, "end"],
      ]);
      expect(choosePoints(log, { rules: ["mark"] }).map((p) => p.position)).toEqual([4, 11, 12]);
      expect(choosePoints(log, { rules: [{ every: 5 }] }).map((p) => p.position)).toEqual([5, 10, 12]);
      expect(choosePoints(log, { rules: ["mark"], fromMark: "a" }).map((p) => p.position)).toEqual([11, 12]);
      expect(choosePoints(log, { rules: [{ every: 4 }], fromMark: "a" }).map((p) => p.position)).toEqual([8, 12]);
      expect(choosePoints(log, { rules: ["flush"], fromMark: "a", untilMark: "b" }).map((p) => p.position)).toEqual([6, 11]);
      const all = choosePoints(log, { rules: ["all"] });
      // 3, 7 and 8 have only flushes since the point before; 4 has a mark (another window).
      expect(all.map((p) => p.position)).toEqual([1, 2, 4, 5, 6, 9, 10, 11, 12]);
      expect(all.find((p) => p.position === 2)!.merged).toEqual([3]);
      expect(all.find((p) => p.position === 6)!.merged).toEqual([7, 8]);
    } finally {
      file.close();
    }
  });

  it("a rule that matches nothing is an error with a hint from the log's counts", async () => {
    const path = join(tmp.path, "nofua.log");
    await writeTestLog(path, S, [{ m: "mkfs" }, { w: 0, len: 512, seed: 1 }, { f: true }, { f: true, flags: FLUSH }, { m: "x" }]);
    const { file, log } = openCrashLog(path);
    try {
      expect(() => choosePoints(log, { rules: ["fua"], fromMark: "mkfs" })).toThrowError(NoCrashPointsError);
      expect(() => choosePoints(log, { rules: ["fua"], fromMark: "mkfs" })).toThrowError(
        'no crash point matches --points fua after mark "mkfs": 0 FUA entries, 2 FLUSH entries, 1 mark, 5 positions there; try --points flush',
      );
      expect(() => choosePoints(log, { rules: ["flush"], fromMark: "nope" })).toThrowError(/no mark named "nope" to start after \(marks: "mkfs", "x"\)/);
    } finally {
      file.close();
    }
  });

  it("on the kernel's ext4 log: every FLUSH after mkfs, PREFLUSH|FUA pairs included", () => {
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    const { file, log } = openCrashLog(k.path);
    try {
      const points = choosePoints(log, { rules: ["flush"], fromMark: "mkfs" });
      let flushes = 0;
      for (let i = 39; i < log.count; i++) if (log.isFlush(i)) flushes++;
      const merged = points.reduce((n, p) => n + p.merged.length, 0);
      const ends = log.isFlush(log.count - 1) ? 0 : 1;
      expect(points.length + merged).toBe(flushes + ends);
      for (const p of points) {
        expect(log.isFlush(p.flush) || p.flush === 0).toBe(true);
        for (const c of candidatesOf(log, p)) expect(log.isFua(c)).toBe(false);
      }
    } finally {
      file.close();
    }
  });
});
