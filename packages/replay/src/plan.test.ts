import { closeSync, copyFileSync, openSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogIndex, LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, randomBytes, sha256File } from "@lwlog/testkit";
import { planReplay, replayLog, type PlanOptions } from "./index.js";

const tmp = makeTempDir("lwlog-replay-plan-");
afterAll(() => tmp.cleanup());

/** 6 writes, a flush after the 2nd, a FUA 4th, marks "x" after the 3rd and 6th, then 2 tail writes. */
let made = 0;
async function makeLog(): Promise<string> {
  const path = join(tmp.path, `plan-${++made}.log`);
  const w = await LogWriter.create(path, { sectorSize: 512 });
  for (let i = 0; i < 6; i++) {
    await w.write(BigInt(i * 16), randomBytes(2048, i + 1), { flags: i === 3 ? 2n : 0n });
    if (i === 1) await w.flush();
    if (i === 2 || i === 5) await w.mark("x");
    if (i === 4) await w.discard(200n, 8n);
  }
  await w.writeSuper();
  await w.write(300n, randomBytes(512, 40));
  await w.write(310n, randomBytes(512, 41));
  await w.close({ super: false });
  return path;
}

const cases: PlanOptions[] = [
  {},
  { tail: true },
  { from: { entry: 2 } },
  { from: { mark: "x" } },
  { until: { mark: "x" } },
  { from: { mark: "x" }, until: { mark: "x" } },
  { until: { entry: 5 } },
  { until: { entry: 11 }, tail: true },
  { until: { nextFlush: true } },
  { from: { entry: 3 }, until: { nextFua: true } },
  { from: { entry: 1 }, until: { limit: 4 } },
  { until: { limit: 100 } },
  { until: { mark: "x", nextFua: true } },
  { sectors: { from: 20n, to: 40n } },
  { skipDiscards: true, until: { entry: 8 } },
];

describe("planReplay with an index gives the same plan as the header walk", () => {
  it("on a small log with a tail, for every kind of start and stop", async () => {
    const log = LogFile.openSync(await makeLog());
    const index = LogIndex.build(log);
    for (const c of cases) {
      // walkAll: the index knows the whole log (its extent, declared and tail counts) without walking.
      const walked = planReplay(log, { ...c, walkAll: true });
      const looked = planReplay(log, { ...c, index, extent: true });
      expect(looked, JSON.stringify(c, (_k, v) => (typeof v === "bigint" ? String(v) : v))).toEqual(walked);
    }
    log.close();
  });

  it("and the same errors", async () => {
    const log = LogFile.openSync(await makeLog());
    const index = LogIndex.build(log);
    const bad: PlanOptions[] = [
      { until: { mark: "nope" } },
      { from: { mark: "nope" } },
      { until: { entry: 10 } },
      { from: { entry: 12 } },
      { from: { entry: 5 }, until: { entry: 2 } },
      { from: { entry: 10 }, until: { nextFlush: true } },
    ];
    for (const c of bad) {
      let walked = "";
      let looked = "";
      try {
        planReplay(log, c);
      } catch (e) {
        walked = (e as Error).message;
      }
      try {
        planReplay(log, { ...c, index });
      } catch (e) {
        looked = (e as Error).message;
      }
      expect(walked, JSON.stringify(c)).not.toBe("");
      expect(looked, JSON.stringify(c)).toBe(walked);
    }
    log.close();
  });

  it("on the kernel logs, to every mark from the previous one", () => {
    for (const k of kernelLogs()) {
      const log = LogFile.openSync(k.path);
      const index = LogIndex.build(log);
      let prev: string | undefined;
      for (const m of k.marks) {
        const c: PlanOptions = { until: { mark: m.name }, ...(prev !== undefined ? { from: { mark: prev } } : {}) };
        expect(planReplay(log, { ...c, index, extent: true })).toEqual(planReplay(log, { ...c, walkAll: true }));
        prev = m.name;
      }
      log.close();
    }
  });

  it("reads no header before the start point: a replay from entry 5 works with the index even when entry 1 is broken", async () => {
    const good = await makeLog();
    const path = join(tmp.path, "broken-early.log");
    copyFileSync(good, path);
    const log = LogFile.openSync(path);
    const index = LogIndex.build(log);
    // Now break entry 1's header block: the index was built before, so the plan never looks there.
    const fd = openSync(path, "r+");
    writeSync(fd, new Uint8Array([0x5a]), 0, 1, index.offsetOf(1) + 200);
    closeSync(fd);
    expect(() => planReplay(log, { from: { entry: 5 } })).toThrow(/no entry 5 to start at.*readable only up to entry 1/);
    const image = join(tmp.path, "from5.img");
    const s = await replayLog({ log, index, target: image, size: 1 << 20, from: { entry: 5 }, until: { mark: "x" } });
    expect([s.start, s.last]).toEqual([5, 9]);
    const ref = join(tmp.path, "from5-ref.img");
    await replayLog({ log: good, target: ref, size: 1 << 20, from: { entry: 5 }, until: { mark: "x" } });
    expect(sha256File(image)).toBe(sha256File(ref));
    log.close();
  });
});

describe("size auto: the image has its final size from the start", () => {
  it("at every checkpoint (the checker sees the whole image), and after a failed checkpoint stops the replay early", async () => {
    // makeLog's highest byte: the tail aside, the discard of sectors 200..207.
    const path = await makeLog();
    const want = 208 * 512;
    const seen: number[] = [];
    const image = join(tmp.path, "auto-check.img");
    const s = await replayLog({
      log: path,
      target: image,
      size: "auto",
      check: { rules: [{ every: 1 }], run: (cp) => (seen.push(statSync(cp.image).size), { ok: cp.entry < 2 }) },
    });
    expect(s.checkpoints.firstBad).toBe(2);
    expect(seen).toEqual([want, want, want]);
    expect(statSync(image).size).toBe(want);
  });

  it("when the log breaks mid-way: sized as a replay up to the break (discards skipped still count)", async () => {
    const good = await makeLog();
    const path = join(tmp.path, "broken-auto.log");
    copyFileSync(good, path);
    const log = LogFile.openSync(path);
    const index = LogIndex.build(log);
    log.close();
    // Break entry 8 (the write after the discard): the discard (entry 7) reaches byte 208 × 512.
    const fd = openSync(path, "r+");
    writeSync(fd, new Uint8Array([0x5a]), 0, 1, index.offsetOf(8) + 200);
    closeSync(fd);
    const image = join(tmp.path, "broken-auto.img");
    await expect(replayLog({ log: path, target: image, size: "auto", discard: "skip" })).rejects.toThrow(/entries 0\.\.7 have been applied/);
    const ref = join(tmp.path, "broken-auto-ref.img");
    await replayLog({ log: good, target: ref, size: "auto", discard: "skip", until: { entry: 7 } });
    expect(statSync(ref).size).toBe(208 * 512);
    expect(statSync(image).size).toBe(208 * 512);
  });
});
