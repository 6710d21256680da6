import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogFile, LwlogError } from "@lwlog/codec";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { importLog } from "./import.js";
import { RecordError } from "./input.js";
import { exportToFile } from "./test-support.js";

const tmp = makeTempDir("lwlog-convert-import-");
afterAll(() => tmp.cleanup());
const p = (name: string) => join(tmp.path, name);
const k = kernelLogs().find((l) => l.file === "raw-512.log")!;
let lines: string[];

beforeAll(async () => {
  await exportToFile(k.path, p("raw.ndjson"));
  lines = readFileSync(p("raw.ndjson"), "utf8").trimEnd().split("\n");
});

/** Imports `text` (as a file named `name`) and returns the RecordError it must raise. */
async function failure(text: string, name = "bad.ndjson", options: Parameters<typeof importLog>[2] = {}): Promise<RecordError> {
  writeFileSync(p(name), text);
  const out = p("out.log");
  const err = await importLog(p(name), out, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RecordError);
  expect(existsSync(out), "no output file is left behind").toBe(false);
  expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  return err as RecordError;
}

function edit(i: number, change: (r: Record<string, unknown>) => void): string[] {
  const copy = [...lines];
  const r = JSON.parse(copy[i]!) as Record<string, unknown>;
  change(r);
  copy[i] = JSON.stringify(r);
  return copy;
}

describe("a bad record is reported with its line number and field, and no log is written", () => {
  it("broken JSON", async () => {
    const copy = [...lines];
    copy[4] = copy[4]!.slice(0, 30);
    const e = await failure(copy.join("\n"));
    expect([e.line, e.field]).toEqual([5, undefined]);
    expect(e.describe()).toMatch(/bad\.ndjson: line 5: not valid JSON/);
  });

  it("a missing field, a wrong type, a u64 that does not fit", async () => {
    let e = await failure(edit(3, (r) => delete r.nrSectors).join("\n"));
    expect(e.message).toBe("line 4, entry 2, field nrSectors: missing");
    e = await failure(edit(3, (r) => (r.sector = -1)).join("\n"));
    expect([e.line, e.field]).toEqual([4, "sector"]);
    e = await failure(edit(3, (r) => (r.sector = "18446744073709551616")).join("\n"));
    expect(e.message).toMatch(/line 4, entry 2, field sector: must fit in 64 bits/);
    e = await failure(edit(3, (r) => (r.flags = 1.5)).join("\n"));
    expect([e.line, e.field]).toEqual([4, "flags"]);
  });

  it("fields that disagree: kind, flagNames, byteOffset", async () => {
    expect((await failure(edit(2, (r) => (r.kind = "discard")).join("\n"))).field).toBe("kind");
    expect((await failure(edit(2, (r) => (r.flagNames = ["FUA"])).join("\n"))).field).toBe("flagNames");
    expect((await failure(edit(2, (r) => (r.byteOffset = 1)).join("\n"))).field).toBe("byteOffset");
  });

  it("data: missing (an export with --data sha256), the wrong length, not base64", async () => {
    await exportToFile(k.path, p("sha.ndjson"), { data: "sha256" });
    const sha = readFileSync(p("sha.ndjson"), "utf8").split("\n");
    const firstWrite = sha.findIndex((l) => l.includes('"kind":"write"'));
    let e = await failure(sha.join("\n"), "sha.ndjson");
    expect([e.line, e.field]).toEqual([firstWrite + 1, "base64"]);
    expect(e.message).toMatch(/export with --data base64/);
    const w = lines.findIndex((l) => l.includes('"kind":"write"'));
    e = await failure(edit(w, (r) => (r.base64 = (r.base64 as string).slice(8))).join("\n"));
    expect(e.message).toMatch(/field base64: holds \d+ bytes but the entry carries nrSectors/);
    e = await failure(edit(w, (r) => (r.base64 = `*${(r.base64 as string).slice(1)}`)).join("\n"));
    expect(e.message).toMatch(/field base64: not valid base64/);
  });

  it("records out of place: an entry first, a second superblock, a last entry cut off, a wrong nrEntries", async () => {
    expect((await failure(lines.slice(1).join("\n"))).message).toMatch(/line 1: an entry before the superblock record/);
    expect((await failure([lines[0], ...lines].join("\n"))).message).toMatch(/line 2: a second superblock record/);
    const lastCut = [...lines.slice(0, -2), lines.at(-1)];
    expect((await failure(lastCut.join("\n"))).message).toMatch(/line 391, field entries: the end record counts 390 entries but the input holds 389: it was cut off/);
    const e = await failure(edit(0, (r) => (r.nrEntries = 12)).join("\n"));
    expect(e.message).toMatch(/field nrEntries: the superblock declares 12 entries but 390 entries are not marked tail/);
  });

  it("a JSON document that is broken in the middle names the line", async () => {
    await exportToFile(k.path, p("raw.json"), { format: "json" });
    const doc = readFileSync(p("raw.json"), "utf8").split("\n");
    doc[7] = doc[7]!.replace('"nrSectors":', '"nrSectors" ');
    const e = await failure(doc.join("\n"), "bad.json");
    expect(e.line).toBe(8);
  });

  it("a bad CSV row names its line", async () => {
    await exportToFile(k.path, p("raw.csv"), { format: "csv" });
    const rows = readFileSync(p("raw.csv"), "utf8").split("\r\n");
    rows[3] = rows[3]!.replace(/^(\d+,\d+,\w+,)\d+/, "$1x");
    const e = await failure(rows.join("\r\n"), "bad.csv", { sectorSize: 512 });
    expect([e.line, e.field]).toEqual([4, "flags"]);
    expect(e.message).toMatch(/^line 4, entry 2, field flags: "x" is not a whole number/);
  });

  it("text that is not CSV at all, read as CSV, is a bad record naming its line (every csv-parse error, whatever its code)", async () => {
    // csv-parse 6 codes this one INVALID_OPENING_QUOTE, without the CSV_ prefix of the others.
    const e = await failure(`index,offset\r\n1,2\r\n{"type":"super"},3\r\n`, "quote.csv", { sectorSize: 512 });
    expect(e.message).toMatch(/^line 3: not valid CSV \(Invalid Opening Quote/);
    const unclosed = await failure(`index,offset\r\n"1,2\r\n`, "unclosed.csv", { sectorSize: 512 });
    expect(unclosed.message).toMatch(/not valid CSV \(Quote Not Closed/);
  });

  it("a CSV input that fails while being read: the import fails with the error (not left unhandled), no log left", async () => {
    const header = "index,offset,kind,flags,flagNames,sector,nrSectors,byteOffset,byteLength,dataLen,tail,mark,markBase64,base64\r\n0,512,flush,1,FLUSH,0,0,0,0,0,false,,,\r\n";
    let sent = false;
    const input = new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(header);
        } else this.destroy(Object.assign(new Error("input/output error"), { code: "EIO" }));
      },
    });
    const out = p("eio.log");
    const err = await importLog(input, out, { format: "csv", sectorSize: 512 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LwlogError);
    expect((err as LwlogError).describe()).toMatch(/<stdin>: cannot read the input: input\/output error/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  });

  it("CSV needs the sector size", async () => {
    const e = await failure("index,kind\r\n", "x.csv");
    expect(e.message).toMatch(/--sector-size/);
  });
});

