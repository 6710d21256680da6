import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fsWorkloadLog, mountReflinkDir, type FsStep, type MountedDir } from "@lwlog/testkit";
import { median, timeOnce, type BenchContext, type Scenario, type Subject } from "../harness.js";

const GiB = 1 << 30;
const MiB = 1 << 20;

/**
 * A workload that fills a quarter of a 1 GiB ext4 (so that a replay from zero has real work to
 * do) with many journal commits (so that there are many crash points): 96 files of 2 MiB in 4
 * directories, every 4th fsynced; renames, unlinks, appends and truncates; 64 files of 1 MiB,
 * each fsynced.
 */
function benchWorkload(scale: number): FsStep[] {
  const n = (k: number) => Math.max(4, Math.round(k * scale));
  const fill: FsStep = { mark: "fill", ops: [0, 1, 2, 3].map((d) => ({ op: "mkdir" as const, path: `d${d}` })) };
  for (let i = 0; i < n(96); i++) fill.ops.push({ op: "write", path: `d${i % 4}/f${i}`, size: 2 * MiB, seed: i + 1, fsync: i % 4 === 3 });
  const churn: FsStep = { mark: "churn", ops: [] };
  for (let i = 0; i < n(16); i++) {
    churn.ops.push({ op: "rename", from: `d${i % 4}/f${i}`, to: `d${(i + 1) % 4}/r${i}`, fsyncDir: i % 2 === 0 });
    churn.ops.push({ op: "unlink", path: `d${(i + 16) % 4}/f${i + 16}` });
    churn.ops.push({ op: "append", path: `d${(i + 32) % 4}/f${i + 32}`, size: 64 << 10, seed: 1000 + i, fsync: true });
    if (i % 2 === 0) churn.ops.push({ op: "truncate", path: `d${(i + 48) % 4}/f${i + 48}`, size: 100_000, fsync: true });
  }
  const more: FsStep = { mark: "more", ops: [] };
  for (let i = 0; i < n(64); i++) more.ops.push({ op: "write", path: `d${i % 4}/g${i}`, size: MiB, seed: 2000 + i, fsync: true });
  return [fill, churn, more];
}

/** Records the benchmark's ext4 log once (kept in the data directory): root, loop devices and /dev/fuse are needed. */
async function ext4Log(ctx: BenchContext): Promise<string> {
  const log = join(ctx.dataDir, `crashes-ext4-1g-${ctx.scale}.log`);
  if (existsSync(log)) return log;
  const dir = join(ctx.dataDir, `crashes-record-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    const r = await fsWorkloadLog({ dir, lwlog: ctx.lwlog, fs: "ext4", size: GiB, mountOptions: "noinit_itable", recordOptions: ["--zeroes-as-discard"], steps: benchWorkload(ctx.scale), timeoutMs: 600_000 });
    renameSync(r.log, log);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return log;
}

const STATES = 1000;

/**
 * 1,000 crash states of a 1 GiB-image ext4 log, each on a scratch view of its point's durable
 * prefix, against one full replay from zero: the cost per state as a ratio to that replay
 * (goal ≤ 0.02) and the peak memory (goal < 300 MB). Three ways: the engine with a no-op judge
 * in-process (views made, states written, views disposed: what lwlog adds per state whatever
 * the checker), and `lwlog crashes --exec true` (a process a state, and the view shown as a
 * file) with views in the default scratch directory and on a reflink-capable xfs.
 */
export const crashes1g: Scenario = {
  name: "crashes-1g",
  goal: "1,000 crash states of a 1 GiB-image ext4 log with a no-op checker: cost per state ≤ 0.02 × one full replay from zero, peak memory under 300 MB",
  async setup(ctx) {
    const log = await ext4Log(ctx);
    const image = join(ctx.dataDir, "crashes-replay.img");
    const fresh = () => {
      rmSync(image, { force: true });
      spawnSync("sync", ["-f", dirname(image)]);
    };
    let xfs: MountedDir | undefined;
    const subjects = (): Subject[] => {
      xfs ??= mountReflinkDir(4 * GiB, "lwlog-bench-xfs-");
      const args = ["crashes", log, "--from-mark", "mkfs", "--samples", String(STATES), "--minimise", "0", "--quiet", "--exec", "true"];
      return [
        { name: "replay", argv: [...ctx.lwlog, "replay", log, "--to", image, "--size", "auto", "--quiet"], before: fresh, after: fresh },
        { name: "engine-noop", argv: [ctx.lwlog[0]!, join(ctx.root, "bench/dist/crash-noop.js"), log, String(STATES), "mkfs"] },
        { name: "exec-true", argv: [...ctx.lwlog, ...args] },
        { name: "exec-reflink", argv: [...ctx.lwlog, ...args, "--scratch", xfs.path] },
      ];
    };
    return {
      subjects: [],
      custom: async (runs) => {
        const list = subjects();
        const samples = list.map(() => [] as { seconds: number; maxRssKiB: number }[]);
        // Warm-up (page cache, lazy files): the two fast subjects; the others run long enough.
        for (const s of list.slice(0, 2)) timeOnce(s);
        for (let i = 0; i < runs; i++) list.forEach((s, j) => samples[j]!.push(timeOnce(s)));
        const replay = samples[0]!.map((x) => x.seconds);
        const lines: string[] = [];
        const json: Record<string, unknown> = { states: STATES, log };
        lines.push(`${"subject".padEnd(14)} ${"median s".padStart(9)} ${"min s".padStart(8)} ${"max s".padStart(8)} ${"peak RSS".padStart(10)}  per state / full replay (median, min–max)`);
        list.forEach((s, j) => {
          const secs = samples[j]!.map((x) => x.seconds);
          const rss = Math.max(...samples[j]!.map((x) => x.maxRssKiB)) / 1024;
          let ratio = "";
          if (j > 0) {
            // Each run against the replay of the same round, so machine drift falls on both.
            const per = secs.map((t, k) => t / STATES / replay[k]!);
            ratio = `${median(per).toFixed(4)} (${Math.min(...per).toFixed(4)}–${Math.max(...per).toFixed(4)})`;
            json[s.name] = { medianSeconds: median(secs), perStateRatio: median(per), minRatio: Math.min(...per), maxRatio: Math.max(...per), peakRssMiB: rss };
          } else json.replay = { medianSeconds: median(secs), peakRssMiB: rss };
          lines.push(`${s.name.padEnd(14)} ${median(secs).toFixed(3).padStart(9)} ${Math.min(...secs).toFixed(3).padStart(8)} ${Math.max(...secs).toFixed(3).padStart(8)} ${`${rss.toFixed(0)} MiB`.padStart(10)}  ${ratio}`);
        });
        const noop = json["engine-noop"] as { perStateRatio: number; peakRssMiB: number };
        lines.push(`goal (per state ≤ 0.02 × replay, peak RSS < 300 MB), engine with a no-op judge: ${noop.perStateRatio <= 0.02 && noop.peakRssMiB < 286 ? "met" : "NOT met"}`);
        return { lines, json };
      },
      teardown: () => {
        rmSync(image, { force: true });
        xfs?.cleanup();
      },
    };
  },
};
