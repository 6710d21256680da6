import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { requireTool, runAsync } from "@lwlog/testkit";
import { startServer, type TestServer } from "./test-support.js";

const MiB = 1024 * 1024;
let cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

/** Shows an export as a file through nbdfuse (libnbd in its default, strict mode). */
async function fuseExport(s: TestServer): Promise<string> {
  const dir = join(s.dir, "fuse");
  mkdirSync(dir);
  const pidFile = join(s.dir, "nbdfuse.pid");
  const fuse = spawn(requireTool("nbdfuse"), ["-P", pidFile, join(dir, "nbd"), s.uri], { stdio: "ignore" });
  cleanups.push(async () => {
    if (fuse.exitCode !== null) return;
    await runAsync("fusermount3", ["-u", dir], { check: false });
    if (fuse.exitCode === null) fuse.kill("SIGKILL");
  });
  for (let i = 0; i < 200 && !existsSync(pidFile) && fuse.exitCode === null; i++) await new Promise((r) => setTimeout(r, 25));
  if (!existsSync(pidFile)) throw new Error(`nbdfuse did not start (exit ${fuse.exitCode})`);
  return join(dir, "nbd");
}

function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

describe("requests without a payload past the maximum block size, from real clients", () => {
  it("nbdinfo sees the 32 MiB maximum; nbdfuse zeroes and punches 40 MiB in one request each", async () => {
    const s = await startServer({ size: 40 * MiB });
    cleanups.push(() => s.stop());
    const info = JSON.parse((await runAsync("nbdinfo", ["--json", s.uri])).stdout) as { exports: { block_size_maximum: number }[] };
    expect(info.exports[0]!.block_size_maximum).toBe(32 * MiB);

    const data = Buffer.alloc(4096, 0x5a);
    const at = 36 * MiB;
    const fd = openSync(s.image, "r+");
    try {
      writeSync(fd, data, 0, data.length, 0);
      writeSync(fd, data, 0, data.length, at);
    } finally {
      closeSync(fd);
    }
    const file = await fuseExport(s);

    // What a loop device does for BLKZEROOUT and BLKDISCARD over a FUSE file (mkfs does both).
    await runAsync("fallocate", ["--zero-range", "--offset", "0", "--length", String(40 * MiB), file]);
    await runAsync("fallocate", ["--punch-hole", "--offset", "0", "--length", String(40 * MiB), file]);
    expect(readAt(s.image, 0, 4096).equals(Buffer.alloc(4096))).toBe(true);
    expect(readAt(s.image, at, 4096).equals(Buffer.alloc(4096))).toBe(true);
    const big = s.backend.calls.filter((c) => (c.op === "writeZeroes" || c.op === "trim") && c.length > 32 * MiB);
    expect(big.map((c) => `${c.op} ${c.offset}+${c.length}`)).toEqual([`writeZeroes 0+${40 * MiB}`, `trim 0+${40 * MiB}`]);
  });
});
