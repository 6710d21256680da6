import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { makeTempDir, randomBytes, requireTool, run } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-diff-edges-");
afterAll(() => tmp.cleanup());
const main = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

/** A log of a few writes (one of 5 MiB: hashed in pieces), a flush and a mark; `variant` changes one write's data. */
async function writesLog(path: string, variant: number): Promise<string> {
  const w = await LogWriter.create(path, { sectorSize: 512 });
  await w.write(0n, randomBytes(4096, 1));
  await w.write(64n, randomBytes(5 << 20, 2));
  await w.flush();
  await w.mark("half");
  await w.write(32768n, randomBytes(4096, 3 + variant));
  await w.write(40000n, randomBytes(512, 4));
  await w.close();
  return path;
}

describe("lwlog diff under an address-space limit (ulimit -v, prlimit --as)", () => {
  it("compares as without the limit, with the addon and without it (no WebAssembly memory to reserve)", async () => {
    requireTool("prlimit");
    expect(existsSync(main), "build lwlog first (turbo builds before testing)").toBe(true);
    const a = await writesLog(join(tmp.path, "as-a.log"), 0);
    const b = await writesLog(join(tmp.path, "as-b.log"), 1);
    const want = await runLwlog(["diff", "--json", "--state", a, b]);
    expect(want.code).toBe(1);
    // 2 GB: far more than lwlog needs, far less than the ~10 GiB one WebAssembly memory reserves.
    for (const env of [{}, { LWLOG_NO_NATIVE: "1" }]) {
      const limited = run("prlimit", ["--as=2000000000", process.execPath, main, "diff", "--json", "--state", a, b], {
        check: false,
        env: { ...process.env, ...env },
      });
      expect(limited.stderr).toBe("");
      expect(limited.status).toBe(1);
      expect(JSON.parse(limited.stdout)).toEqual(JSON.parse(want.stdout));
      const same = run("prlimit", ["--as=2000000000", process.execPath, main, "diff", a, a], { check: false, env: { ...process.env, ...env } });
      expect(same.status, same.stderr).toBe(0);
    }
  });
});

/**
 * A log `check` calls valid whose entries without data sit at sectors past 2^53 bytes: a FLUSH
 * at sector 2^63, a mark and an empty DISCARD at 2^64 − 1 (writers put them at 0; the
 * sector of an entry that touches no byte means nothing).
 */
async function farSectorsLog(path: string, flushSector = 2n ** 63n): Promise<string> {
  const w = await LogWriter.create(path, { sectorSize: 512 });
  await w.write(0n, randomBytes(1024, 1));
  await w.append({ header: { sector: flushSector, nrSectors: 0n, flags: 1n, dataLen: 0n } });
  await w.append({ header: { sector: 2n ** 64n - 1n, nrSectors: 0n, flags: 8n, dataLen: 3n }, inline: new TextEncoder().encode("far") });
  await w.append({ header: { sector: 2n ** 64n - 1n, nrSectors: 0n, flags: 4n, dataLen: 0n } });
  await w.write(8n, randomBytes(512, 2));
  await w.close();
  return path;
}

