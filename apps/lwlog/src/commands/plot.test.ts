import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-plot-cli-");
afterAll(() => tmp.cleanup());

const raw = kernelLogs().find((l) => l.file === "raw-512.log")!;

describe("lwlog plot", () => {
  it("writes an SVG of the log with a rule per flush and mark, and says what it drew", async () => {
    const out = join(tmp.path, "raw.svg");
    const r = await runLwlog(["plot", raw.path, "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `${out}: 390 entries, ${raw.entries - raw.flag_counts.FLUSH! - raw.flag_counts.MARK! - raw.flag_counts.DISCARD!} writes, 3 discards drawn, 14 flush and 1 FUA rules, 14 marks (6 labelled); offsets 0 … 64 MiB\n`,
    );
    const svg = readFileSync(out, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<line /g)!.length).toBeGreaterThanOrEqual(14 + 14 + 1);
    expect(svg).toContain("lwlog plot raw-512.log");
    // Nothing but the picture is left in the directory.
    expect(readdirSync(tmp.path)).toEqual(["raw.svg"]);
  });

  it("--json describes the picture: entries, binning, axis ranges, items drawn", async () => {
    const out = join(tmp.path, "raw-json.svg");
    const r = await runLwlog(["plot", "--json", "--width", "200", raw.path, "-o", out]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    // 390 entries on 200 pixels: binned.
    expect(j).toMatchObject({ output: out, entries: 390, binned: true, xDomain: [0, 390], yDomain: [0, 64], yUnit: "MiB" });
    expect(j.bytes).toBe(readFileSync(out).length);
  });

  it("refuses to replace a file unless --force, writes to stdout with -o -, and leaves no file for a bad log", async () => {
    const out = join(tmp.path, "exists.svg");
    writeFileSync(out, "mine");
    const r = await runLwlog(["plot", raw.path, "-o", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exists\.svg: already exists \(refusing to overwrite it; pass --force to replace it\) \[LWLOG_EXISTS\]/);
    expect(readFileSync(out, "utf8")).toBe("mine");
    expect((await runLwlog(["plot", raw.path, "-o", out, "--force"])).code).toBe(0);
    expect(readFileSync(out, "utf8").startsWith("<svg")).toBe(true);
    const stdout = await runLwlog(["plot", raw.path, "-o", "-"]);
    expect(stdout.code).toBe(0);
    expect(stdout.stdout.startsWith("<svg")).toBe(true);
    const bad = join(tmp.path, "bad.log");
    writeFileSync(bad, new Uint8Array(1024).fill(3));
    const b = await runLwlog(["plot", bad, "-o", join(tmp.path, "bad.svg")]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/bad\.log: .*\[LWLOG_BAD_MAGIC\]/);
    expect(existsSync(join(tmp.path, "bad.svg"))).toBe(false);
    expect((await runLwlog(["plot", raw.path])).code).toBe(2);
  });

  it("refuses a directory as the picture, with or without --force, for plot and diff --plot (exit 2)", async () => {
    const dir = join(tmp.path, "pictures");
    mkdirSync(dir);
    for (const args of [["plot", raw.path, "-o", dir], ["plot", raw.path, "-o", dir, "--force"], ["diff", "--plot", dir, "--force", raw.path, raw.path]]) {
      const r = await runLwlog(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/pictures: is a directory; give a file name for the output \[LWLOG_IS_DIRECTORY\]/);
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});
