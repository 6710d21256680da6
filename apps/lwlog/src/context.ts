import type { Command } from "commander";
import type { CliIo } from "./io.js";

/** What every command's `register` gets: the I/O, and a wrapper for its action. */
export interface CommandContext {
  io: CliIo;
  /**
   * Wraps a command's action: the action returns its exit code (or nothing for 0). Errors
   * it throws are reported by `runCli` (usage errors and `LwlogError`s without a stack).
   */
  action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void>;
}

/** A command module: `register` adds the command (its options and help) to the program. */
export interface CommandModule {
  register(program: Command, ctx: CommandContext): void;
  /**
   * For a command that parses its own arguments (`replay-log`, whose options follow a C
   * tool's getopt): runs it with the arguments after its name, untouched by commander, and
   * returns the exit code.
   */
  runArgs?(argv: readonly string[], io: CliIo): Promise<number>;
}

/** A command whose module is imported only when it is needed (see `commands/index.ts`). */
export interface LazyCommand {
  /** The command's name, as `register` names it. */
  name: string;
  /** True when the module's `runArgs` takes the command's arguments raw (see `CommandModule.runArgs`). */
  ownArgs?: boolean;
  load(): Promise<CommandModule>;
}
