import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Options of `runProcess`. */
export interface ProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Aborting kills the process group (SIGTERM, then SIGKILL after `graceMs`); the result says `aborted`. */
  signal?: AbortSignal;
  /** Kill the process group after this long (the result says `timedOut`). */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL (default 2000 ms). */
  graceMs?: number;
  /** Standard output goes here instead of into `output` (binary data, a file's bytes). */
  onStdout?: (chunk: Buffer) => void;
  /** Every chunk of output as it comes, besides keeping it (not standard output's when `onStdout` takes it). */
  onOutput?: (chunk: Uint8Array, stream: "stdout" | "stderr") => void;
  /** Characters of output kept (the end of it); default 16 KiB. */
  keep?: number;
}

/** How a process ended. */
export interface ProcessResult {
  /** Exit status, or null when killed by a signal or never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last `keep` characters of what it printed (stdout and stderr, interleaved). */
  output: string;
  /** Set when the process could not be started (ENOENT…). */
  error?: Error;
  aborted: boolean;
  timedOut: boolean;
}

const DEFAULT_KEEP = 16 << 10;

/**
 * Runs a program in its own process group, without blocking the event loop (an NBD server
 * in this process may be what the program reads through a FUSE file or loop device: a
 * synchronous wait would deadlock). When the program ends, whatever it left running in its
 * group is killed too, so nothing it started outlives it (a background job holding a view).
 */
export function runProcess(command: string, args: readonly string[], options: ProcessOptions = {}): Promise<ProcessResult> {
  const keep = options.keep ?? DEFAULT_KEEP;
  return new Promise((resolve) => {
    let output = "";
    let aborted = false;
    let timedOut = false;
    const add = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.length > 2 * keep) output = output.slice(-keep);
    };
    if (options.signal?.aborted) {
      resolve({ code: null, signal: null, output: "", aborted: true, timedOut: false });
      return;
    }
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const group = child.pid;
    const killGroup = (sig: NodeJS.Signals) => {
      if (group === undefined) return;
      try {
        process.kill(-group, sig);
      } catch {
        // ESRCH: the group is gone already
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      killGroup("SIGTERM");
      killTimer ??= setTimeout(() => killGroup("SIGKILL"), options.graceMs ?? 2000);
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            stop();
          }, options.timeoutMs)
        : undefined;
    const pass = options.onOutput;
    child.stdout.on("data", options.onStdout ?? (pass ? (chunk: Buffer) => (pass(chunk, "stdout"), add(chunk)) : add));
    child.stderr.on("data", pass ? (chunk: Buffer) => (pass(chunk, "stderr"), add(chunk)) : add);
    let startError: Error | undefined;
    child.on("error", (err) => {
      startError = err;
    });
    child.on("close", (code, signal) => {
      options.signal?.removeEventListener("abort", onAbort);
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      killGroup("SIGKILL");
      const result: ProcessResult = { code, signal, output: output.length > keep ? output.slice(-keep) : output, aborted, timedOut };
      if (startError !== undefined) result.error = startError;
      resolve(result);
    });
  });
}

const PATH_EXTRA = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/** Full path of a program on PATH (plus the sbin directories, where mount tools live), or undefined. */
export function findProgram(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of [...(env.PATH ?? "").split(delimiter), ...PATH_EXTRA]) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The environment tools are run in: the C locale, so their messages can be read. */
export function toolEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, LC_ALL: "C", LANG: "C", LANGUAGE: "" };
}

/** A program's exit as words: `exit status 4`, `killed by SIGKILL`, `could not be started: …`. */
export function describeExit(r: ProcessResult): string {
  if (r.error !== undefined) return `could not be started: ${r.error.message}`;
  if (r.timedOut) return "timed out (killed)";
  if (r.signal) return `killed by ${r.signal}`;
  return `exit status ${r.code}`;
}
