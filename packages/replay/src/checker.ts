import { spawn } from "node:child_process";

/** Where a checkpoint is: the entry just applied, and what the checker is told. */
export interface Checkpoint {
  /** Index of the entry after which the checkpoint runs (it has been applied and the target synced). */
  entry: number;
  /** 1-based number of this checkpoint in the replay. */
  ordinal: number;
  /** The mark's name, when the entry is a mark. */
  mark?: string;
  /** Flag names of the entry (`FLUSH`, `FUA`, …). */
  flags: string[];
  /** Path of the log. */
  log: string;
  /** Path of the target. */
  image: string;
}

/** What a checker said about a checkpoint. */
export interface CheckOutcome {
  ok: boolean;
  /** The command's exit status (null when it was killed by a signal). */
  exitCode?: number | null;
  signal?: string | null;
  /** The last part of what the command printed (stdout and stderr, interleaved). */
  output?: string;
}

/** Something that checks the target at a checkpoint: `execChecker` runs a shell command. */
export type Checker = (point: Checkpoint) => Promise<CheckOutcome> | CheckOutcome;

/** Bytes of a checker's output kept for the report (the end of it). */
const OUTPUT_KEEP = 16 << 10;

/** Quotes a string for `sh` (single quotes). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Options of `execChecker`. */
export interface ExecCheckerOptions {
  /** The command's environment, before the `LWLOG_*` variables are added (default `process.env`). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Replace `{image}` and `{entry}` in the command (default true); false runs it as given, as `system(3)` would. */
  placeholders?: boolean;
  /** Also pass the command's output on as it comes (replay-log's `--fsck` prints it), not only keep its end. */
  onOutput?: (chunk: Uint8Array, stream: "stdout" | "stderr") => void;
}

/**
 * A checker that runs `command` with `sh -c` at each checkpoint: `{image}` in it becomes the
 * target's path (quoted for the shell, so do not quote it again), `{entry}` the entry index,
 * and the environment gets `LWLOG_ENTRY`, `LWLOG_CHECKPOINT`, `LWLOG_FLAGS`, `LWLOG_LOG`,
 * `LWLOG_IMAGE` and, at a mark, `LWLOG_MARK`. Exit status 0 passes; anything else (a signal
 * included) fails. The command's output is kept (its last 16 KiB) for the report, and
 * printed only through `onOutput`.
 */
export function execChecker(command: string, options: ExecCheckerOptions = {}): Checker {
  return (point) =>
    new Promise<CheckOutcome>((resolve) => {
      const cmd = options.placeholders === false ? command : command.replaceAll("{image}", shellQuote(point.image)).replaceAll("{entry}", String(point.entry));
      const env: Record<string, string | undefined> = {
        ...(options.env ?? process.env),
        LWLOG_ENTRY: String(point.entry),
        LWLOG_CHECKPOINT: String(point.ordinal),
        LWLOG_FLAGS: point.flags.join("|"),
        LWLOG_LOG: point.log,
        LWLOG_IMAGE: point.image,
      };
      if (point.mark !== undefined) env.LWLOG_MARK = point.mark;
      else delete env.LWLOG_MARK;
      const child = spawn("/bin/sh", ["-c", cmd], { env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      const keep = (chunk: Buffer) => {
        out += chunk.toString("utf8");
        if (out.length > 2 * OUTPUT_KEEP) out = out.slice(-OUTPUT_KEEP);
      };
      const pass = options.onOutput;
      child.stdout.on("data", (chunk: Buffer) => {
        pass?.(chunk, "stdout");
        keep(chunk);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        pass?.(chunk, "stderr");
        keep(chunk);
      });
      child.on("error", (err) => resolve({ ok: false, exitCode: null, signal: null, output: `cannot run /bin/sh: ${err.message}` }));
      child.on("close", (code, signal) => {
        resolve({ ok: code === 0, exitCode: code, signal, output: out.length > OUTPUT_KEEP ? out.slice(-OUTPUT_KEEP) : out });
      });
    });
}
