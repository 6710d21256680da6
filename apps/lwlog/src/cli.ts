import { Command, CommanderError } from "commander";
// The error classes alone (not the reader, writer and index): `lwlog --version` needs no more.
import { LogFormatError, LogIoError, LwlogError, ioError } from "@lwlog/codec/errors";
import type { CommandContext, CommandModule, LazyCommand } from "./context.js";
import { CommandFailure, ExitCode, UsageError } from "./errors.js";
import { palette, type CliIo } from "./io.js";
import { commands } from "./commands/index.js";

export const VERSION = "0.1.0";

/**
 * Builds the `lwlog` program with the commands of `modules` (`loadCommands` gives them),
 * writing through `io`.
 */
export function createProgram(io: CliIo, setExit: (code: number) => void, modules: readonly CommandModule[]): Command {
  const program = new Command("lwlog");
  program
    .description("Inspect, replay, convert, diff and record dm-log-writes block-device write logs.")
    .version(VERSION, "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // The parser's errors are printed once, by `reportError`, in lwlog's own format.
      outputError: () => undefined,
    })
    .allowExcessArguments(false)
    // A command's options are its own: `lwlog crashes report DIR --json` is report's --json, not crashes'.
    .enablePositionalOptions();
  const ctx: CommandContext = {
    io,
    action:
      <A extends unknown[]>(fn: (...args: A) => Promise<number | void>) =>
      async (...args: A) => {
        const code = await fn(...args);
        setExit(code ?? ExitCode.OK);
      },
  };
  for (const mod of modules) mod.register(program, ctx);
  // A parser error names the command it came from, for the "--help" pointer of its message.
  for (const sub of program.commands) {
    sub.exitOverride((err) => {
      throw Object.assign(err, { command: sub.name() });
    });
  }
  return program;
}

const VERSION_FLAGS = new Set(["-V", "--version"]);

/**
 * The command modules a run with `argv` needs, loaded: when `argv` names a command (its first
 * word not starting with `-`, after nothing but version flags), that command's alone; none
 * for a bare `--version`; every one otherwise (the help's command list, `help CMD`, a
 * command name to suggest for a typo). Commander then parses, helps and errs exactly as with
 * every command registered: a run never reaches the other commands.
 */
export async function loadCommands(argv: readonly string[]): Promise<CommandModule[]> {
  const loaded = commands.filter((c): c is CommandModule => !isLazy(c));
  const lazy = commands.filter(isLazy);
  const at = argv.findIndex((a) => !a.startsWith("-"));
  const before = at < 0 ? argv : argv.slice(0, at);
  if (before.every((a) => VERSION_FLAGS.has(a))) {
    if (at < 0 && before.length > 0) return loaded;
    const named = at < 0 ? undefined : lazy.find((c) => c.name === argv[at]);
    if (named !== undefined) return [...loaded, await named.load()];
  }
  const all = await Promise.all(commands.map((c) => (isLazy(c) ? c.load() : c)));
  return all;
}

function isLazy(c: LazyCommand | CommandModule): c is LazyCommand {
  return "load" in c;
}

/**
 * Runs `lwlog` with `argv` (without the program name) and returns the exit code. Never
 * throws and never exits the process: tests call it directly.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exit: number = ExitCode.OK;
  try {
    const own = commands.find((c): c is LazyCommand => isLazy(c) && c.ownArgs === true && c.name === argv[0]);
    if (own !== undefined) {
      const mod = await own.load();
      if (mod.runArgs !== undefined) return await mod.runArgs(argv.slice(1), io);
    }
    const program = createProgram(
      io,
      (code) => {
        exit = code;
      },
      await loadCommands(argv),
    );
    await program.parseAsync([...argv], { from: "user" });
    return outputFailed(io, exit);
  } catch (err) {
    return outputFailed(io, reportError(err, io));
  }
}

/**
 * `code`, unless writing stdout failed for another reason than its reader going away (a full
 * disk, EIO): then the output is incomplete, which is trouble (exit 2), said on stderr.
 */
function outputFailed(io: CliIo, code: number): number {
  const failure = io.stdout.failure;
  if (failure === undefined || code === ExitCode.INTERRUPTED || code === ExitCode.BUG) return code;
  const err = ioError(failure, "<stdout>", "write the output");
  io.stderr.write(`lwlog: ${palette(io, io.stderr).red("error")}: ${err.describe()} [${err.code}]\n`);
  return ExitCode.USAGE;
}

/** Prints an error the way its kind deserves and returns the exit code. */
export function reportError(err: unknown, io: CliIo): number {
  const c = palette(io, io.stderr);
  if (err instanceof CommanderError) {
    // Commander has already printed the help or version text; its errors it leaves to us.
    // (A bare `lwlog` shows the help as an error: no command was given.)
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    io.stderr.write(`lwlog: ${c.red("error")}: ${parserMessage(err)} [LWLOG_USAGE]\n`);
    return ExitCode.USAGE;
  }
  if (err instanceof CommandFailure) {
    if (err.message) io.stderr.write(`lwlog: ${err.describe()}\n`);
    return err.exitCode;
  }
  if (err instanceof UsageError) {
    io.stderr.write(`lwlog: ${c.red("error")}: ${err.message} [${err.code}]\n`);
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

/**
 * Commander's message for a parser error (`error: unknown option '--untill-mark'` and a line
 * `(Did you mean --until-mark?)`) as one line of lwlog's: `unknown option '--untill-mark';
 * did you mean --until-mark? (lwlog replay --help shows the usage)`.
 */
function parserMessage(err: CommanderError): string {
  const [first = "", ...rest] = err.message.replace(/^error: /, "").split("\n");
  // "too many arguments for 'info'. Expected 1 argument but got 3." reads as one clause.
  let text = first.replace(/\.$/, "").replace(/\. Expected /, ": expected ");
  for (const line of rest) {
    const guess = /^\(Did you mean (.+)\?\)$/.exec(line.trim());
    if (guess) text += `; did you mean ${guess[1]}?`;
    else if (line.trim()) text += `; ${line.trim()}`;
  }
  const command = (err as CommanderError & { command?: string }).command;
  const help = err.code === "commander.unknownCommand" || command === undefined ? "lwlog --help lists the commands" : `lwlog ${command} --help shows the usage`;
  return `${text} (${help})`;
}
