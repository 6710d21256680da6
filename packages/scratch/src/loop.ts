import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { ScratchError, ScratchErrorCodes } from "./errors.js";
import { describeExit, findProgram, runProcess, toolEnv, type ProcessResult } from "./process.js";

/** Bounds every losetup/mount/umount: a kernel that hangs on a broken image must not hang lwlog. */
const TOOL_TIMEOUT_MS = 120_000;

/**
 * Whether this process may attach loop devices and mount file systems, and if not, why
 * (the message says what to do). Root (or CAP_SYS_ADMIN), `/dev/loop-control`, `losetup`,
 * `mount` and `umount` are needed.
 */
export function mountSupport(): { ok: true } | { ok: false; reason: string } {
  if (!hasSysAdmin()) {
    return { ok: false, reason: "attaching loop devices and mounting need root (CAP_SYS_ADMIN), which this process lacks; run as root" };
  }
  if (!existsSync("/dev/loop-control")) return { ok: false, reason: "there is no /dev/loop-control: this system (or container) has no loop devices" };
  for (const tool of ["losetup", "mount", "umount"]) {
    if (findProgram(tool) === undefined) return { ok: false, reason: `${tool} is not installed (Debian: apt-get install mount)` };
  }
  return { ok: true };
}

/** CAP_SYS_ADMIN in this process's effective set (from /proc/self/status; else: is it root). */
function hasSysAdmin(): boolean {
  try {
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    if (hex !== undefined) return ((BigInt(`0x${hex}`) >> 21n) & 1n) === 1n;
  } catch {
    // no /proc: fall back to the user id
  }
  return typeof process.geteuid !== "function" || process.geteuid() === 0;
}

/** Throws `ScratchError` (LWLOG_NOT_PERMITTED) unless `mountSupport()` says yes. */
export function requireMountSupport(why: string): void {
  const s = mountSupport();
  if (!s.ok) throw new ScratchError(ScratchErrorCodes.NOT_PERMITTED, `${why}: ${s.reason}`);
}

/** Attaches a loop device over `file` (the first free one) and returns its path. */
export async function attachLoop(file: string, options: { readOnly?: boolean } = {}): Promise<string> {
  const args = ["--find", "--show", ...(options.readOnly ? ["--read-only"] : []), file];
  const r = await runProcess(findProgram("losetup") ?? "losetup", args, { env: toolEnv(), timeoutMs: TOOL_TIMEOUT_MS });
  const dev = r.output.trim().split("\n").pop() ?? "";
  if (r.code !== 0 || !dev.startsWith("/dev/")) {
    throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `cannot attach a loop device: losetup ${describeExit(r)}: ${r.output.trim()}`, { file });
  }
  return dev;
}

/** Detaches a loop device (its mounts must be gone). */
export async function detachLoop(dev: string): Promise<void> {
  const r = await runProcess(findProgram("losetup") ?? "losetup", ["--detach", dev], { env: toolEnv(), timeoutMs: TOOL_TIMEOUT_MS });
  if (r.code !== 0 && /No such device|not a block device|No such device or address/i.test(r.output) === false) {
    throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `cannot detach ${dev}: losetup ${describeExit(r)}: ${r.output.trim()}`);
  }
}

/**
 * Mounts `source` on `dir`. A failure is returned, not thrown: whether a file system mounts
 * is what a judge asks (a kernel that refuses a crashed state's file system is a verdict).
 */
export function mountFs(source: string, dir: string, options: { type: string; options?: string[]; signal?: AbortSignal }): Promise<ProcessResult> {
  const args = ["-t", options.type, ...(options.options?.length ? ["-o", options.options.join(",")] : []), source, dir];
  return runProcess(findProgram("mount") ?? "mount", args, { env: toolEnv(), timeoutMs: TOOL_TIMEOUT_MS, ...(options.signal ? { signal: options.signal } : {}) });
}

/** Unmounts `dir`; when it is busy, detaches it lazily (`umount -l`). Returns the first attempt's result. */
export async function unmountFs(dir: string): Promise<ProcessResult> {
  const umount = findProgram("umount") ?? "umount";
  const r = await runProcess(umount, [dir], { env: toolEnv(), timeoutMs: TOOL_TIMEOUT_MS });
  if (r.code !== 0) await runProcess(umount, ["-l", dir], { env: toolEnv(), timeoutMs: TOOL_TIMEOUT_MS });
  return r;
}

/** The loop devices whose backing file is `file` (any process may have attached them). */
export function loopDevicesOf(file: string): string[] {
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    real = file;
  }
  const found: string[] = [];
  let names: string[];
  try {
    names = readdirSync("/sys/block").filter((n) => n.startsWith("loop"));
  } catch {
    return found;
  }
  for (const name of names) {
    let backing: string;
    try {
      backing = readFileSync(`/sys/block/${name}/loop/backing_file`, "utf8").replace(/\n$/, "");
    } catch {
      continue; // not attached
    }
    if (backing === real || backing === `${real} (deleted)` || backing === file) found.push(`/dev/${name}`);
  }
  return found;
}

/** Where a block device is mounted (this mount namespace), from /proc/self/mountinfo. */
export function mountPointsOf(dev: string): string[] {
  let rdev: number;
  try {
    rdev = statSync(dev).rdev;
  } catch {
    return [];
  }
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  const want = `${major}:${minor}`;
  const points: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[2] === want && f[4] !== undefined) points.push(f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  // Innermost first, so a mount on top of another is removed before it.
  return points.reverse();
}

/**
 * Releases every loop device over `file`: unmounts what is mounted from it (lazily when
 * busy), then detaches it. For a view's cleanup: whatever a checker attached and left.
 */
export async function releaseLoops(file: string): Promise<void> {
  for (const dev of loopDevicesOf(file)) {
    for (const dir of mountPointsOf(dev)) await unmountFs(dir);
    await detachLoop(dev).catch(() => undefined);
  }
}
