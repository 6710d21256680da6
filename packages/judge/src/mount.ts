import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { attachLoop, detachLoop, findProgram, mountFs, mountSupport, runProcess, toolEnv, unmountFs, type ProcessResult } from "@lwlog/scratch";
import { JudgeUnavailableError } from "./verdict.js";

/** A file system mounted from an image through a loop device. */
export interface LoopMount {
  dir: string;
  device: string;
  /** Unmounts (lazily when busy), detaches the loop device, removes the directory. Idempotent. */
  release(): Promise<void>;
}

/** Mount's messages that say the machine, not the image, is the problem. */
const ENVIRONMENT = /permission denied|must be superuser|only root|operation not permitted|unknown filesystem type|failed to setup loop device/i;

/** Throws `JudgeUnavailableError` unless this process can mount; `what` says which judge asks. */
export function requireMount(what: string, hint = ""): void {
  const s = mountSupport();
  if (!s.ok) throw new JudgeUnavailableError(`${what} needs to mount the image, and ${s.reason}${hint}`);
}

/**
 * Mounts `image` through a new loop device. A mount the kernel refuses is returned as
 * `{ ok: false }` with mount's message and the kernel's messages about the device (a
 * verdict: the state does not mount); a refusal that is the machine's (no permission, no
 * driver for the file system) throws `JudgeUnavailableError`.
 */
export async function loopMount(
  image: string,
  options: { type: string; options?: string[]; readOnly?: boolean; signal?: AbortSignal },
): Promise<{ ok: true; mount: LoopMount } | { ok: false; output: string; result: ProcessResult }> {
  const device = await attachLoop(image, { readOnly: options.readOnly ?? false });
  let dir: string | undefined;
  let mounted = false;
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    try {
      if (mounted && dir !== undefined) await unmountFs(dir);
    } finally {
      await detachLoop(device).catch(() => undefined);
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    dir = mkdtempSync(join(tmpdir(), "lwlog-mnt-"));
    const opts = [...(options.readOnly ? ["ro"] : []), ...(options.options ?? [])];
    const since = uptime();
    const r = await mountFs(device, dir, { type: options.type, options: opts, ...(options.signal ? { signal: options.signal } : {}) });
    if (r.code === 0) {
      mounted = true;
      return { ok: true, mount: { dir, device, release } };
    }
    const kernel = await kernelMessages(device, since);
    await release();
    if (!r.aborted && ENVIRONMENT.test(r.output)) throw new JudgeUnavailableError(`cannot mount ${options.type} from ${image}: ${r.output.trim()}`, { file: image });
    return { ok: false, output: `${r.output.trim()}${kernel ? `\nkernel messages about ${basename(device)}:\n${kernel}` : ""}`, result: r };
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * The kernel log's lines about a block device since `since` (seconds of uptime), from
 * `dmesg`, to explain a refused mount (loop device names are reused: older lines are about
 * another image). Empty when unreadable.
 */
export async function kernelMessages(device: string, since = 0, lines = 20): Promise<string> {
  const dmesg = findProgram("dmesg");
  if (dmesg === undefined) return "";
  const r = await runProcess(dmesg, [], { env: toolEnv(), timeoutMs: 10_000, keep: 256 << 10 });
  if (r.code !== 0) return "";
  const name = new RegExp(`\\b${basename(device)}\\b`);
  const mine = r.output.split("\n").filter((l) => {
    const t = /^\[\s*([0-9]+\.[0-9]+)\]/.exec(l);
    return name.test(l) && (t === null || Number(t[1]) >= since);
  });
  return mine.slice(-lines).join("\n");
}

/** Seconds since boot (the clock of the kernel log's time stamps), a little early to be safe. */
function uptime(): number {
  try {
    return Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) - 0.5;
  } catch {
    return 0;
  }
}
