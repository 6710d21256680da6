/** The `lwlog` command as a library: `runCli(argv, io)` runs it in-process. */
export { runCli, createProgram, loadCommands, reportError, VERSION } from "./cli.js";
export { ExitCode, UsageError, CommandFailure } from "./errors.js";
export { processIo, Output, palette, useColor, type CliIo, type OutStream } from "./io.js";
