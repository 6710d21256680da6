import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { BenchContext } from "./harness.js";

/** Where xfstests' `replay-log` sources may be: `$LWLOG_XFSTESTS`, or `shared/peers/xfstests` beside the checkout (or its worktree folder). */
function xfstestsSources(root: string): string | undefined {
  const candidates = [
    process.env.LWLOG_XFSTESTS,
    resolve(root, "../shared/peers/xfstests"),
    resolve(root, "../../shared/peers/xfstests"),
  ].filter((p): p is string => p !== undefined && p !== "");
  return candidates.map((p) => join(p, "src/log-writes")).find((p) => existsSync(join(p, "replay-log.c")));
}

/** True when a C compiler runs. */
function haveCc(): boolean {
  return spawnSync("cc", ["--version"], { stdio: "ignore" }).status === 0;
}

let replayLog: { path: string | undefined; why: string } | undefined;

/**
 * xfstests' `replay-log`, the C peer of `lwlog replay` and `lwlog find`: `$LWLOG_REPLAY_LOG`
 * when it names a binary, else built (when `cc` runs) from its sources into a scratch folder
 * under the bench's data folder. Its code is GPL-2.0 and is never copied into this
 * repository: the bench compiles it where it lies. `path` is undefined when it cannot be had,
 * and `why` says why.
 */
export function replayLogPeer(ctx: BenchContext): { path: string | undefined; why: string } {
  if (replayLog !== undefined) return replayLog;
  const given = process.env.LWLOG_REPLAY_LOG;
  if (given !== undefined && given !== "") {
    replayLog = existsSync(given) ? { path: given, why: `$LWLOG_REPLAY_LOG (${given})` } : { path: undefined, why: `$LWLOG_REPLAY_LOG names ${given}, which does not exist` };
    return replayLog;
  }
  const src = xfstestsSources(ctx.root);
  if (src === undefined) return (replayLog = { path: undefined, why: "no xfstests sources (set LWLOG_XFSTESTS to an xfstests checkout)" });
  if (!haveCc()) return (replayLog = { path: undefined, why: "no C compiler (cc)" });
  const out = join(ctx.dataDir, "peers", "replay-log");
  const sources = [join(src, "replay-log.c"), join(src, "log-writes.c")];
  if (!existsSync(out) || sources.some((f) => statSync(f).mtimeMs > statSync(out).mtimeMs)) {
    mkdirSync(dirname(out), { recursive: true });
    const r = spawnSync("cc", ["-O2", "-o", out, ...sources], { encoding: "utf8" });
    if (r.status !== 0) return (replayLog = { path: undefined, why: `cc failed: ${r.stderr.trim().split("\n").slice(0, 3).join(" ")}` });
  }
  return (replayLog = { path: out, why: `built from ${src}` });
}

let noSync: string | undefined | null;

/**
 * A preload library (our own three lines of C, built in the scratch folder) that makes
 * fsync/fdatasync/sync no-ops: replay-log always fsyncs at its end, so to compare it with an
 * lwlog that does not (`--sync` off), both must skip it. Undefined without `cc`.
 */
export function noSyncPreload(ctx: BenchContext): string | undefined {
  if (noSync !== undefined) return noSync ?? undefined;
  if (!haveCc()) return (noSync = null) ?? undefined;
  const dir = join(ctx.dataDir, "peers");
  mkdirSync(dir, { recursive: true });
  const c = join(dir, "nosync.c");
  const so = join(dir, "nosync.so");
  writeFileSync(c, "int fsync(int fd) { (void)fd; return 0; }\nint fdatasync(int fd) { (void)fd; return 0; }\nvoid sync(void) {}\n");
  const r = spawnSync("cc", ["-O2", "-shared", "-fPIC", "-o", so, c], { encoding: "utf8" });
  noSync = r.status === 0 ? so : null;
  return noSync ?? undefined;
}

/** statfs(2) f_type values of the file systems the bench names. */
const FS_NAMES: Record<number, string> = { 0x01021994: "tmpfs", 0xef53: "ext4", 0x58465342: "xfs", 0x9123683e: "btrfs" };

/** The name of the file system `dir` is on ("ext4", "tmpfs", or the magic in hex). */
export function fsName(dir: string): string {
  const type = statfsSync(dir).type;
  return FS_NAMES[type] ?? `0x${type.toString(16)}`;
}

/** A tmpfs folder for images: `$LWLOG_BENCH_TMPFS`, or one under /dev/shm when that is tmpfs; undefined otherwise. */
export function tmpfsDir(): string | undefined {
  const dir = process.env.LWLOG_BENCH_TMPFS ?? "/dev/shm";
  if (!existsSync(dir) || fsName(dir) !== "tmpfs") return undefined;
  const own = join(dir, "lwlog-bench");
  mkdirSync(own, { recursive: true });
  return own;
}
