import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { ScratchSpace, type ScratchView, type ViewStrategy } from "@lwlog/scratch";
import { generateLog } from "../generate.js";
import { median, type BenchContext, type Scenario } from "../harness.js";

const MiB = 1 << 20;
const GiB = 1 << 30;

/** A base image: the replay of a synthetic log of 64 KiB random writes onto a 1 GiB device. */
interface Base {
  tag: string;
  log: string;
  image: string;
  allocated: number;
}

async function makeBase(ctx: BenchContext, logBytes: number): Promise<Base> {
  const tag = `${Math.round(logBytes / MiB)}M`;
  const log = await generateLog(join(ctx.dataDir, `views-${tag}.log`), { bytes: logBytes, writeSize: 64 << 10, deviceBytes: GiB, markEvery: 0 });
  const image = join(ctx.dataDir, `views-${tag}.img`);
  if (!existsSync(image)) run([...ctx.lwlog, "replay", log, "--to", image, "--size", String(GiB), "--quiet", "--sync"]);
  return { tag, log, image, allocated: statSync(image).blocks * 512 };
}

function run(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
}

/** An XFS with reflink, loop-mounted under the data directory (root only), or why not. */
function mountXfs(ctx: BenchContext): { dir: string; teardown: () => void } | string {
  if (process.geteuid?.() !== 0) return "not root: no loop-mounted XFS for reflink views";
  const image = join(ctx.dataDir, "views-xfs.img");
  const dir = join(ctx.dataDir, "views-xfs");
  mkdirSync(dir, { recursive: true });
  rmSync(image, { force: true });
  run(["truncate", "-s", String(4 * GiB), image]);
  if (spawnSync("mkfs.xfs", ["-q", "-m", "reflink=1", image]).status !== 0) return "mkfs.xfs -m reflink=1 failed";
  if (spawnSync("mount", ["-o", "loop", image, dir]).status !== 0) return "cannot loop-mount an XFS";
  return {
    dir,
    teardown: () => {
      spawnSync("umount", [dir]);
      rmSync(image, { force: true });
    },
  };
}

/** One thing timed per round: a view made, exposed, optionally written by a "checker", disposed; or a peer. */
interface Subject {
  name: string;
  once: () => Promise<void>;
}

function viewSubject(name: string, space: ScratchSpace, base: string, strategy: ViewStrategy, options: { image: boolean; nbd: boolean; writeMiB: number }): Subject {
  return {
    name,
    once: async () => {
      const view: ScratchView = await space.view(base, { strategy });
      try {
        const { image } = await view.expose({ image: options.image, nbd: options.nbd });
        if (options.writeMiB > 0) {
          // A checker that writes: 1 MiB blocks spread over the image, through the view's file.
          await new Promise<void>((resolve, reject) => {
            const child = spawn("dd", ["if=/dev/zero", `of=${image}`, "bs=1M", `count=${options.writeMiB}`, "seek=200", "conv=notrunc", "status=none"]);
            child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`dd exited ${code}`))));
          });
        }
      } finally {
        await view.dispose();
      }
    },
  };
}

