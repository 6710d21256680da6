#!/usr/bin/env node
// `lwlog`: a committed stub that starts the built program, so that `npm ci` links it into
// node_modules/.bin before lwlog is built (npm links no bin whose file is missing).
import { notBuilt } from "./not-built.js";

try {
  await import("../dist/main.js");
} catch (err) {
  notBuilt(err, "dist/main.js", 2);
}
