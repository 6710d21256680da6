import { Command, CommanderError } from "commander";
import { LogFormatError, LogIoError, LwlogError } from "@lwlog/codec/core";
import type { CommandContext, CommandModule } from "./context.js";
import { CommandFailure, ExitCode, UsageError } from "./errors.js";
import { palette, type CliIo } from "./io.js";
import { commands } from "./commands/index.js";

export const VERSION = "0.1.0";

/** Builds the `lwlog` program with every command, writing through `io`. */
export function createProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command("lwlog");
  program
    .description("Inspect, replay, convert, diff and record dm-log-writes block-device write logs.")
    .version(VERSION, "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(s),
    })
    .showHelpAfterError("(run with --help for usage)")
    .allowExcessArguments(false);
  const ctx: CommandContext = {
    io,
    action:
      <A extends unknown[]>(fn: (...args: A) => Promise<number | void>) =>
      async (...args: A) => {
        const code = await fn(...args);
        setExit(code ?? ExitCode.OK);
      },
  };
  for (const mod of commands as CommandModule[]) mod.register(program, ctx);
  return program;
}

/**
 * Runs `lwlog` with `argv` (without the program name) and returns the exit code. Never
 * throws and never exits the process: tests call it directly.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exit: number = ExitCode.OK;
  const program = createProgram(io, (code) => {
    exit = code;
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exit;
  } catch (err) {
    return reportError(err, io);
  }
}

/** Prints an error the way its kind deserves and returns the exit code. */
export function reportError(err: unknown, io: CliIo): number {
  const c = palette(io, io.stderr);
  if (err instanceof CommanderError) {
    // Commander has already printed its message (or the help/version text).
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return ExitCode.OK;
    return ExitCode.USAGE;
  }
  if (err instanceof CommandFailure) {
    if (err.message) io.stderr.write(`lwlog: ${err.describe()}\n`);
    return err.exitCode;
  }
  if (err instanceof UsageError) {
    io.stderr.write(`lwlog: ${c.red("error")}: ${err.message}\n`);
    return ExitCode.USAGE;
  }
  if (err instanceof LogIoError) {
    io.stderr.write(`lwlog: ${c.red("error")}: ${err.describe()} [${err.code}]\n`);
    return ExitCode.USAGE;
  }
  if (err instanceof LogFormatError || err instanceof LwlogError) {
    io.stderr.write(`lwlog: ${c.red("error")}: ${err.describe()} [${err.code}]\n`);
    return ExitCode.FAILED;
  }
  const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
  io.stderr.write(`lwlog: internal error (this is a bug in lwlog; please report it with the command you ran):\n${stack}\n`);
  return ExitCode.BUG;
}
