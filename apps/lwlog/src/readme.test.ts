import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TOOL_PACKAGES, makeTempDir, repoRoot } from "@lwlog/testkit";
import { docBlocks, outputDifferences, runDocBlock, type PathMap } from "./test-docs.js";

const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const ciRun = readFileSync(join(repoRoot, ".ci/run"), "utf8");

/** The packages `.ci/run` installs: its `packages=(...)` list, then what its `packages+=(...)` lines add (some only where a tool is missing). */
function ciPackages(): string[] {
  const m = /^packages=\(([^)]*)\)$/m.exec(ciRun);
  if (!m) throw new Error(".ci/run has no packages=(...) line");
  const added = [...ciRun.matchAll(/packages\+=\(([^)]*)\)/g)].flatMap((a) => a[1]!.trim().split(/\s+/));
  return [...m[1]!.trim().split(/\s+/), ...added];
}

describe("README.md: installing", () => {
  it("gives the one apt-get line, with exactly the packages .ci/run installs (and every package a test names)", () => {
    const lines = readme.split("\n").filter((l) => /\bapt-get install\b/.test(l));
    expect(lines).toHaveLength(1);
    const words = lines[0]!.trim().split(/\s+/);
    const listed = words.slice(words.indexOf("install") + 1).filter((w) => !w.startsWith("-"));
    expect(listed).toEqual(ciPackages());
    for (const [tool, pkg] of Object.entries(TOOL_PACKAGES)) {
      if (pkg === "bsdutils" || pkg === "diffutils" || pkg === "coreutils") continue; // essential packages, on every Debian system
      expect(ciPackages(), `${tool} (TOOL_PACKAGES) comes from ${pkg}`).toContain(pkg);
    }
  });

  it("says the native addon needs g++, make and python3, and what is lost without it", () => {
    const para = readme.slice(readme.indexOf("`g++`, `make` and `python3`"), readme.indexOf("Node.js 20.19"));
    expect(para).toMatch(/native addon/);
    expect(para).toMatch(/copy_file_range/);
    expect(para).toMatch(/fallocate/);
    expect(para).toMatch(/pure-JS fallbacks/);
    for (const tool of ["g++", "make", "python3"]) expect(ciPackages()).toContain(tool);
  });

  it("says how to get lwlog on PATH, and npm's install linked it there", () => {
    expect(readme).toContain('export PATH="$PWD/node_modules/.bin:$PATH"');
    expect(existsSync(join(repoRoot, "node_modules/.bin/lwlog")), "node_modules/.bin/lwlog (npm ci links it)").toBe(true);
  });
});

describe("README.md: every example runs as written", () => {
  const tmp = makeTempDir("lwlog-readme-");
  afterAll(() => tmp.cleanup());
  const tour = join(tmp.path, "tour");

  it("each $ command of its console and sh blocks, with lwlog on PATH as the README says: exit 0 and the output shown", () => {
    const blocks = docBlocks(readme);
    const commands = blocks.flatMap((b) => b.commands);
    expect(commands.length).toBeGreaterThan(20);
    expect(commands.filter((c) => /^lwlog /.test(c.command)).length).toBeGreaterThan(15);
    // The scratch directory of the README: the repository's test-data linked into it.
    mkdirSync(tour, { recursive: true });
    symlinkSync(join(repoRoot, "test-data"), join(tour, "test-data"));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}`, NO_COLOR: "1" };
    delete env.FORCE_COLOR;
    const paths: PathMap = [
      [join(tour, "test-data"), "/work/main/test-data"],
      [tour, "/tmp/tour"],
      [repoRoot, "/work/main"],
    ];
    const failures: string[] = [];
    for (const block of blocks) {
      const inTour = { ...block, commands: block.commands.map((c) => ({ ...c, command: c.command.split("/tmp/tour").join(tour) })) };
      for (const r of runDocBlock(inTour, tour, env)) {
        const original = block.commands.find((c) => c.line === r.command.line)!;
        if (r.status !== 0) failures.push(`$ ${original.command} (line ${original.line}) exited ${r.status}:\n${r.output.join("\n")}`);
        const diff = outputDifferences({ ...r, command: original }, paths);
        if (diff) failures.push(diff);
      }
    }
    expect(failures.join("\n\n")).toBe("");
  }, 600_000); // some 30 commands, each a process (and 38 e2fsck runs): over a minute on a busy machine
});
