import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFlags, LogWriter, encodeEntryHeaderInto, encodeSuper } from "@lwlog/codec";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import type { MarkRow } from "./marks.js";
import { SAMPLE, S, badLogs, sampleLog } from "./test-logs.js";

const tmp = makeTempDir("lwlog-marks-");
afterAll(() => tmp.cleanup());

async function marksJson(args: string[]): Promise<MarkRow[]> {
  const r = await runLwlog(["marks", "--json", ...args]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as MarkRow[];
}

describe("lwlog marks", () => {
  for (const k of kernelLogs()) {
    it(`${k.file}: every mark of the manifest, at its entry`, async () => {
      const marks = await marksJson([k.path]);
      expect(marks.map((m) => ({ name: m.name, entry: m.entry }))).toEqual(k.marks.map((m) => ({ name: m.name, entry: m.entry_index })));
      const S = k.superblock.sectorsize;
      for (const m of marks) {
        expect(m.offset % S).toBe(0);
        expect(m.tail).toBe(false);
      }
    });
  }

  it("name, entry index and log offset, as JSON and as text", async () => {
    const path = await sampleLog(tmp.path);
    expect(await marksJson([path])).toEqual([
      { name: "one", entry: 2, offset: SAMPLE.offsets[2], tail: false },
      { name: "two", entry: 5, offset: SAMPLE.offsets[5], tail: false },
    ]);
    const r = await runLwlog(["marks", path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`ENTRY  OFFSET  NAME\n    2    ${SAMPLE.offsets[2]}  one\n    5    ${SAMPLE.offsets[5]}  two\n`);
    const tty = await runLwlog(["marks", path], { tty: true });
    expect(tty.stdout).toMatch(/┌/);
  });

  it("marks past the declared count only with --tail", async () => {
    const path = join(tmp.path, "tail.log");
    const w = await LogWriter.create(path, { sectorSize: S });
    await w.mark("kept");
    await w.writeSuper(1);
    await w.mark("late");
    await w.close({ super: false });
    expect((await marksJson([path])).map((m) => m.name)).toEqual(["kept"]);
    expect(await marksJson([path, "--tail"])).toEqual([
      { name: "kept", entry: 0, offset: S, tail: false },
      { name: "late", entry: 1, offset: 2 * S, tail: true },
    ]);
    expect((await runLwlog(["marks", "--tail", path])).stdout).toContain("late  (tail)");
  });

  it("a mark name that is not UTF-8 comes with its raw bytes; a full-block name is read whole", async () => {
    const path = join(tmp.path, "odd.log");
    const w = await LogWriter.create(path, { sectorSize: S });
    await w.mark(new Uint8Array([0xc3, 0x28]));
    await w.close();
    expect(await marksJson([path])).toEqual([{ name: "\ufffd(", entry: 0, offset: S, tail: false, markBase64: "wyg=" }]);
    const full = await badLogs.fullMark(tmp.path);
    expect((await marksJson([full.path]))[0]!.name).toBe(full.name);
  });

  it("no marks: an empty JSON array, a note on stderr for text", async () => {
    const path = join(tmp.path, "none.log");
    const w = await LogWriter.create(path, { sectorSize: S });
    await w.flush();
    await w.close();
    expect(await marksJson([path])).toEqual([]);
    const r = await runLwlog(["marks", path]);
    expect(r).toEqual({ code: 0, stdout: "", stderr: `lwlog: ${path} has no marks among its declared entries\n` });
  });

  it("200 000 marks: every one listed, as text and JSON, streamed past the first 1000 (no stack overflow, flat memory)", async () => {
    const n = 200_000;
    const S64 = 64;
    const bytes = new Uint8Array(S64 * (n + 1));
    bytes.set(encodeSuper({ nrEntries: BigInt(n), sectorSize: S64 }));
    const names = Array.from({ length: n }, (_, i) => `m${i}`);
    names.forEach((name, i) => {
      const text = new TextEncoder().encode(name);
      encodeEntryHeaderInto(bytes, S64 * (i + 1), { sector: 0n, nrSectors: 0n, flags: LogFlags.MARK, dataLen: BigInt(text.length) }, S64, text);
    });
    const path = join(tmp.path, "many-marks.log");
    writeFileSync(path, bytes);
    const expected = names.map((name, i) => ({ name, entry: i, offset: S64 * (i + 1), tail: false }));

    const json = await runLwlog(["marks", "--json", path]);
    expect([json.code, json.stderr]).toEqual([0, ""]);
    expect(json.stdout).toBe(JSON.stringify(expected, null, 2) + "\n");

    const text = await runLwlog(["marks", path]);
    expect([text.code, text.stderr]).toEqual([0, ""]);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(n + 1);
    const w = String(bytes.length).length;
    expect(lines[0]).toBe(`${"ENTRY".padStart(w)}  ${"OFFSET".padStart(w)}  NAME`);
    expect(lines[1]).toBe(`${"0".padStart(w)}  ${String(S64).padStart(w)}  m0`);
    expect(lines[n]).toBe(`${String(n - 1).padStart(w)}  ${String(S64 * n).padStart(w)}  m${n - 1}`);
  }, 60_000);

  it("a broken log: exit 1 with the entry and offset", async () => {
    const bad = await badLogs.dirtyPadding(tmp.path);
    const r = await runLwlog(["marks", bad.path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad.path}: entry 1: offset ${bad.offset}:`);
    const missing = await runLwlog(["marks", join(tmp.path, "missing.log")]);
    expect(missing.code).toBe(2);
  });
});