function processSubject(name: string, argv: string[], after: () => void): Subject {
  return {
    name,
    once: async () => {
      await new Promise<void>((resolve, reject) => {
        const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
        child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(" ")} exited ${code}`))));
      });
      after();
    },
  };
}

/**
 * The cost of one checkpoint's scratch view, per strategy, against what a checker needs
 * without one: a full copy of the image (`cp --sparse=never`, O(image size)) and a replay
 * of the log from zero (xfstests' way: O(log)). Two bases, one with ~30 MiB and one with
 * ~230 MiB allocated of 1 GiB, show what each strategy's cost follows: reflink the extents,
 * overlay a FUSE mount (constant), copy the allocated bytes. `+16M` rows add a checker that
 * writes 16 MiB through the view (copy-on-write cost). Each subject is timed `runs` times,
 * alternating, after one untimed round.
 */
export const views: Scenario = {
  name: "scratch-views",
  goal: "cost per checkpoint view (reflink, overlay, copy) against a full copy and a replay from zero: O(changed), not O(image) (ratios printed)",
  async setup(ctx) {
    const bases = [await makeBase(ctx, Math.max(4 * MiB, Math.round(32 * MiB * ctx.scale))), await makeBase(ctx, Math.max(8 * MiB, Math.round(256 * MiB * ctx.scale)))];
    const xfs = mountXfs(ctx);
    return {
      subjects: [],
      teardown: () => {
        if (typeof xfs !== "string") xfs.teardown();
      },
      custom: async (runs) => {
        const lines: string[] = [];
        const json: Record<string, unknown> = {};
        if (typeof xfs === "string") lines.push(`reflink: skipped (${xfs})`);
        const tmpSpace = await ScratchSpace.open({ dir: ctx.dataDir });
        const xfsSpace = typeof xfs === "string" ? undefined : await ScratchSpace.open({ dir: xfs.dir });
        try {
          for (const base of bases) {
            const scratchCopy = join(ctx.dataDir, `views-${base.tag}.copy`);
            const fresh = join(ctx.dataDir, `views-${base.tag}.fresh`);
            let xfsBase: string | undefined;
            if (xfsSpace !== undefined) {
              xfsBase = xfsSpace.path(`base-${base.tag}.img`);
              if (!existsSync(xfsBase)) run(["cp", "--sparse=always", "--reflink=never", base.image, xfsBase]);
            }
            const subjects: Subject[] = [];
            for (const writeMiB of [0, 16]) {
              const suffix = writeMiB > 0 ? ` +${writeMiB}M` : "";
              if (xfsSpace !== undefined && xfsBase !== undefined) subjects.push(viewSubject(`reflink${suffix}`, xfsSpace, xfsBase, "reflink", { image: true, nbd: false, writeMiB }));
              subjects.push(viewSubject(`overlay${suffix}`, tmpSpace, base.image, "overlay", { image: true, nbd: false, writeMiB }));
              subjects.push(viewSubject(`copy${suffix}`, tmpSpace, base.image, "copy", { image: true, nbd: false, writeMiB }));
            }
            subjects.push(viewSubject("overlay (nbd only)", tmpSpace, base.image, "overlay", { image: false, nbd: true, writeMiB: 0 }));
            subjects.push(processSubject("full copy", ["cp", "--sparse=never", "--reflink=never", base.image, scratchCopy], () => rmSync(scratchCopy, { force: true })));
            subjects.push(processSubject("replay from zero", [...ctx.lwlog, "replay", base.log, "--to", fresh, "--size", String(GiB), "--quiet"], () => rmSync(fresh, { force: true })));
            const times = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
            for (let round = -1; round < runs; round++) {
              for (const s of subjects) {
                spawnSync("sync", ["-f", ctx.dataDir]);
                const t = process.hrtime.bigint();
                await s.once();
                if (round >= 0) times.get(s.name)!.push(Number(process.hrtime.bigint() - t) / 1e9);
              }
            }
            const full = median(times.get("full copy")!);
            const zero = median(times.get("replay from zero")!);
            lines.push(`base ${base.tag} log: ${(base.allocated / MiB).toFixed(0)} MiB allocated of a 1 GiB image (ms: median [min–max] of ${runs}; ratio to a full copy, to a replay from zero)`);
            const summary: Record<string, unknown> = { allocatedBytes: base.allocated };
            for (const s of subjects) {
              const v = times.get(s.name)!;
              const m = median(v);
              lines.push(
                `  ${s.name.padEnd(20)} ${(m * 1000).toFixed(1).padStart(8)} [${(Math.min(...v) * 1000).toFixed(1)}–${(Math.max(...v) * 1000).toFixed(1)}]  ${(m / full).toFixed(3).padStart(6)}  ${(m / zero).toFixed(3).padStart(6)}`,
              );
              summary[s.name] = { median: m, min: Math.min(...v), max: Math.max(...v), values: v, perFullCopy: m / full, perReplayFromZero: m / zero };
            }
            json[base.tag] = summary;
          }
        } finally {
          await tmpSpace.close();
          await xfsSpace?.close();
        }
        return { lines, json };
      },
    };
  },
};
