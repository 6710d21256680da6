import { spawnSync } from "node:child_process";
import { readdirSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { LogFile, LogIndex } from "@lwlog/codec";
import { generateLog } from "../generate.js";
import type { BenchContext, Scenario, ScenarioRun, Subject } from "../harness.js";
import { fsName, noSyncPreload, replayLogPeer, tmpfsDir } from "../peers.js";

const GiB = 1 << 30;
const MiB = 1 << 20;

/** Log A: 1 GiB of 4 KiB writes at random places of a 1 GiB device (a third of its bytes overwritten later). */
const logA = (ctx: BenchContext) => generateLog(join(ctx.dataDir, `writes-4k-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: 4096 });
/** Log B: 1 GiB of 1 MiB writes. */
const logB = (ctx: BenchContext) => generateLog(join(ctx.dataDir, `writes-1m-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: MiB, markEvery: 64 });

/**
 * Before each run (not timed): a fresh sparse image of `bytes` at `path` (replay-log writes only
 * onto an existing target), its file system's dirty pages flushed. Each run gets a new file
 * (`path` is a symbolic link to it): deleting a written 1 GiB image can take a minute on a file
 * system mounted with `discard`, so the old ones are deleted at the end (`removeImages`).
 */
function freshImage(path: string, bytes: number): () => void {
  let n = 0;
  return () => {
    const file = `${path}.${++n}`;
    rmSync(file, { force: true });
    spawnSync("truncate", ["-s", String(bytes), file]);
    rmSync(path, { force: true });
    symlinkSync(basename(file), path);
    // Only the images' file system (`sync -f`): a global sync waits for everyone's writes.
    spawnSync("sync", ["-f", dirname(path)]);
  };
}

/** Removes the images `freshImage` made for `path`, and the link. */
function removeImages(path: string): void {
  const dir = dirname(path);
  const name = basename(path);
  for (const f of readdirSync(dir)) if (f === name || (f.startsWith(`${name}.`) && /^\d+$/.test(f.slice(name.length + 1)))) rmSync(join(dir, f), { force: true });
}

/** Before each run: the output removed (for cp, which creates it). */
function freshOutput(path: string): () => void {
  return () => {
    rmSync(path, { force: true });
    spawnSync("sync", ["-f", dirname(path)]);
  };
}

/** Where a scenario's images go: tmpfs, or the data folder (a disk). */
function imageDir(ctx: BenchContext, on: "tmpfs" | "disk"): { dir: string; label: string } {
  if (on === "tmpfs") {
    const dir = tmpfsDir();
    if (dir !== undefined) return { dir, label: "tmpfs" };
  }
  return { dir: ctx.dataDir, label: fsName(ctx.dataDir) };
}

interface ReplayRun {
  log: string;
  tag: string;
  on: "tmpfs" | "disk";
  /** Both tools fsync the image at the end (lwlog --sync; replay-log always does), or neither (replay-log's fsync preloaded away). */
  sync: boolean;
  /** Replay to this mark (replay-log --end-mark). */
  mark?: string;
  /** Also run `cp LOG IMAGE`, the I/O limit. */
  cp?: boolean;
  goals?: Record<string, number>;
}

/**
 * lwlog replay and xfstests' replay-log on the same log, each onto a fresh sparse image of the
 * device's size on the same file system, alternately; both fsync at the end or neither.
 */
function replayRun(ctx: BenchContext, r: ReplayRun): ScenarioRun {
  const { dir, label } = imageDir(ctx, r.on);
  const bytes = GiB;
  const image = join(dir, `replay-${r.tag}.img`);
  const peerImage = join(dir, `replay-${r.tag}.rl`);
  const copy = join(dir, `replay-${r.tag}.cp`);
  const peer = replayLogPeer(ctx);
  const preload = r.sync ? undefined : noSyncPreload(ctx);
  const subjects: Subject[] = [
    {
      name: "lwlog",
      argv: [...ctx.lwlog, "replay", r.log, "--to", image, "--quiet", ...(r.sync ? ["--sync"] : []), ...(r.mark !== undefined ? ["--until-mark", r.mark] : [])],
      before: freshImage(image, bytes),
    },
  ];
  if (peer.path !== undefined && (r.sync || preload !== undefined)) {
    subjects.push({
      name: "replay-log",
      argv: [...(preload !== undefined ? ["env", `LD_PRELOAD=${preload}`] : []), peer.path, "--log", r.log, "--replay", peerImage, ...(r.mark !== undefined ? ["--end-mark", r.mark] : [])],
      before: freshImage(peerImage, bytes),
    });
  }
  if (r.cp) subjects.push({ name: "cp", argv: ["cp", r.log, copy], before: freshOutput(copy) });
  const missing = subjects.some((s) => s.name === "replay-log") ? "" : `; replay-log not run: ${peer.path === undefined ? peer.why : "no cc to build the no-fsync preload"}`;
  const goals = Object.fromEntries(Object.entries(r.goals ?? {}).filter(([name]) => subjects.some((s) => s.name === name)));
  return {
    subjects,
    ...(Object.keys(goals).length > 0 ? { goals } : {}),
    maxRssMiB: 200,
    note: `images on ${label} (${dir}), fresh each run; ${r.sync ? "both fsync at the end" : "neither fsyncs"}${missing}`,
    teardown: () => {
      removeImages(image);
      removeImages(peerImage);
      rmSync(copy, { force: true });
    },
  };
}

export const replay4k: Scenario = {
  name: "replay-4k",
  goal: "full replay of log A (1 GiB of 4 KiB random writes) onto tmpfs: ≤ 0.6× replay-log and ≤ 1.0× cp; peak RSS < 200 MB",
  async setup(ctx) {
    return replayRun(ctx, { log: await logA(ctx), tag: "4k", on: "tmpfs", sync: false, cp: true, goals: { "replay-log": 0.6, cp: 1.0 } });
  },
};

export const replay4kDiskSync: Scenario = {
  name: "replay-4k-disk-sync",
  goal: "full replay of log A onto the disk (the data folder's file system), both fsyncing at the end: ≤ 0.6× replay-log",
  async setup(ctx) {
    return replayRun(ctx, { log: await logA(ctx), tag: "4k-sync", on: "disk", sync: true, goals: { "replay-log": 0.6 } });
  },
};

export const replay4kDisk: Scenario = {
  name: "replay-4k-disk",
  goal: "full replay of log A onto the disk, neither fsyncing (ratios printed)",
  async setup(ctx) {
    return replayRun(ctx, { log: await logA(ctx), tag: "4k-disk", on: "disk", sync: false, cp: true });
  },
};

export const replay1m: Scenario = {
  name: "replay-1m",
  goal: "full replay of log B (1 GiB of 1 MiB writes) onto tmpfs: ≤ 1.0× replay-log (cp printed)",
  async setup(ctx) {
    return replayRun(ctx, { log: await logB(ctx), tag: "1m", on: "tmpfs", sync: false, cp: true, goals: { "replay-log": 1.0 } });
  },
};

export const replay1mDiskSync: Scenario = {
  name: "replay-1m-disk-sync",
  goal: "full replay of log B onto the disk, both fsyncing at the end (ratio printed)",
  async setup(ctx) {
    return replayRun(ctx, { log: await logB(ctx), tag: "1m-sync", on: "disk", sync: true });
  },
};

/** The mark halfway through a log (by entry). */
function middleMark(log: string): string {
  const file = LogFile.openSync(log);
  const marks = LogIndex.build(file).marks;
  file.close();
  const last = marks.at(-1)!;
  return marks.find((m) => m.index >= last.index / 2)!.name;
}

export const replay4kMark: Scenario = {
  name: "replay-4k-mark",
  goal: "replay of log A to its middle mark onto tmpfs: ≤ 0.7× replay-log --end-mark",
  async setup(ctx) {
    const log = await logA(ctx);
    return replayRun(ctx, { log, tag: "4k-mark", on: "tmpfs", sync: false, mark: middleMark(log), goals: { "replay-log": 0.7 } });
  },
};

export const replay4kMarkDiskSync: Scenario = {
  name: "replay-4k-mark-disk-sync",
  goal: "replay of log A to its middle mark onto the disk, both fsyncing (ratio printed)",
  async setup(ctx) {
    const log = await logA(ctx);
    return replayRun(ctx, { log, tag: "4k-mark-sync", on: "disk", sync: true, mark: middleMark(log) });
  },
};

export const find4k: Scenario = {
  name: "find-4k",
  goal: "lwlog find LOG --mark LAST against replay-log --find --end-mark LAST, on log A: ≤ 1.0×",
  async setup(ctx) {
    const log = await logA(ctx);
    const file = LogFile.openSync(log);
    const last = LogIndex.build(file).marks.at(-1)!.name;
    file.close();
    const peer = replayLogPeer(ctx);
    return {
      subjects: [
        { name: "lwlog", argv: [...ctx.lwlog, "find", log, "--mark", last] },
        ...(peer.path !== undefined ? [{ name: "replay-log", argv: [peer.path, "--log", log, "--find", "--end-mark", last] }] : []),
      ],
      ...(peer.path !== undefined ? { goals: { "replay-log": 1.0 } } : {}),
      maxRssMiB: 200,
      note: peer.path !== undefined ? `replay-log ${peer.why}` : `replay-log not run: ${peer.why}`,
    };
  },
};

/**
 * 100 checkpoints in one pass (`--check mark --exec true`) against 100 runs of replay-log, each
 * from entry 0 to its mark onto a fresh image (the fstests way: generic/455, 457, 482), and
 * 100 runs of lwlog the same way. The check is `true`, so the times compare the replaying (a
 * real checker adds the same cost to each). Both fsync at each checkpoint.
 */
export const replayCheckpoints: Scenario = {
  name: "replay-checkpoints",
  goal: "a replay with 100 checkpoints against 100 replay-log runs from zero: ≤ 0.03× (and 100 lwlog runs, printed)",
  async setup(ctx) {
    const bytes = Math.max(8 * MiB, Math.round(256 * MiB * ctx.scale));
    // 4 KiB writes and a mark a little more often than every 1/100 of the log; the first 100 are the checkpoints.
    const perMark = Math.floor(bytes / 4700 / 100);
    const device = 256 * MiB;
    const log = await generateLog(join(ctx.dataDir, `checkpoints-${ctx.scale}.log`), { bytes, writeSize: 4096, markEvery: perMark, deviceBytes: device });
    const file = LogFile.openSync(log);
    const marks = LogIndex.build(file).marks.slice(0, 100).map((m) => m.name);
    file.close();
    if (marks.length < 100) throw new Error(`${log} has only ${marks.length} marks`);
    const { dir, label } = imageDir(ctx, "tmpfs");
    const image = join(dir, "replay-checkpoints.img");
    const loopImage = join(dir, "replay-checkpoints-loop.img");
    const lwlog = ctx.lwlog.map((a) => `'${a}'`).join(" ");
    const fresh = `rm -f '${loopImage}' && truncate -s ${device} '${loopImage}'`;
    const peer = replayLogPeer(ctx);
    const subjects: Subject[] = [
      {
        name: "lwlog",
        argv: [...ctx.lwlog, "replay", log, "--to", image, "--quiet", "--until-mark", marks[99]!, "--check", "mark", "--exec", "true"],
        before: freshImage(image, device),
      },
    ];
    if (peer.path !== undefined) {
      const runs = marks.map((m) => `${fresh} && '${peer.path}' --log '${log}' --replay '${loopImage}' --end-mark ${m} && true`).join(" && ");
      subjects.push({ name: "replay-log", argv: ["sh", "-c", runs], before: freshOutput(loopImage) });
    }
    const loop = marks.map((m) => `${fresh} && ${lwlog} replay '${log}' --to '${loopImage}' --until-mark ${m} --quiet --sync && true`).join(" && ");
    subjects.push({ name: "100-lwlog", argv: ["sh", "-c", loop], before: freshOutput(loopImage) });
    return {
      subjects,
      ...(peer.path !== undefined ? { goals: { "replay-log": 0.03 } } : {}),
      maxRssMiB: 200,
      note: `images on ${label}; every run fsyncs at each checkpoint${peer.path === undefined ? `; replay-log not run: ${peer.why}` : ""}`,
      teardown: () => {
        removeImages(image);
        rmSync(loopImage, { force: true });
      },
    };
  },
};

/** Peak memory of a replay of a 4 GiB log of 4 KiB writes: the most pieces a map can hold (goal: under 200 MB, whatever the log's size). */
export const replayMemory: Scenario = {
  name: "replay-memory-4g",
  goal: "peak memory of lwlog replay on a 4 GiB log of 4 KiB writes stays under 200 MB",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-4k-4g-${ctx.scale}.log`), { bytes: 4 * GiB * ctx.scale, writeSize: 4096 });
    const { dir, label } = imageDir(ctx, "disk");
    const image = join(dir, "replay-memory.img");
    return {
      subjects: [{ name: "lwlog", argv: [...ctx.lwlog, "replay", log, "--to", image, "--size", "auto", "--quiet"], before: freshOutput(image) }],
      maxRssMiB: 200,
      note: `image on ${label}`,
      teardown: () => rmSync(image, { force: true }),
    };
  },
};