describe("entries without data at sectors past 2^53 bytes (a FLUSH at 2^63, a mark at 2^64 − 1)", () => {
  it("are compared by diff and diff --state, exactly, and their offsets are shown exactly", async () => {
    const a = await farSectorsLog(join(tmp.path, "far-a.log"));
    const check = await runLwlog(["check", a]);
    expect(check.code, check.stderr + check.stdout).toBe(0);
    for (const args of [[], ["--state"], ["--epochs", "--state"], ["--state-at-mark", "far"]]) {
      const r = await runLwlog(["diff", ...args, a, a]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    // The flush moved by 1 sector at 2^63: a double cannot tell the byte offsets apart, diff does.
    const b = await farSectorsLog(join(tmp.path, "far-b.log"), 2n ** 63n + 1n);
    const j = await runLwlog(["diff", "--json", a, b]);
    expect(j.code).toBe(1);
    const first = JSON.parse(j.stdout).firstDivergence;
    expect(first).toMatchObject({ type: "changed", fields: ["offset"] });
    expect(first.a).toMatchObject({ index: 1, kind: "flush", sector: String(2n ** 63n), byteOffset: String(2n ** 63n * 512n) });
    expect(first.b).toMatchObject({ sector: String(2n ** 63n + 1n), byteOffset: String((2n ** 63n + 1n) * 512n) });
    const t = await runLwlog(["diff", a, b]);
    expect(t.code).toBe(1);
    expect(t.stdout).toContain(`flush    at ${2n ** 63n * 512n}`);
    expect(t.stdout).toContain(`flush    at ${(2n ** 63n + 1n) * 512n}`);
    const state = await runLwlog(["diff", "--state", a, b]);
    expect(state.code).toBe(0);
    expect(state.stdout).toMatch(/^disks identical at the end/m);
  });

  it("a write whose bytes lie past 2^53 cannot be compared: exit 2, naming the log, the entry and its offset", async () => {
    const path = join(tmp.path, "far-write.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    await w.write(0n, randomBytes(512, 1));
    await w.write(2n ** 44n, randomBytes(512, 2));
    await w.close();
    const r = await runLwlog(["diff", path, path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `lwlog: error: ${path}: entry 1: offset 1536: the target byte offset of sector ${2n ** 44n} (${2n ** 53n} bytes) is beyond 2^53: lwlog cannot compare or replay it [LWLOG_RANGE]\n`,
    );
  });

  it("every other command reads such a log as a valid one", async () => {
    const a = await farSectorsLog(join(tmp.path, "far-cmds.log"));
    const out = (name: string) => join(tmp.path, `far-out-${name}`);
    const runs: string[][] = [
      ["info", a],
      ["info", "--json", a],
      ["dump", a],
      ["dump", "--json", "--data", "sha256", a],
      ["dump", "--csv", a],
      ["dump", "--sectors", "0-100", a],
      ["marks", a],
      ["find", "--mark", "far", a],
      ["export", a, "-o", out("e.ndjson")],
      ["export", a, "--format", "csv", "-o", out("e.csv")],
      ["export", a, "--format", "json", "--data", "base64", "-o", out("e.json")],
      ["export", a, "--format", "fio-iolog", "--target", out("fio.img"), "-o", out("e.iolog")],
      ["plot", a, "-o", out("p.svg")],
      ["replay", a, "--to", out("r.img"), "--size", "auto"],
      ["replay", a, "--to", out("r2.img"), "--size", "1M", "--sectors", "0-100"],
      ["convert", a, "-o", out("c.log"), "--for", "kernel"],
      ["convert", a, "-o", out("c4k.log"), "--sector-size", "4096", "--base-image", out("r.img")],
    ];
    for (const args of runs) {
      const r = await runLwlog(args);
      expect(r.code, `lwlog ${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    const imported = await runLwlog(["import", out("e.json"), "-o", out("i.log")]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(readFileSync(out("i.log"))).toEqual(readFileSync(a));
  });
});

describe("two logs with the same base name", () => {
  it("are told apart by their paths' shortest differing tails: text, JSON and the plot's labels", async () => {
    const { mkdirSync } = await import("node:fs");
    for (const d of ["run1", "run2"]) mkdirSync(join(tmp.path, d), { recursive: true });
    const a = await writesLog(join(tmp.path, "run1", "disk.log"), 0);
    const b = await writesLog(join(tmp.path, "run2", "disk.log"), 1);
    const t = await runLwlog(["diff", a, b]);
    expect(t.code).toBe(1);
    expect(t.stdout).toContain("first divergence: entry 4 of run1/disk.log and entry 4 of run2/disk.log differ in data\n");
    const j = JSON.parse((await runLwlog(["diff", "--json", a, b])).stdout);
    expect([j.a.path, j.a.name, j.b.path, j.b.name]).toEqual([a, "run1/disk.log", b, "run2/disk.log"]);
    const svg = join(tmp.path, "same-names.svg");
    expect((await runLwlog(["diff", "--plot", svg, a, b])).code).toBe(1);
    const text = readFileSync(svg, "utf8");
    expect(text).toContain("a: run1/disk.log");
    expect(text).toContain("b: run2/disk.log");
    expect(text).toContain("lwlog diff run1/disk.log run2/disk.log");
  });
});
