#!/usr/bin/env node
import { runCli } from "./cli.js";
import { processIo } from "./io.js";

// A closed pipe (`lwlog dump LOG | head`) is the reader saying it has enough: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
}

const code = await runCli(process.argv.slice(2), processIo());
process.exitCode = code;
