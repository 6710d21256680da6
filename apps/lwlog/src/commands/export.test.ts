import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { runCli } from "../cli.js";
import { MemoryStream, runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-cli-export-");
afterAll(() => tmp.cleanup());
const p = (name: string) => join(tmp.path, name);
const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;

describe("lwlog export", () => {
  it("NDJSON on stdout by default: the superblock, then one record per entry, then the end", async () => {
    const r = await runLwlog(["export", k.path]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: "super", nrEntries: k.entries, sectorSize: 4096, dataEncoding: "sha256" });
    expect(lines.length).toBe(k.entries + 2);
    const metadata = lines.filter((l) => (l.flagNames as string[] | undefined)?.includes("METADATA")).length;
    expect(metadata).toBe(k.flag_counts.METADATA);
    expect(lines.at(-1)).toMatchObject({ type: "end", entries: k.entries, reason: "eof" });
  });

  it("streams to stdout: the superblock record goes out on its own, before any entry is read", async () => {
    const stdout = new MemoryStream();
    const stderr = new MemoryStream();
    const code = await runCli(["export", k.path], { stdout, stderr, env: { NO_COLOR: "1" }, cwd: process.cwd() });
    expect(code, stderr.text).toBe(0);
    // Each chunk the export hands over is written at once, not held back until 64 KiB of text gather.
    expect(stdout.chunks[0]).toMatch(/^\{"type":"super",[^\n]*\}\n$/);
    expect(stdout.chunks.length).toBeGreaterThan(1);
    expect(stdout.text.trimEnd().split("\n").length).toBe(k.entries + 2);
  });

  it("its entry records are what lwlog dump --json prints (the codec's one JSON shape)", async () => {
    for (const log of [k.path, ...kernelLogs().filter((l) => l.file.startsWith("raw")).map((l) => l.path)]) {
      const dump = await runLwlog(["dump", log, "--json", "--tail", "--data", "sha256"]);
      expect(dump.code, dump.stderr).toBe(0);
      const exp = await runLwlog(["export", log]);
      const entries = exp.stdout.trimEnd().split("\n").slice(1, -1).map((l) => {
        const { type: _type, ...rest } = JSON.parse(l) as Record<string, unknown>;
        return rest;
      });
      expect(entries).toEqual(JSON.parse(dump.stdout));
    }
  });

  it("-o writes the file atomically and says what it wrote on stderr", async () => {
    const out = p("ext4.csv");
    const r = await runLwlog(["export", k.path, "--format", "csv", "--data", "none", "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`exported ${k.entries} entries as csv to ${out}\n`);
    const text = readFileSync(out, "utf8");
    expect(text.split("\r\n")[0]).toBe("index,offset,kind,flags,flagNames,sector,nrSectors,byteOffset,byteLength,dataLen,tail,mark,markBase64");
    expect(text.split("\r\n").length).toBe(k.entries + 2);
  });

  it("refuses to replace an existing output without --force, and leaves nothing on error", async () => {
    const out = p("exists.ndjson");
    writeFileSync(out, "keep me");
    let r = await runLwlog(["export", k.path, "-o", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exists\.ndjson: already exists .*--force.*\[LWLOG_EXISTS\]/);
    expect(readFileSync(out, "utf8")).toBe("keep me");
    r = await runLwlog(["export", k.path, "-o", out, "--force", "-q"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(readFileSync(out, "utf8")).toMatch(/^\{"type":"super"/);

    // A broken log: the error names the entry, and no half file is left.
    const broken = p("broken.log");
    const bytes = Buffer.from(readFileSync(k.path));
    bytes[4096 + 40] = 1; // entry 0's header block: its padding must be zeros
    writeFileSync(broken, bytes);
    const half = p("half.ndjson");
    r = await runLwlog(["export", broken, "-o", half]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken\.log: entry 0: offset 4096: malformed entry.*\[LWLOG_MALFORMED_ENTRY\]/);
    expect(existsSync(half)).toBe(false);
    expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  });

  it("--declared-only and --with-tail", async () => {
    const r = await runLwlog(["export", k.path, "--declared-only", "--with-tail"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not both/);
  });

  it("--format fio-iolog needs --target; usage errors exit 2", async () => {
    let r = await runLwlog(["export", k.path, "--format", "fio-iolog"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs --target FILE/);
    r = await runLwlog(["export", k.path, "--format", "xml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--format is one of ndjson, json, csv, fio-iolog, not "xml"/);
    r = await runLwlog(["export", k.path, "--data", "all"]);
    expect(r.code).toBe(2);
    r = await runLwlog(["export", p("missing.log")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing\.log: no such file \[LWLOG_NOT_FOUND\]/);
    const target = p("fio.img");
    r = await runLwlog(["export", k.path, "--format", "fio-iolog", "--target", target]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").slice(0, 3)).toEqual(["fio version 2 iolog", `${target} add`, `${target} open`]);
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe(`${target} close`);
  });

  it("an interrupt stops the export, exit 130, no output file", async () => {
    const out = p("interrupted.ndjson");
    let fire: (() => void) | undefined;
    const r = await runLwlog(["export", k.path, "--data", "base64", "-o", out], {
      onInterrupt: (handler) => {
        fire = handler;
        setImmediate(() => fire?.());
        return () => undefined;
      },
    });
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  });
});
