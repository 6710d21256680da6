import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildReplayLog } from "@lwlog/testkit";
import { generateLog } from "../generate.js";
import type { BenchContext, Scenario, Subject } from "../harness.js";

// `lwlog replay-log`, the drop-in for xfstests' replay-log, against the C replay-log itself:
// the same command lines, the way fstests runs them. Both fsync the target at the end.

const MiB = 1 << 20;
const GiB = 1 << 30;

/** The C replay-log: `$LWLOG_REPLAY_LOG`, else built from xfstests' source (when it and `cc` are there), else none. */
function cReplayLog(ctx: BenchContext): string | undefined {
  if (process.env.LWLOG_REPLAY_LOG) return process.env.LWLOG_REPLAY_LOG;
  const dir = join(ctx.dataDir, "replay-log-c");
  mkdirSync(dir, { recursive: true });
  try {
    return buildReplayLog(dir);
  } catch (err) {
    console.log(`  (no C replay-log to compare with: ${err instanceof Error ? err.message : String(err)})`);
    return undefined;
  }
}

/** A blank image of `bytes` before each run (replay-log writes only onto an existing target). */
function blank(path: string, bytes: number): () => void {
  return () => {
    rmSync(path, { force: true });
    spawnSync("truncate", ["-s", String(bytes), path]);
    spawnSync("sync", ["-f", path]);
  };
}

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * generic/482's loop as common/dmlogwrites runs it: find the next FUA (`--find --next-fua
 * --start-entry`), replay entries 0..FUA (`--limit FUA+1`), on to the last FUA.
 */
function loop482(program: string, log: string, image: string): string {
  const rl = `${program} --log ${q(log)}`;
  return [
    `cur=$(${rl} --find --next-fua --start-entry 0 | cut -d@ -f1)`,
    `while [ -n "$cur" ]; do ${rl} --replay ${q(image)} --limit $((cur + 1)) >/dev/null || exit 1; cur=$(${rl} --find --next-fua --start-entry $((cur + 1)) 2>/dev/null | cut -d@ -f1); done`,
  ].join("; ");
}

/** generic/482's loop over 20 FUAs of a 64 MiB log: lwlog-replay-log, then the C replay-log, then lwlog replay's one pass. */
export const replayLog482: Scenario = {
  name: "replay-log-482",
  goal: "generic/482's loop (find the next FUA, replay 0..FUA) over 20 FUAs of a 64 MiB log: lwlog-replay-log against replay-log (ratio printed)",
  async setup(ctx) {
    const bytes = Math.max(4 * MiB, Math.round(64 * MiB * ctx.scale));
    const writes = Math.floor(bytes / (4096 + 512));
    const log = await generateLog(join(ctx.dataDir, `fua20-${ctx.scale}.log`), { bytes, writeSize: 4096, deviceBytes: 256 * MiB, fuaEvery: Math.ceil(writes / 20), markEvery: 0 });
    const dropIn = [process.execPath, join(ctx.root, "apps/lwlog/dist/replay-log-main.js")].map(q).join(" ");
    const c = cReplayLog(ctx);
    const image = join(ctx.dataDir, "replay-log-482.img");
    const subjects: Subject[] = [{ name: "lwlog-replay-log", argv: ["sh", "-c", loop482(dropIn, log, image)], before: blank(image, 256 * MiB) }];
    if (c) subjects.push({ name: "replay-log", argv: ["sh", "-c", loop482(q(c), log, image)], before: blank(image, 256 * MiB) });
    subjects.push({
      name: "lwlog-one-pass",
      argv: [...ctx.lwlog, "replay", log, "--to", image, "--check", "fua", "--exec", "true", "--sync", "--quiet"],
      before: blank(image, 256 * MiB),
    });
    return { subjects, teardown: () => rmSync(image, { force: true }) };
  },
};

/** A whole replay of the 1 GiB log of 4 KiB random writes: lwlog-replay-log against replay-log, both fsyncing. */
export const replayLogFull: Scenario = {
  name: "replay-log-full-4k",
  goal: "lwlog-replay-log --replay of a 1 GiB log of 4 KiB random writes against replay-log, both fsyncing (ratio printed)",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-4k-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: 4096 });
    const c = cReplayLog(ctx);
    const image = join(ctx.dataDir, "replay-log-full.img");
    const subjects: Subject[] = [{ name: "lwlog-replay-log", argv: [process.execPath, join(ctx.root, "apps/lwlog/dist/replay-log-main.js"), "--log", log, "--replay", image], before: blank(image, GiB) }];
    if (c) subjects.push({ name: "replay-log", argv: [c, "--log", log, "--replay", image], before: blank(image, GiB) });
    return { subjects, teardown: () => rmSync(image, { force: true }) };
  },
};
