import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ScratchError, ScratchErrorCodes } from "./errors.js";
import { findProgram, runProcess, toolEnv } from "./process.js";

const MOUNT_TIMEOUT_MS = 30_000;
const EXIT_WAIT_MS = 5_000;

/** Whether nbdfuse can show an NBD export as a file here, and if not, why. */
export function fuseSupport(): { ok: true } | { ok: false; reason: string } {
  if (findProgram("nbdfuse") === undefined) return { ok: false, reason: "nbdfuse is not installed (Debian: apt-get install libnbd-bin fuse3)" };
  if (findProgram("fusermount3") === undefined) return { ok: false, reason: "fusermount3 is not installed (Debian: apt-get install fuse3)" };
  if (!existsSync("/dev/fuse")) return { ok: false, reason: "there is no /dev/fuse: this system (or container) has no FUSE" };
  return { ok: true };
}

/**
 * An NBD export shown as a regular file by nbdfuse (one process, one mount, one file:
 * `DIR/nbd`). A fresh mount per view: a new mount is a new inode, so no page of an earlier
 * view's file can be read from the page cache.
 *
 * Invariants: after `mount` resolves, `path` is readable and writable through the export;
 * `unmount` always leaves the directory unmounted and the nbdfuse process gone, even when
 * the file is busy (a lazy unmount) or nbdfuse hangs (it is killed).
 */
export class FuseFile {
  readonly dir: string;
  readonly path: string;
  private readonly child: ChildProcess;
  private exited: Promise<void>;
  private done = false;

  private constructor(dir: string, child: ChildProcess, exited: Promise<void>) {
    this.dir = dir;
    this.path = join(dir, "nbd");
    this.child = child;
    this.exited = exited;
  }

  /** Mounts the export served on the Unix socket `socket` at `dir` (created if missing). */
  static async mount(dir: string, socket: string, options: { readOnly?: boolean } = {}): Promise<FuseFile> {
    const support = fuseSupport();
    if (!support.ok) throw new ScratchError(ScratchErrorCodes.UNSUPPORTED, `cannot show the view as a file: ${support.reason}`);
    mkdirSync(dir, { recursive: true });
    const pidFile = `${dir}.pid`;
    const args = ["-P", pidFile, ...(options.readOnly ? ["-r"] : []), dir, "--unix", socket];
    const child = spawn(findProgram("nbdfuse")!, args, { stdio: ["ignore", "ignore", "pipe"], detached: true, env: toolEnv() });
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => {
      if (stderr.length < 8192) stderr += b.toString("utf8");
    });
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      child.once("close", () => resolve());
      child.once("error", () => resolve());
    });
    const fuse = new FuseFile(dir, child, exited);
    const started = Date.now();
    let gone = false;
    void exited.then(() => (gone = true));
    for (;;) {
      if (gone) throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `nbdfuse could not show the view as a file: ${stderr.trim() || `it exited with status ${child.exitCode}`}`, { file: dir });
      if (readPid(pidFile)) break;
      if (Date.now() - started > MOUNT_TIMEOUT_MS) {
        await fuse.unmount();
        throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `nbdfuse did not mount ${dir} within ${MOUNT_TIMEOUT_MS / 1000} s`, { file: dir });
      }
      await new Promise((r) => setTimeout(r, 3));
    }
    return fuse;
  }

  /** Unmounts (lazily when busy) and waits for nbdfuse to exit, killing it if it does not. Idempotent. */
  async unmount(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const fusermount = findProgram("fusermount3") ?? "fusermount3";
    const r = await runProcess(fusermount, ["-u", this.dir], { env: toolEnv(), timeoutMs: EXIT_WAIT_MS });
    if (r.code !== 0) await runProcess(fusermount, ["-u", "-z", this.dir], { env: toolEnv(), timeoutMs: EXIT_WAIT_MS });
    if (await settles(this.exited, EXIT_WAIT_MS)) return;
    killGroup(this.child, "SIGTERM");
    if (await settles(this.exited, EXIT_WAIT_MS)) return;
    killGroup(this.child, "SIGKILL");
    await settles(this.exited, EXIT_WAIT_MS);
    // A killed nbdfuse leaves its mount behind ("transport endpoint is not connected").
    await runProcess(fusermount, ["-u", "-z", this.dir], { env: toolEnv(), timeoutMs: EXIT_WAIT_MS });
  }
}

function readPid(file: string): boolean {
  try {
    return /^[0-9]+\s*$/.test(readFileSync(file, "utf8"));
  } catch {
    return false;
  }
}

async function settles(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const r = await Promise.race([p.then(() => true), timeout]);
  clearTimeout(timer);
  return r;
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // gone
  }
}
