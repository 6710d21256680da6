import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-cli-import-");
afterAll(() => tmp.cleanup());
const p = (name: string) => join(tmp.path, name);
const k = kernelLogs().find((l) => l.file === "raw-4k.log")!;

describe("lwlog import", () => {
  it("export --data base64 | import rebuilds the kernel log byte for byte (NDJSON, JSON, CSV)", async () => {
    for (const format of ["ndjson", "json", "csv"]) {
      const text = p(`raw.${format}`);
      expect((await runLwlog(["export", k.path, "--format", format, "--data", "base64", "-o", text, "-q"])).code).toBe(0);
      const out = p(`raw-${format}.log`);
      const args = ["import", text, "-o", out, ...(format === "csv" ? ["--sector-size", "4096"] : [])];
      const r = await runLwlog(args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`imported ${k.entries} entries (${format}) into ${out}: 4096-byte sectors, ${k.entries} declared, 5.0 MiB\n`);
      expect(readFileSync(out).equals(readFileSync(k.path)), format).toBe(true);
    }
  });

  it("--json prints the summary as JSON", async () => {
    const r = await runLwlog(["import", p("raw.ndjson"), "-o", p("json.log"), "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ format: "ndjson", entries: k.entries, declared: k.entries, tail: 0, sectorSize: 4096, warnings: [] });
  });

  it("a bad record: exit 1, its line and field named, no output left", async () => {
    const lines = readFileSync(p("raw.ndjson"), "utf8").split("\n");
    const r0 = JSON.parse(lines[6]!) as Record<string, unknown>;
    r0.flags = "0x10";
    lines[6] = JSON.stringify(r0);
    writeFileSync(p("bad.ndjson"), lines.join("\n"));
    const out = p("bad.log");
    const r = await runLwlog(["import", p("bad.ndjson"), "-o", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`lwlog: error: ${p("bad.ndjson")}: line 7, entry 5, field flags: "0x10" is not a whole number ≥ 0 (a JSON number up to 2^53, or a decimal string) [LWLOG_BAD_RECORD]\n`);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  });

  it("an input that lost records: NDJSON without its end record, a CSV row deleted: exit 1, naming the file and line, no log", async () => {
    const lines = readFileSync(p("raw.ndjson"), "utf8").split("\n");
    writeFileSync(p("cut.ndjson"), lines.slice(0, 100).join("\n") + "\n");
    const cut = await runLwlog(["import", p("cut.ndjson"), "-o", p("cut.log")]);
    expect(cut).toMatchObject({ code: 1, stdout: "" });
    expect(cut.stderr).toBe(
      `lwlog: error: ${p("cut.ndjson")}: line 100: the input ends after 99 entries without its end record: it was cut off (if every entry is there, add a last line {"type":"end","entries":99}) [LWLOG_BAD_RECORD]\n`,
    );
    const rows = readFileSync(p("raw.csv"), "utf8").split("\r\n");
    writeFileSync(p("gap.csv"), [...rows.slice(0, 7), ...rows.slice(8)].join("\r\n"));
    const gap = await runLwlog(["import", p("gap.csv"), "-o", p("gap.log"), "--sector-size", "4096"]);
    expect(gap.code).toBe(1);
    expect(gap.stderr).toMatch(new RegExp(`^lwlog: error: ${p("gap.csv")}: line 8, entry 6, field index: 7, but 6 entries come before it: a record before it is missing .*\\[LWLOG_BAD_RECORD\\]\n$`));
    expect(existsSync(p("cut.log")) || existsSync(p("gap.log"))).toBe(false);
  });

  it("an export made without the data: exit 1, telling how to make one that imports", async () => {
    await runLwlog(["export", k.path, "-o", p("sha.ndjson"), "-q"]);
    const r = await runLwlog(["import", p("sha.ndjson"), "-o", p("sha.log")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/field base64: missing: the entry carries \d+ bytes of data .*export with --data base64 to import/);
  });

  it("an interrupt stops it: exit 130, no log left", async () => {
    const out = p("interrupted.log");
    const r = await runLwlog(["import", p("raw.ndjson"), "-o", out], {
      onInterrupt: (handler) => {
        setImmediate(handler);
        return () => undefined;
      },
    });
    expect(r.code).toBe(130);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  });

  it("usage errors: no -o, bad --format, bad --sector-size, missing input, existing output", async () => {
    expect((await runLwlog(["import", p("raw.ndjson")])).code).toBe(2);
    expect((await runLwlog(["import", p("raw.ndjson"), "-o", p("x.log"), "--format", "xml"])).code).toBe(2);
    expect((await runLwlog(["import", p("raw.csv"), "-o", p("x.log"), "--sector-size", "1000"])).code).toBe(2);
    // CSV has no superblock row: without --sector-size (the file name or --format saying CSV) it is a usage error.
    const noSize = await runLwlog(["import", p("raw.csv"), "-o", p("x.log")]);
    expect(noSize.code).toBe(2);
    expect(noSize.stderr).toMatch(/--sector-size/);
    expect((await runLwlog(["import", p("raw.ndjson"), "-o", p("x.log"), "--format", "csv"])).code).toBe(2);
    expect(existsSync(p("x.log"))).toBe(false);
    const missing = await runLwlog(["import", p("nope.ndjson"), "-o", p("x.log")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.ndjson: no such file \[LWLOG_NOT_FOUND\]/);
    const exists = await runLwlog(["import", p("raw.ndjson"), "-o", p("raw-ndjson.log")]);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toMatch(/already exists/);
  });
});

describe("lwlog import - (stdin), through the built command", () => {
  it("lwlog export … | lwlog import - -o LOG", async () => {
    const { spawnSync } = await import("node:child_process");
    const { fileURLToPath } = await import("node:url");
    const main = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
    expect(existsSync(main), "build lwlog first (npx turbo run build --filter=lwlog...)").toBe(true);
    const out = p("stdin.log");
    const r = spawnSync(process.execPath, [main, "import", "-", "-o", out], { input: readFileSync(p("raw.json")), encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^imported 389 entries \(json\)/);
    expect(readFileSync(out).equals(readFileSync(k.path))).toBe(true);
  });
});
