/**
 * `lwlog convert --fix-superblock` (and `--for kernel`) is a repair: it writes a log `lwlog
 * check` calls valid and lists every byte it changed, or it fails and writes nothing.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkLog } from "@lwlog/codec";
import { makeTempDir, testDataDir } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import { patch, sampleLog, u64 } from "./test-logs.js";

const tmp = makeTempDir("lwlog-convert-repair-");
afterAll(() => tmp.cleanup());
const p = (name: string) => join(tmp.path, name);
let n = 0;

/** The sample log (entries at 512, 2048, 2560, 3072, 3584, 4608: write, flush, mark, discard, write, mark) with `edit` applied. */
async function edited(edit: (path: string) => void): Promise<string> {
  const path = await sampleLog(tmp.path, `edited-${++n}.log`);
  edit(path);
  return path;
}

const REPAIRS = [["--fix-superblock"], ["--for", "kernel"]];

describe("convert --fix-superblock: a valid log or nothing", () => {
  it("entry 0 with data_len 15360 (the data is 1024 bytes): exit 1, the entry named, nothing written", async () => {
    const log = await edited((f) => patch(f, 512 + 24, u64(15360n)));
    expect((await checkLog(log)).valid).toBe(false);
    for (const how of REPAIRS) {
      const out = p(`dl-${how.join("")}.log`);
      const r = await runLwlog(["convert", log, "-o", out, ...how]);
      expect(r.code, how.join(" ")).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(
        `lwlog: error: ${log}: entry 0: offset 512: data_len 15360 is larger than the 1024 data bytes the entry carries: a conversion cannot repair it (--fix-superblock repairs the superblock's entry count, not a broken entry); nothing was written [LWLOG_BAD_DATA_LEN]\n`,
      );
      expect(existsSync(out)).toBe(false);
    }
  });

  it("a mark whose name length passes its header block: refused, not rewritten with a guessed name", async () => {
    const log = await edited((f) => patch(f, 2560 + 24, u64(15360n)));
    const out = p("mark.log");
    const r = await runLwlog(["convert", log, "-o", out, "--fix-superblock"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${log}: entry 2: offset 2560: mark name length 15360 is longer than its header block allows (480 bytes): a conversion cannot repair it`);
    expect(existsSync(out)).toBe(false);
  });

  it("a non-zero byte in a write's header padding: zeroed, and the summary says so (text and JSON); the output is valid", async () => {
    const log = await edited((f) => patch(f, 512 + 100, new Uint8Array([7])));
    // Without a repair asked for, convert refuses it and says what would.
    const plain = await runLwlog(["convert", log, "-o", p("pad-plain.log")]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("non-zero byte in the header block's padding at byte 100 (writers zero it; xfstests rejects it) (--fix-superblock writes a copy with it zeroed, and lists it) [LWLOG_MALFORMED_ENTRY]");
    for (const how of REPAIRS) {
      const out = p(`pad-${how.join("")}.log`);
      const r = await runLwlog(["convert", log, "-o", out, ...how]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("\n  entry 0 (offset 512): non-zero bytes in the header block's padding zeroed (the first at header byte 100) [LWLOG_MALFORMED_ENTRY]\n");
      expect((await checkLog(out)).valid).toBe(true);
      // Only that byte changed.
      const a = readFileSync(log);
      const b = readFileSync(out);
      expect(b.length).toBe(a.length);
      const diff = [...a.keys()].filter((i) => a[i] !== b[i]);
      expect(diff).toEqual([612]);
    }
    const j = JSON.parse((await runLwlog(["convert", log, "-o", p("pad.json.log"), "--fix-superblock", "--json"])).stdout);
    expect(j.repairs).toEqual([{ entry: 0, offset: 512, code: "LWLOG_MALFORMED_ENTRY", message: "non-zero bytes in the header block's padding zeroed (the first at header byte 100)" }]);
    expect(j.repairsTotal).toBe(1);
  });

  it("bytes a plain conversion zeroes are listed too: after a mark's name, after the superblock's fields", async () => {
    const log = await edited((f) => {
      patch(f, 2560 + 32 + 3 + 10, new Uint8Array([9])); // mark "one": 3 bytes of name, then a stray byte
      patch(f, 200, new Uint8Array([5])); // the superblock sector, past its fields
    });
    const out = p("stray.log");
    const r = await runLwlog(["convert", log, "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("\n  superblock: non-zero bytes after the superblock's fields (the first at byte 200) zeroed [LWLOG_SUPER_PADDING]\n");
    expect(r.stdout).toContain("\n  entry 2 (offset 2560): non-zero bytes after the mark name zeroed (the first at header byte 45) [LWLOG_MALFORMED_ENTRY]\n");
  });

  it("every bad fixture: --fix-superblock and --for kernel either exit 0 with a log `check` calls valid, or fail and leave nothing", async () => {
    const dir = join(testDataDir, "bad");
    const logs = readdirSync(dir).filter((f) => f.endsWith(".log"));
    expect(logs.length).toBeGreaterThan(20);
    let repaired = 0;
    for (const name of logs) {
      const log = p(`bad-${name}`);
      copyFileSync(join(dir, name), log);
      for (const how of REPAIRS) {
        const out = p(`fixed-${how.join("")}-${name}`);
        const r = await runLwlog(["convert", log, "-o", out, ...how]);
        if (r.code === 0) {
          repaired += 1;
          const report = await checkLog(out, 0);
          expect(report.valid, `${basename(name)} ${how.join(" ")}: ${JSON.stringify(report.problems)}`).toBe(true);
        } else {
          expect(r.code, `${name}: ${r.stderr}`).toBeOneOf([1, 2]);
          expect(r.stderr, name).toMatch(/^lwlog: error: .* \[LWLOG_[A-Z_]+\]\n$/);
          expect(existsSync(out), name).toBe(false);
        }
      }
    }
    expect(repaired).toBeGreaterThan(0);
    expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  });
});
