#!/usr/bin/env node
// `lwlog-replay-log`: xfstests' replay-log as a drop-in (docs/cli.md, "lwlog replay-log").
// A committed stub that starts the built program, so that `npm ci` links it into
// node_modules/.bin before lwlog is built (npm links no bin whose file is missing).
import { notBuilt } from "./not-built.js";

try {
  await import("../dist/replay-log-main.js");
} catch (err) {
  notBuilt(err, "dist/replay-log-main.js", 1);
}
