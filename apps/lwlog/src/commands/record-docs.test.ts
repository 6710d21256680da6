/**
 * docs/driver.md's "Recording a filesystem workload for crash testing" script, run as written
 * (with `lwlog` on the PATH: the built CLI), in a fresh directory.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, repoRoot, requireTool, runAsync } from "@lwlog/testkit";
import { builtCli } from "./test-record.js";

const tmp = makeTempDir("lwlog-record-docs-");
afterAll(async () => {
  // The script unmounts and detaches on success; after a failure, undo what it left.
  const dir = join(tmp.path, "work");
  await runAsync("umount", ["-l", join(dir, "mnt")], { check: false });
  for (const line of (await runAsync("losetup", ["-j", join(dir, "fuse", "nbd")], { check: false })).stdout.split("\n")) {
    const dev = line.split(":")[0];
    if (dev) await runAsync("losetup", ["-d", dev], { check: false });
  }
  await runAsync("fusermount3", ["-uz", join(dir, "fuse")], { check: false });
  // The script's own background processes (the recorder, nbdfuse), found by the unique directory they name.
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)) process.kill(Number(pid), "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  tmp.cleanup();
});

/** The first ```sh block after `heading` in `file`. */
function script(file: string, heading: string): string {
  const text = readFileSync(file, "utf8");
  const at = text.indexOf(heading);
  expect(at, `${heading} in ${file}`).toBeGreaterThanOrEqual(0);
  const m = /```sh\n([\s\S]*?)```/.exec(text.slice(at));
  expect(m).not.toBeNull();
  return m![1]!;
}

describe("docs/driver.md", () => {
  it("the workload recording script runs as written and ends with every check passed", async () => {
    for (const t of ["nbdfuse", "fusermount3", "losetup", "mkfs.ext4", "mount", "fsfreeze", "e2fsck"]) requireTool(t);
    if (!existsSync(builtCli)) throw new Error(`${builtCli} is missing: run npx turbo run build --filter=lwlog... first`);
    const bin = join(tmp.path, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "lwlog"), `#!/bin/sh\nexec "${process.execPath}" "${builtCli}" "$@"\n`);
    chmodSync(join(bin, "lwlog"), 0o755);
    const dir = join(tmp.path, "work");
    mkdirSync(dir);
    const sh = script(join(repoRoot, "docs/driver.md"), "## Recording a filesystem workload for crash testing");
    const r = await runAsync("bash", ["-c", sh], { check: false, cwd: dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` }, timeoutMs: 240_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\d+ checkpoints \((\d+) passed, 0 failed\)/);
    expect(r.stdout).toMatch(/^20 states: 20 passed, 0 failed/m);
    expect(readFileSync(join(dir, "uri.txt"), "utf8")).toMatch(/^marks\s+4 \(last: lwlog-end/m);
  }, 300_000);
});
