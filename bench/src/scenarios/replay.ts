import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { LogFile, LogIndex } from "@lwlog/codec";
import { generateLog } from "../generate.js";
import type { BenchContext, Scenario, ScenarioRun } from "../harness.js";

const GiB = 1 << 30;
const MiB = 1 << 20;

/**
 * xfstests' `replay-log`, when `LWLOG_REPLAY_LOG` names a binary built from its sources (it is
 * not packaged; bench it by building `src/log-writes/` outside this repository).
 */
const replayLogBin = process.env.LWLOG_REPLAY_LOG;

/** Like `freshOutput`, then a zero image of `bytes` (replay-log writes only onto an existing target). */
function freshImage(path: string, bytes: number): () => void {
  return () => {
    rmSync(path, { force: true });
    spawnSync("truncate", ["-s", String(bytes), path]);
    spawnSync("sync", ["-f", path]);
  };
}

/** Removes an output image and flushes dirty pages, so that each timed run starts alike (not timed). */
function freshOutput(path: string): () => void {
  return () => {
    rmSync(path, { force: true });
    // Only the file system of the outputs (`sync -f`): a global sync waits for everyone's writes.
    spawnSync("sync", ["-f", dirname(path)]);
  };
}

/** A full replay of `log` against `cp LOG IMAGE` on the same warm files: the I/O limit. */
function fullReplay(ctx: BenchContext, log: string, tag: string): ScenarioRun {
  const image = join(ctx.dataDir, `replay-${tag}.img`);
  const copy = join(ctx.dataDir, `replay-${tag}.cp`);
  const peer = join(ctx.dataDir, `replay-${tag}.rl`);
  return {
    subjects: [
      { name: "lwlog", argv: [...ctx.lwlog, "replay", log, "--to", image, "--size", "auto", "--quiet"], before: freshOutput(image) },
      { name: "cp", argv: ["cp", log, copy], before: freshOutput(copy) },
      ...(replayLogBin ? [{ name: "replay-log", argv: [replayLogBin, "--log", log, "--replay", peer], before: freshImage(peer, GiB) }] : []),
    ],
    maxRatio: 1.5,
    maxRssMiB: 200,
    teardown: () => {
      for (const f of [image, copy, peer]) rmSync(f, { force: true });
    },
  };
}

/** Full replay of a 1 GiB log of 4 KiB random writes, against cp (goal: ratio ≤ 1.5, peak RSS ≤ 200 MiB). */
export const replay4k: Scenario = {
  name: "replay-4k",
  goal: "full replay of a 1 GiB log of 4 KiB random writes within 1.5× of cp LOG IMAGE (ratio ≤ 1.5), peak memory under 200 MB",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-4k-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: 4096 });
    return fullReplay(ctx, log, "4k");
  },
};

/** Full replay of a 1 GiB log of 1 MiB writes, against cp (goal: ratio ≤ 1.5, peak RSS ≤ 200 MiB). */
export const replay1m: Scenario = {
  name: "replay-1m",
  goal: "full replay of a 1 GiB log of 1 MiB writes within 1.5× of cp LOG IMAGE (ratio ≤ 1.5), peak memory under 200 MB",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-1m-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: MiB, markEvery: 64 });
    return fullReplay(ctx, log, "1m");
  },
};

/**
 * 100 checkpoints in one pass (`--check mark --exec CHECK`) against 100 separate replays from
 * entry 0, each to its mark and then the same check: the way replay-log users loop. The check is
 * `true`, so the times compare the replaying itself (a real checker adds the same cost to both).
 */
export const replayCheckpoints: Scenario = {
  name: "replay-checkpoints",
  goal: "a replay with 100 checkpoints costs one full replay plus the checker runs, against 100 separate replays from zero (ratio printed)",
  async setup(ctx) {
    const bytes = Math.max(8 * MiB, Math.round(256 * MiB * ctx.scale));
    // 4 KiB writes and a mark a little more often than every 1/100 of the log; the first 100 are the checkpoints.
    const perMark = Math.floor(bytes / 4700 / 100);
    const log = await generateLog(join(ctx.dataDir, `checkpoints-${ctx.scale}.log`), { bytes, writeSize: 4096, markEvery: perMark, deviceBytes: 256 * MiB });
    const file = LogFile.openSync(log);
    const marks = LogIndex.build(file).marks.slice(0, 100).map((m) => m.name);
    file.close();
    if (marks.length < 100) throw new Error(`${log} has only ${marks.length} marks`);
    const image = join(ctx.dataDir, "replay-checkpoints.img");
    const loopImage = join(ctx.dataDir, "replay-checkpoints-loop.img");
    const lwlog = ctx.lwlog.map((a) => `'${a}'`).join(" ");
    // One replay per checkpoint, each from zero onto a fresh image, then the check.
    const loop = marks.map((m) => `rm -f '${loopImage}' && ${lwlog} replay '${log}' --to '${loopImage}' --size auto --until-mark ${m} --quiet && true`).join(" && ");
    return {
      subjects: [
        {
          name: "lwlog",
          argv: [...ctx.lwlog, "replay", log, "--to", image, "--size", "auto", "--quiet", "--until-mark", marks[99]!, "--check", "mark", "--exec", "true"],
          before: freshOutput(image),
        },
        { name: "100-replays", argv: ["sh", "-c", loop], before: freshOutput(loopImage) },
        ...(replayLogBin
          ? [
              {
                name: "replay-log",
                // The replay-log way: each checkpoint replays from entry 0 to its mark onto a fresh image.
                argv: ["sh", "-c", marks.map((m) => `rm -f '${loopImage}' && truncate -s ${256 * MiB} '${loopImage}' && '${replayLogBin}' --log '${log}' --replay '${loopImage}' --end-mark ${m} && true`).join(" && ")],
                before: freshOutput(loopImage),
              },
            ]
          : []),
      ],
      maxRssMiB: 200,
      teardown: () => {
        rmSync(image, { force: true });
        rmSync(loopImage, { force: true });
      },
    };
  },
};

/** Peak memory of a replay of a 4 GiB log of 64 KiB writes (goal: under 200 MB, whatever the log's size). */
export const replayMemory: Scenario = {
  name: "replay-memory-4g",
  goal: "peak memory of lwlog replay on a 4 GiB log stays under 200 MB",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-64k-4g-${ctx.scale}.log`), { bytes: 4 * GiB * ctx.scale, writeSize: 65536 });
    const image = join(ctx.dataDir, "replay-memory.img");
    return {
      subjects: [{ name: "lwlog", argv: [...ctx.lwlog, "replay", log, "--to", image, "--size", "auto", "--quiet"], before: freshOutput(image) }],
      maxRssMiB: 200,
      teardown: () => rmSync(image, { force: true }),
    };
  },
};
