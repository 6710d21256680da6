#!/usr/bin/env node
// Compiles the addon (csrc/lwlog_native.c) with node-gyp into build/Release/lwlog_native.node.
//
//   node scripts/build-addon.mjs              rebuild unless the addon is newer than its sources
//   node scripts/build-addon.mjs --if-missing build only when there is no addon (npm's install step)
//   node scripts/build-addon.mjs --force      always rebuild
//
// node-gyp is npm's own ($npm_config_node_gyp, set when npm runs this script) or the one next
// to npm; the headers come from $npm_config_nodedir or from the Node.js installation itself
// (<prefix>/include/node), never from the network. A failed build is reported and the script
// still exits 0: lwlog then runs on the pure-JS fallbacks, and `native.available` says so
// (a test asserts it is true when CI=true, so CI cannot silently lose the fast path).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const addon = join(pkg, "build/Release/lwlog_native.node");
const args = new Set(process.argv.slice(2));
const say = (msg) => console.error(`@lwlog/native: ${msg}`);

if (process.platform !== "linux") {
  say(`not built: the addon is Linux-only (this is ${process.platform}); lwlog uses its pure-JS fallbacks`);
  process.exit(0);
}
if (!args.has("--force") && existsSync(addon)) {
  if (args.has("--if-missing")) process.exit(0);
  const built = statSync(addon).mtimeMs;
  const sources = [join(pkg, "binding.gyp"), fileURLToPath(import.meta.url), ...readdirSync(join(pkg, "csrc")).map((f) => join(pkg, "csrc", f))];
  if (sources.every((f) => statSync(f).mtimeMs < built)) process.exit(0);
}

const prefix = resolve(dirname(process.execPath), "..");
const gyp = [
  process.env.npm_config_node_gyp,
  join(prefix, "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"),
  tryResolve("node-gyp/bin/node-gyp.js"),
].find((p) => p !== undefined && p !== "" && existsSync(p));
if (gyp === undefined) {
  say("not built: node-gyp was not found (run the build through npm, which ships it); lwlog uses its pure-JS fallbacks");
  process.exit(0);
}
const nodedir = process.env.npm_config_nodedir || (existsSync(join(prefix, "include/node/node_api.h")) ? prefix : undefined);
const argv = [gyp, "rebuild", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, argv, { cwd: pkg, encoding: "utf8" });
if (r.status === 0 && existsSync(addon)) {
  say(`built ${addon}`);
  process.exit(0);
}
const output = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-25).join("\n");
say(
  `NOT BUILT: node-gyp ${argv.slice(1).join(" ")} failed (${r.error?.message ?? `exit ${r.status}`}); lwlog will use its slower pure-JS ` +
    `fallbacks. It needs python3, make and a C/C++ compiler (g++), and the Node.js headers.\n${output}`,
);
process.exit(0);

function tryResolve(spec) {
  try {
    return createRequire(import.meta.url).resolve(spec);
  } catch {
    return undefined;
  }
}
