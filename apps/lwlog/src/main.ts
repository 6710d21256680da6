#!/usr/bin/env node
import { runCli } from "./cli.js";
import { processIo } from "./io.js";

// A closed pipe (`lwlog dump LOG | head`) is the reader saying it has enough: the command
// stops writing, quietly, and exits with its own status (`diff` still 1 for "different";
// see "Exit codes" in docs/cli.md). `processIo` sees to it; no `process.exit` here, which
// would cut a command short and replace its status.
process.exitCode = await runCli(process.argv.slice(2), processIo());
