import { LwlogError } from "@lwlog/codec/errors";

/** Exit codes of every lwlog command (docs/cli.md lists them). */
export const ExitCode = {
  /** Success: the command did what was asked; `check` found the log valid; `diff` found no difference. */
  OK: 0,
  /** The log is bad, a check failed, what was looked for does not exist, or (diff) the logs differ. */
  FAILED: 1,
  /** Usage error: bad arguments, or a file named on the command line cannot be opened. */
  USAGE: 2,
  /** Interrupted (SIGINT) before finishing. */
  INTERRUPTED: 130,
  /** A bug in lwlog: an error nobody planned for. The message asks for a report. */
  BUG: 70,
} as const;

/** The user's mistake: printed without a stack trace, exit 2. */
export class UsageError extends LwlogError {
  constructor(message: string) {
    super("LWLOG_USAGE", message);
  }
}

/**
 * A command's negative answer that is not a bug: a failed check, a missing mark, two logs
 * that differ. Carries the exit code; the message (if any) goes to stderr.
 */
export class CommandFailure extends LwlogError {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = ExitCode.FAILED, code = "LWLOG_FAILED") {
    super(code, message);
    this.exitCode = exitCode;
  }

  /** The message as lwlog wrote it (colours included: what it quotes was made printable already). */
  override describe(): string {
    return this.message;
  }
}

/**
 * Adds what to do next to an error's message (`…; --append adds to it`), keeping its class,
 * code and location, and returns it for `throw`.
 */
export function withHint<E extends LwlogError>(err: E, hint: string): E {
  err.message = `${err.message}; ${hint}`;
  return err;
}