describe("an input that lost records is refused, naming the line (it would build a different log)", () => {
  it("NDJSON: a line deleted, a line repeated, an offset that does not follow", async () => {
    let e = await failure([...lines.slice(0, 10), ...lines.slice(11)].join("\n"));
    expect([e.line, e.field]).toEqual([11, "index"]);
    expect(e.message).toBe("line 11, entry 9, field index: 10, but 9 entries come before it: a record before it is missing (cut or edited; entries edited by hand must be numbered from 0 without a gap)");
    e = await failure([...lines.slice(0, 10), ...lines.slice(13)].join("\n"));
    expect(e.message).toMatch(/^line 11, entry 9, field index: 12, but 9 entries come before it: 3 records before it are missing/);
    e = await failure([...lines.slice(0, 11), lines[10], ...lines.slice(11)].join("\n"));
    expect(e.message).toMatch(/^line 12, entry 10, field index: 9, but 10 entries come before it: entries are repeated or out of order/);
    e = await failure(edit(5, (r) => (r.offset = (r.offset as number) + 512)).join("\n"));
    expect([e.line, e.field]).toEqual([6, "offset"]);
    expect(e.message).toMatch(/but the records before it end at byte \d+: some data is missing or changed size \(entries edited by hand can leave out "offset"\)$/);
  });

  it("NDJSON and JSON cut off between two records (no end record): exit 1, naming the last line", async () => {
    const e = await failure(lines.slice(0, 200).join("\n") + "\n");
    expect(e.line).toBe(200);
    expect(e.describe()).toBe(
      `${p("bad.ndjson")}: line 200: the input ends after 199 entries without its end record: it was cut off (if every entry is there, add a last line {"type":"end","entries":199})`,
    );
    await exportToFile(k.path, p("cut.json"), { format: "json" });
    const doc = readFileSync(p("cut.json"), "utf8");
    const noEnd = doc.replace(/,\n"end":\{[^}]*\}\}\n$/, "}\n");
    expect(noEnd).not.toBe(doc);
    const j = await failure(noEnd, "noend.json");
    expect(j.message).toMatch(/^line \d+: the input ends after 390 entries without its end record: it was cut off \(if every entry is there, add an "end" member\)$/);
    // Entries dropped from the document's end, with the end record kept, are counted.
    const lastGone = doc.replace(/,\n[^\n]*\n\],\n"end"/, '\n],\n"end"');
    expect((await failure(lastGone, "short.json")).message).toMatch(/field entries: the end record counts 390 entries but the input holds 389/);
  });

  it("an end record whose offset is not where the entries end", async () => {
    const e = await failure(edit(lines.length - 1, (r) => (r.offset = (r.offset as number) - 512)).join("\n"));
    expect([e.line, e.field]).toEqual([lines.length, "offset"]);
    expect(e.message).toMatch(/the exported entries ended at byte \d+ of the log, these end at byte \d+/);
  });

  it("CSV (no end record): a row deleted is found by its index; the wrong --sector-size by its offsets", async () => {
    await exportToFile(k.path, p("gap.csv"), { format: "csv", data: "base64" });
    const rows = readFileSync(p("gap.csv"), "utf8").split("\r\n");
    const e = await failure([...rows.slice(0, 40), ...rows.slice(41)].join("\r\n"), "gap-bad.csv", { sectorSize: 512 });
    expect([e.line, e.field]).toEqual([41, "index"]);
    expect(e.describe()).toMatch(/gap-bad\.csv: line 41, entry 39, field index: 40, but 39 entries come before it/);
    const wrong = await failure(rows.join("\r\n"), "gap-size.csv", { sectorSize: 4096 });
    expect([wrong.line, wrong.field]).toEqual([2, "offset"]);
    expect(wrong.message).toMatch(/; or --sector-size is not the exported log's/);
  });
});

