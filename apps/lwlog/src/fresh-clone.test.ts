/**
 * A new user's first minutes, for real: a fresh copy of the repository (what git tracks, plus
 * new files not yet committed; nothing git ignores, so no node_modules and no dist), the
 * README's install command in it, then `lwlog` run the ways the README says, as root and as
 * a user without privileges. Slow by nature (a whole `npm ci`: about a minute, two on a
 * busy machine; the build comes from this checkout's turbo cache), but it is the only test
 * that can catch an install that works only here.
 */
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, repoRoot, requireTool } from "@lwlog/testkit";
import { docBlocks, outputDifferences, runDocBlock } from "./test-docs.js";

const tmp = makeTempDir("lwlog-fresh-clone-");
afterAll(() => tmp.cleanup());
const clone = join(tmp.path, "lwlog");
const readme = readFileSync(join(repoRoot, "README.md"), "utf8");

/** Runs `command` in the clone; `out` is its stdout, `err` its stderr. */
function sh(command: string, options: SpawnSyncOptions = {}): { status: number; out: string; err: string } {
  const r = spawnSync("bash", ["-c", command], { cwd: clone, encoding: "utf8", maxBuffer: 256 << 20, ...options, env: { ...cleanEnv(), ...options.env } });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, out: String(r.stdout ?? ""), err: String(r.stderr ?? "") };
}

/** The environment a user's shell has: none of npm's or vitest's variables, no lwlog on PATH. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|NODE_|VITEST|TURBO_HASH)/i.test(k) || k === "INIT_CWD") continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? "").split(":").filter((d) => !d.includes("node_modules")).join(":");
  env.NO_COLOR = "1";
  env.npm_config_update_notifier = "false";
  env.TURBO_TELEMETRY_DISABLED = "1";
  // This checkout's build cache: the clone's files are the same, so `npm start` restores their
  // build instead of compiling everything again (minutes on a busy machine).
  const cache = turboCache();
  if (cache !== undefined) env.TURBO_CACHE_DIR = cache;
  return env;
}

/** Where turbo keeps this checkout's cache: `.turbo/cache` beside the (main) git directory. */
function turboCache(): string | undefined {
  const r = spawnSync("git", ["rev-parse", "--path-format=absolute", "--git-common-dir"], { cwd: repoRoot, encoding: "utf8" });
  const dir = r.status === 0 ? join(dirname(r.stdout.trim()), ".turbo/cache") : join(repoRoot, ".turbo/cache");
  return existsSync(dir) ? dir : undefined;
}

/** The files of the working tree a clone would hold: `git ls-files` (tracked and new, not ignored). */
function trackedFiles(): string[] {
  const r = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`git ls-files failed in ${repoRoot} (this test needs a git checkout): ${r.stderr}`);
  return r.stdout.split("\0").filter(Boolean);
}

function copyTree(files: string[], to: string): void {
  for (const f of files) {
    const from = join(repoRoot, f);
    let st;
    try {
      st = lstatSync(from);
    } catch {
      continue; // deleted in the working tree, not yet committed
    }
    mkdirSync(dirname(join(to, f)), { recursive: true });
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(from), join(to, f));
    else copyFileSync(from, join(to, f));
    if (!st.isSymbolicLink()) chmodSync(join(to, f), st.mode & 0o777);
  }
}

describe("a fresh clone, installed as the README says", () => {
  it("npm ci && npm start, then lwlog through npx and on PATH as the README says, as root and as an ordinary user", () => {
    requireTool("git");
    copyTree(trackedFiles(), clone);
    expect(readdirSync(clone)).not.toContain("node_modules");

    const install = /^npm ci && npm start\b/m.exec(readme);
    expect(install, "the README's install line").not.toBeNull();
    // The README's install command; npm's cache (filled by this checkout's own install) is used first.
    const ci = sh("npm ci --no-audit --no-fund", { env: { npm_config_prefer_offline: "true" } });
    expect(ci.status, ci.out + ci.err).toBe(0);
    // Linked at install, before anything is built; run now, it says what to do.
    const early = sh("npx --no-install lwlog --version");
    expect([early.status, early.out, early.err]).toEqual([2, "", expect.stringMatching(/^lwlog: error: lwlog is not built .*: run `npm start` or `npm run build` in the repository first \[LWLOG_NOT_BUILT\]\n$/)]);

    const start = sh("npm start");
    expect(start.status, start.out + start.err).toBe(0);
    expect(start.out).toMatch(/^sector size +512 bytes$/m); // lwlog info of the bundled log
    expect(start.out).toMatch(/^ +0 +512 +start$/m); // and its marks

    expect(sh("npx lwlog --version")).toEqual({ status: 0, out: "0.1.0\n", err: "" });
    const sub = sh("cd test-data/kernel && npx lwlog find raw-512.log --mark start");
    expect(sub).toEqual({ status: 0, out: "0\n", err: "" });

    // The README's PATH line, then its first example, compared with the output it shows.
    const exportLine = /^export PATH=.*$/m.exec(readme)![0];
    const first = docBlocks(readme).find((b) => b.commands.some((c) => c.command.startsWith("lwlog info")))!;
    const block = { ...first, commands: [{ line: 0, command: exportLine, expected: [] }, ...first.commands] };
    const env = { ...cleanEnv(), HOME: tmp.path };
    for (const r of runDocBlock(block, clone, env)) {
      expect(r.status, r.command.command).toBe(0);
      expect(outputDifferences(r, [[clone, "/work/main"]])).toBe("");
    }

    // An ordinary user (nobody), with the clone readable to all as a checkout in a home is.
    if (process.getuid?.() === 0) {
      for (let d = clone; d !== dirname(tmp.path); d = dirname(d)) chmodSync(d, 0o755);
      const home = join(tmp.path, "home");
      mkdirSync(home);
      spawnSync("chown", ["65534:65534", home]);
      const setpriv = requireTool("setpriv");
      const asUser = (command: string) => sh(`${setpriv} --reuid=65534 --regid=65534 --clear-groups bash -c '${command}'`, { env: { HOME: home } });
      const onPath = asUser(`${exportLine}; cd test-data/kernel && lwlog find ext4-4k.log --mark files && id -u`);
      expect(onPath).toEqual({ status: 0, out: "256\n65534\n", err: "" });
      const viaNpx = asUser("npx lwlog find test-data/kernel/ext4-4k.log --mark rm");
      expect(viaNpx).toEqual({ status: 0, out: "293\n", err: "" });
    }
  }, 900_000); // a whole npm ci: minutes on a busy machine
});
