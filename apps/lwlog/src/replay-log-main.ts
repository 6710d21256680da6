#!/usr/bin/env node
// `lwlog-replay-log`: `lwlog replay-log` as a program of its own, to link where xfstests looks
// for its replay-log (`$here/src/log-writes/replay-log`). It loads neither commander nor the
// other commands: fstests starts it once per replay or search.
import { runReplayLog } from "./commands/replay-log.js";
import { processIo } from "./io.js";

for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
}

process.exitCode = await runReplayLog(process.argv.slice(2), processIo());