describe("inputs that are not exactly what export wrote", () => {
  it("a JSON document re-indented (as jq or an editor would) imports the same log, streamed", async () => {
    await exportToFile(k.path, p("raw.json"), { format: "json" });
    const pretty = JSON.stringify(JSON.parse(readFileSync(p("raw.json"), "utf8")), null, 2);
    writeFileSync(p("pretty.json"), pretty);
    rmSync(p("pretty.log"), { force: true });
    await importLog(p("pretty.json"), p("pretty.log"));
    expect(readFileSync(p("pretty.log")).equals(readFileSync(k.path))).toBe(true);
    // And an error in it is found by its line.
    const broken = pretty.replace('"nrSectors": 2048,', '"nrSectors": "x",');
    const e = await failure(broken, "pretty-bad.json");
    expect(e.field).toBe("nrSectors");
    expect(pretty.split("\n")[e.line! - 1]).toBe("    {");
  });

  it("a hand-edited NDJSON: a renamed mark, records without type, an end record with only its count", async () => {
    const m = lines.findIndex((l) => l.includes('"mark":"start"'));
    const edited = edit(m, (r) => {
      r.mark = "begin!";
      r.dataLen = 6;
    })
      .slice(0, -1)
      .map((l) => l.replace('{"type":"entry",', "{"));
    writeFileSync(p("edited.ndjson"), [...edited, '{"type":"end","entries":390}'].join("\n") + "\n");
    rmSync(p("edited.log"), { force: true });
    const s = await importLog(p("edited.ndjson"), p("edited.log"));
    expect(s.warnings).toEqual([]);
    const log = LogFile.openSync(p("edited.log"));
    expect(log.entryAt(m - 1, JSON.parse(lines[m]!).offset as number).mark).toBe("begin!");
    log.close();
  });

  it("the format is found from the first line when the name does not say it", async () => {
    writeFileSync(p("noext"), lines.join("\n"));
    rmSync(p("noext.log"), { force: true });
    expect((await importLog(p("noext"), p("noext.log"))).format).toBe("ndjson");
  });

  it("an existing output is not replaced unless asked", async () => {
    writeFileSync(p("keep.log"), "precious");
    await expect(importLog(p("raw.ndjson"), p("keep.log"))).rejects.toThrow(/already exists/);
    expect(readFileSync(p("keep.log"), "utf8")).toBe("precious");
    await importLog(p("raw.ndjson"), p("keep.log"), { overwrite: true });
    expect(readFileSync(p("keep.log")).equals(readFileSync(k.path))).toBe(true);
  });

  it("an output that cannot be created is named as given, not by its temporary file", async () => {
    // /proc takes no new files, whoever runs the test (root included).
    const err = await importLog(p("raw.ndjson"), "/proc/lwlog-import-test.log").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LwlogError);
    expect((err as LwlogError).file).toBe("/proc/lwlog-import-test.log");
    expect((err as LwlogError).describe()).not.toMatch(/\.tmp/);
  });

  it("--fix-superblock declares the tail entries too", async () => {
    const tailed = lines.map((l, i) => (i > 300 && i < lines.length - 1 ? l.replace('"tail":false', '"tail":true') : l));
    writeFileSync(p("tailed.ndjson"), tailed.join("\n"));
    await expect(importLog(p("tailed.ndjson"), p("tailed.log"))).rejects.toThrow(/not marked tail/);
    rmSync(p("tailed.log"), { force: true });
    const s = await importLog(p("tailed.ndjson"), p("tailed.log"), { fixSuperblock: true });
    expect([s.declared, s.tail]).toEqual([390, 0]);
  });
});
