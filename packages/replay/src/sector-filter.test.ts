import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogWriter } from "@lwlog/codec";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { planReplay, replayLog } from "./index.js";

const tmp = makeTempDir("lwlog-replay-sectors-");
afterAll(() => tmp.cleanup());

let made = 0;
/** S = 512: 4 KiB writes at sectors 0 and 64, a discard of sectors 0..7, a write at 128. */
async function makeLog(): Promise<string> {
  const path = join(tmp.path, `sectors-${++made}.log`);
  const w = await LogWriter.create(path, { sectorSize: 512 });
  await w.write(0n, randomBytes(4096, 1));
  await w.write(64n, randomBytes(4096, 2));
  await w.discard(0n, 8n);
  await w.write(128n, randomBytes(4096, 3));
  await w.close();
  return path;
}

describe("sectorFilter", () => {
  it("all (the default): a discard outside the range is filtered like a write", async () => {
    const log = await makeLog();
    const img = join(tmp.path, "all.img");
    const s = await replayLog({ log, target: img, size: 80 << 10, sectors: { from: 60n, to: 70n } });
    expect([s.writes, s.discards, s.filtered]).toEqual([1, 0, 3]);
    const bytes = readFileSync(img);
    expect(bytes.subarray(0, 4096).every((b) => b === 0)).toBe(true); // never written
    expect(bytes.subarray(64 * 512, 72 * 512)).toEqual(Buffer.from(randomBytes(4096, 2)));
  });

  it("writes: writes outside the range are filtered, every discard is applied (replay-log's --start-sector)", async () => {
    const log = await makeLog();
    const img = join(tmp.path, "writes.img");
    const s = await replayLog({ log, target: img, size: 80 << 10, sectors: { from: 60n, to: 70n }, sectorFilter: "writes" });
    expect([s.writes, s.discards, s.filtered]).toEqual([1, 1, 2]);
    // The plan counts the discard's room as needed, as it is applied.
    const f = LogFile.openSync(log);
    try {
      expect(planReplay(f, { sectors: { from: 60n, to: 70n }, sectorFilter: "writes", until: { entry: 2 } }).needBytes).toBe(72 * 512);
      expect(planReplay(f, { sectors: { from: 100n, to: 200n }, sectorFilter: "writes", until: { entry: 2 } }).needBytes).toBe(8 * 512);
      expect(planReplay(f, { sectors: { from: 100n, to: 200n }, until: { entry: 2 } }).needBytes).toBe(0);
    } finally {
      f.close();
    }
  });

  it("writes, with the discard inside the range: the same as all", async () => {
    const log = await makeLog();
    const a = join(tmp.path, "in-a.img");
    const b = join(tmp.path, "in-b.img");
    await replayLog({ log, target: a, size: 80 << 10, sectors: { from: 0n, to: 70n } });
    await replayLog({ log, target: b, size: 80 << 10, sectors: { from: 0n, to: 70n }, sectorFilter: "writes" });
    expect(readFileSync(a)).toEqual(readFileSync(b));
  });
});
