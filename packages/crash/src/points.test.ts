import { afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { choosePoints, candidatesOf, flushBefore } from "./points.js";
import { FLUSH, FUA, openCrashLog, writeTestLog, type TestEntry } from "./test-logs.js";
import { NoCrashPointsError } from "./errors.js";
import { planCrashes } from "./plan.js";

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

  it("a rule that matches nothing leaves the end as the only crash point, with a note and a hint from the log's counts", async () => {
    const path = join(tmp.path, "nofua.log");
    await writeTestLog(path, S, [{ m: "mkfs" }, { w: 0, len: 512, seed: 1 }, { f: true }, { f: true, flags: FLUSH }, { m: "x" }]);
    const { file, log } = openCrashLog(path);
    try {
      const notes: string[] = [];
      const points = choosePoints(log, { rules: ["fua"], fromMark: "mkfs" }, notes);
      expect(points.map((p) => [p.position, p.kinds.join(), p.flush, p.candidates])).toEqual([[5, "end", 3, 0]]);
      expect(notes).toEqual([
        '--points fua matched no position after mark "mkfs" (0 FUA entries, 2 FLUSH entries, 1 mark, 5 positions there): the end of the log (after entry 4) is the only crash point, where nothing since the FLUSH at entry 3 can be lost (its one state is the prefix); try --points flush for more points',
      ]);
      expect(() => choosePoints(log, { rules: ["flush"], fromMark: "nope" })).toThrowError(/no mark named "nope" to start after \(marks: "mkfs", "x"\)/);
    } finally {
      file.close();
    }
  });

  it("a log with no FLUSH after the mark (barrier=0): the end is a crash point whose states drop any of the writes since mkfs's flush", async () => {
    const path = join(tmp.path, "nobarrier.log");
    await writeTestLog(path, S, [{ w: 0, len: 1024, seed: 1 }, { f: true, flags: FLUSH }, { m: "mkfs" }, { w: 4096, len: 512, seed: 2 }, { w: 8192, len: 512, seed: 3 }, { w: 12288, len: 512, seed: 4, flags: FUA }, { m: "x" }]);
    const { file, log } = openCrashLog(path);
    try {
      const plan = planCrashes(log, { rules: ["flush"], fromMark: "mkfs" });
      expect(plan.points.map((p) => [p.position, p.kinds.join(), p.flush, p.candidates, p.forced])).toEqual([[7, "end", 1, 2, 1]]);
      expect(plan.states).toBe(4);
      expect(plan.unmatched).toBe(
        '--points flush matched no position after mark "mkfs" (1 FUA entry, 0 FLUSH entries, 1 mark, 5 positions there): the end of the log (after entry 6) is the only crash point, where a power cut may lose any of the 2 writes and discards since the FLUSH at entry 1 that are not FUA; try --points fua for more points',
      );
      expect(planCrashes(log, { rules: ["mark"], fromMark: "mkfs" }).unmatched).toBeUndefined();
    } finally {
      file.close();
    }
    const empty = join(tmp.path, "empty.log");
    await writeTestLog(empty, S, []);
    const e = openCrashLog(empty);
    try {
      expect(() => choosePoints(e.log, { rules: ["flush"] })).toThrowError(NoCrashPointsError);
    } finally {
      e.file.close();
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
