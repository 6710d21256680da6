import { runProcess, type ViewStrategy } from "@lwlog/scratch";

/** Where a checkpoint is: the entry just applied, and the scratch view the checker is given. */
export interface Checkpoint {
  /** Index of the entry after which the checkpoint runs (it has been applied to the target). */
  entry: number;
  /** 1-based number of this checkpoint in the replay. */
  ordinal: number;
  /** The mark's name, when the entry is a mark. */
  mark?: string;
  /** Flag names of the entry (`FLUSH`, `FUA`, …). */
  flags: string[];
  /**
   * The id of the state judged (`LWLOG_STATE`). At a replay checkpoint the state is the log's
   * prefix up to `entry`, and its id is that entry index in decimal.
   */
  state: string;
  /** Path of the log. */
  log: string;
  /**
   * Path of the checkpoint's scratch view: a copy-on-write view of the target's state, which
   * the checker may mount, recover and repair; the target itself is handed out only when the
   * replay asked for it (`check.onTarget`, replay-log's way).
   */
  image: string;
  /** The view as an NBD URI (`nbd+unix:///view?socket=…`), when asked for (`check.nbd`). */
  nbd?: string;
  /** How the view was made: `reflink`, `overlay` or `copy`; `target` when there is none (`check.onTarget`). */
  view: ViewStrategy | "target";
  /** Path of the replay target (the state's origin; for messages, never to be written). */
  target: string;
}

/** What a checker said about a checkpoint. */
export interface CheckOutcome {
  ok: boolean;
  /** One line saying why it failed (or what passed), when the checker has more to say than an exit status. */
  summary?: string;
  /** The command's exit status (null when it was killed by a signal). */
  exitCode?: number | null;
  signal?: string | null;
  /** The last part of what the command printed (stdout and stderr, interleaved). */
  output?: string;
}

/** What a checker is given besides the checkpoint. */
export interface CheckContext {
  /** Aborted when the user interrupts: stop at once (kill what runs); the checkpoint then counts as interrupted, never as failed. */
  signal?: AbortSignal;
}

/** Something that checks the state at a checkpoint: `execChecker` runs a shell command. */
export type Checker = (point: Checkpoint, context: CheckContext) => Promise<CheckOutcome> | CheckOutcome;

/** Bytes of a checker's output kept for the report (the end of it). */
const OUTPUT_KEEP = 16 << 10;

/** Quotes a string for `sh` (single quotes). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** True when `command` uses the NBD URI (`{nbd}` or `$LWLOG_NBD`): views are then served over NBD too. */
export function usesNbd(command: string): boolean {
  return command.includes("{nbd}") || /\$\{?LWLOG_NBD\b/.test(command);
}

/** Options of `execChecker`. */
export interface ExecCheckerOptions {
  /** The command's environment, before the `LWLOG_*` variables are added (default `process.env`). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Replace `{image}`, `{nbd}` and `{entry}` in the command (default true); false runs it as given, as `system(3)` would. */
  placeholders?: boolean;
  /** Also pass the command's output on as it comes (replay-log's `--fsck` prints it), not only keep its end. */
  onOutput?: (chunk: Uint8Array, stream: "stdout" | "stderr") => void;
}

/**
 * A checker that runs `command` with `sh -c` at each checkpoint, on the checkpoint's scratch
 * view: `{image}` in it becomes the view's path and `{nbd}` its NBD URI (quoted for the
 * shell, so do not quote them again), `{entry}` the entry index; the environment gets
 * `LWLOG_ENTRY`, `LWLOG_STATE`, `LWLOG_CHECKPOINT`, `LWLOG_FLAGS`, `LWLOG_LOG`, `LWLOG_IMAGE`,
 * `LWLOG_VIEW`, `LWLOG_TARGET`, and `LWLOG_MARK` at a mark, `LWLOG_NBD` when served. Exit
 * status 0 passes; anything else fails. The command runs in its own process group: whatever
 * it leaves running is killed when it exits, and all of it when the context's signal aborts.
 * Its output is kept (its last 16 KiB) for the report, and printed only through `onOutput`.
 */
export function execChecker(command: string, options: ExecCheckerOptions = {}): Checker {
  return async (point, context) => {
    const cmd =
      options.placeholders === false
        ? command
        : command
            .replaceAll("{image}", shellQuote(point.image))
            .replaceAll("{nbd}", point.nbd !== undefined ? shellQuote(point.nbd) : "''")
            .replaceAll("{entry}", String(point.entry));
    const env: Record<string, string | undefined> = {
      ...(options.env ?? process.env),
      LWLOG_ENTRY: String(point.entry),
      LWLOG_STATE: point.state,
      LWLOG_CHECKPOINT: String(point.ordinal),
      LWLOG_FLAGS: point.flags.join("|"),
      LWLOG_LOG: point.log,
      LWLOG_IMAGE: point.image,
      LWLOG_VIEW: point.view,
      LWLOG_TARGET: point.target,
    };
    if (point.mark !== undefined) env.LWLOG_MARK = point.mark;
    else delete env.LWLOG_MARK;
    if (point.nbd !== undefined) env.LWLOG_NBD = point.nbd;
    else delete env.LWLOG_NBD;
    const r = await runProcess("/bin/sh", ["-c", cmd], {
      env,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(context.signal ? { signal: context.signal } : {}),
      keep: OUTPUT_KEEP,
      ...(options.onOutput !== undefined ? { onOutput: options.onOutput } : {}),
    });
    if (r.error !== undefined) return { ok: false, exitCode: null, signal: null, output: `cannot run /bin/sh: ${r.error.message}` };
    return { ok: r.code === 0, exitCode: r.code, signal: r.signal, output: r.output };
  };
}

/**
 * Runs checkers one after the other on the same checkpoint (a file system judge, then a
 * command on the recovered view), stopping at the first that fails; the outcome is that one's,
 * or the last one's.
 */
export function sequenceCheckers(checkers: readonly Checker[]): Checker {
  return async (point, context) => {
    let last: CheckOutcome = { ok: true };
    for (const check of checkers) {
      last = await check(point, context);
      if (!last.ok || context.signal?.aborted) return last;
    }
    return last;
  };
}
