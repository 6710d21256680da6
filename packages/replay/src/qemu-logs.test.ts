import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile } from "@lwlog/codec";
import { makeTempDir, qemuLog, sha256File } from "@lwlog/testkit";
import { replayLog } from "./index.js";

const tmp = makeTempDir("lwlog-replay-qemu-");
afterAll(() => tmp.cleanup());

const IMAGE_BYTES = 8 << 20;

/**
 * Each step is one qemu-io run over QEMU's own blklogwrites (appending to the log after the
 * first), with `-t writeback` so that only the explicit flushes and the one at close reach
 * the log. Unaligned writes become read-modify-write entries, `write -z` becomes a write of
 * zeros, and discards go down to the file (`discard=unmap`).
 */
const STEPS: string[][] = [
  ["write -P 0xaa 0 64k", "write -P 0x55 100 1000", "flush", "write -P 0x66 70000 3000"],
  ["write -z 8k 16k", "discard 32k 16k", "write -P 0x77 1M 4k"],
  ["write -P 0x12 4000 200", "write -P 0x13 2M 512k", "discard 2M 256k", "flush", "write -z 2100k 12k"],
  ["discard 0 1M", "write -P 0x99 512k 1536", "write -P 0x9a 7M 1M"],
  ["write -P 0x01 8388096 512", "write -P 0x02 3000000 77777", "write -z 3000100 5000"],
];

describe("replaying QEMU blklogwrites logs reproduces the image after every step", () => {
  for (const sectorSize of [512, 1024, 4096]) {
    it(`log-sector-size=${sectorSize}`, async () => {
      const dir = join(tmp.path, `s${sectorSize}`);
      mkdirSync(dir);
      const snapshots: { declared: number; sha: string }[] = [];
      STEPS.forEach((commands, i) => {
        const r = qemuLog({
          dir,
          imageSize: IMAGE_BYTES,
          cache: "writeback",
          extraOpts: "discard=unmap",
          ...(i === 0 ? { sectorSize } : { append: true }),
          commands,
        });
        const log = LogFile.openSync(r.log);
        expect(log.sectorSize).toBe(sectorSize);
        snapshots.push({ declared: Number(log.super.nrEntries), sha: sha256File(r.image) });
        log.close();
      });
      // Every step wrote something, so every snapshot differs from the one before.
      expect(new Set(snapshots.map((s) => s.sha)).size).toBe(STEPS.length);
      const logPath = join(dir, "qemu.log");
      for (const [i, snap] of snapshots.entries()) {
        const image = join(dir, `replay-${i}.img`);
        const s = await replayLog({ log: logPath, target: image, size: IMAGE_BYTES, until: { entry: snap.declared - 1 } });
        expect(s.last).toBe(snap.declared - 1);
        expect(s.entries).toBe(snap.declared);
        // The walk ends at the stop entry, so the tail was not looked at.
        expect(s.tailEntries).toBe(null);
        expect(sha256File(image), `sector size ${sectorSize}, after step ${i} (${snap.declared} entries)`).toBe(snap.sha);
      }
      // The log has discards and flushes, and a replay with discards skipped differs after step 1.
      const skipped = join(dir, "skip.img");
      const s = await replayLog({ log: logPath, target: skipped, size: IMAGE_BYTES, discard: "skip" });
      expect(s.discardsSkipped).toBeGreaterThanOrEqual(3);
      expect(sha256File(skipped)).not.toBe(snapshots.at(-1)!.sha);
    });
  }
});
