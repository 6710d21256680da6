import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogFile, LogFlags, LogWriter } from "@lwlog/codec";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { CSV_COLUMNS, exportLog, type ExportOptions } from "./export.js";
import { EntryRecordSchema, SuperRecordSchema, EndRecordSchema } from "./records.js";

const tmp = makeTempDir("lwlog-convert-export-");
afterAll(() => tmp.cleanup());
const logPath = join(tmp.path, "every-kind.log");
const BIG = (1n << 60n) + 1n;
const data1 = randomBytes(1024, 3);

beforeAll(async () => {
  // One entry of every kind, a sector beyond 2^53, a name that is not UTF-8, and a tail.
  const w = await LogWriter.create(logPath, { sectorSize: 512, superPadding: 0xdeadbeef });
  await w.write(8n, data1, { flags: LogFlags.FUA | LogFlags.METADATA });
  await w.discard(BIG, 16n, 1n << 63n);
  await w.flush(LogFlags.FUA, 4n);
  await w.mark('name, with "quotes"\nand a line break');
  await w.mark(new Uint8Array([0xff, 0x00, 0x41]));
  await w.append({ header: { sector: 2n, nrSectors: 1n, flags: 1n << 40n, dataLen: 100n }, data: randomBytes(512, 4) });
  await w.writeSuper(6);
  await w.write(100n, randomBytes(512, 5));
  await w.close({ super: false });
});

async function exported(options: Partial<ExportOptions>, path = logPath): Promise<string> {
  const log = LogFile.openSync(path);
  const parts: string[] = [];
  try {
    await exportLog(log, (t) => void parts.push(t), { format: "ndjson", ...options });
  } finally {
    log.close();
  }
  return parts.join("");
}

describe("NDJSON", () => {
  it("a superblock record, one record per entry with every field, and an end record", async () => {
    const lines = (await exported({})).trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ type: "super", magic: "0x006a736677736872", version: 1, nrEntries: 6, sectorSize: 512, padding: 0xdeadbeef, dataEncoding: "sha256" });
    expect(SuperRecordSchema.parse(lines[0]).nrEntries).toBe(6n);
    const entries = lines.slice(1, -1);
    expect(entries.map((e) => e.kind)).toEqual(["write", "discard", "flush", "mark", "mark", "write", "write"]);
    expect(entries[0]).toEqual({
      type: "entry",
      index: 0,
      offset: 512,
      kind: "write",
      flags: 18,
      flagNames: ["FUA", "METADATA"],
      sector: 8,
      nrSectors: 2,
      byteOffset: 4096,
      byteLength: 1024,
      dataLen: 0,
      tail: false,
      sha256: createHash("sha256").update(data1).digest("hex"),
    });
    for (const e of entries) expect(EntryRecordSchema.safeParse(e).success).toBe(true);
    expect(entries.map((e) => e.tail)).toEqual([false, false, false, false, false, false, true]);
    expect(lines.at(-1)).toEqual({ type: "end", entries: 7, declared: 6, tail: 1, reason: "eof", offset: readFileSync(logPath).length, fileSize: readFileSync(logPath).length });
    expect(EndRecordSchema.safeParse(lines.at(-1)).success).toBe(true);
  });

  it("u64 values beyond 2^53 are exact decimal strings, never rounded", async () => {
    const text = await exported({ data: "none" });
    expect(text).toContain(`"sector":"${BIG}"`);
    expect(text).toContain(`"byteOffset":"${BIG * 512n}"`);
    expect(text).toContain(`"flags":1099511627776,`);
    expect(text).toContain(`"flags":"${(1n << 63n) | 4n}"`);
  });

  it("marks: the name as text, and markBase64 when it is not exact UTF-8; flags names and unknown bits", async () => {
    const entries = (await exported({ data: "none" })).trimEnd().split("\n").slice(1, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries[3]).toMatchObject({ kind: "mark", mark: 'name, with "quotes"\nand a line break', dataLen: 36 });
    expect(entries[3]!.markBase64).toBeUndefined();
    expect(entries[4]).toMatchObject({ kind: "mark", markBase64: Buffer.from([0xff, 0x00, 0x41]).toString("base64"), dataLen: 3 });
    expect(entries[5]).toMatchObject({ flagNames: ["UNKNOWN(0x10000000000)"], dataLen: 100 });
    expect(entries[2]).toMatchObject({ kind: "flush", flagNames: ["FLUSH", "FUA"], sector: 4 });
  });

  it("--data none leaves data out; base64 carries it whole", async () => {
    const none = (await exported({ data: "none" })).split("\n")[1]!;
    expect(none).not.toMatch(/sha256|base64/);
    const b64 = JSON.parse((await exported({ data: "base64" })).split("\n")[1]!) as { base64: string };
    expect(Buffer.from(b64.base64, "base64").equals(Buffer.from(data1))).toBe(true);
  });

  it("--declared-only leaves the tail out", async () => {
    const lines = (await exported({ tail: false })).trimEnd().split("\n");
    expect(lines.length).toBe(1 + 6 + 1);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ entries: 6, tail: 0, reason: "declared" });
  });

  it("starts writing before the log is read: the superblock record is the first thing out", async () => {
    const log = LogFile.openSync(logPath);
    const seen: string[] = [];
    await expect(
      exportLog(log, (t) => {
        seen.push(t);
        if (seen.length === 2) throw new Error("reader gone");
      }, { format: "ndjson" }),
    ).rejects.toThrow("reader gone");
    log.close();
    expect(seen[0]).toMatch(/^\{"type":"super"/);
    expect(seen[1]).toMatch(/^\{"type":"entry","index":0,/);
  });
});

describe("a crashed writer's log", () => {
  it("declared entries cut short: the error names entry and offset and points to convert --fix-superblock", async () => {
    const { writeFileSync } = await import("node:fs");
    const whole = readFileSync(logPath);
    const cut = join(tmp.path, "cut.log");
    writeFileSync(cut, whole.subarray(0, 1024 + 300)); // the first write's data cut short
    const err = await exported({}, cut).catch((x: unknown) => x);
    expect(err).toMatchObject({ name: "LogFormatError", file: cut, entry: 0, offset: 512 });
    expect(String((err as Error).message)).toMatch(/\(lwlog convert --fix-superblock writes a copy that declares the entries that are there\)$/);
  });
});

describe("JSON", () => {
  it("one document: super, entries, end (valid JSON, the same entry records)", async () => {
    const doc = JSON.parse(await exported({ format: "json" })) as { super: unknown; entries: Record<string, unknown>[]; end: unknown };
    expect(doc.super).toMatchObject({ nrEntries: 6, sectorSize: 512 });
    expect(doc.entries.length).toBe(7);
    const nd = (await exported({})).trimEnd().split("\n").slice(1, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(doc.entries).toEqual(nd.map(({ type: _t, ...rest }) => rest));
    expect(doc.end).toMatchObject({ entries: 7 });
  });

  it("an empty log is a valid document too", async () => {
    const empty = join(tmp.path, "empty.log");
    const w = await LogWriter.create(empty, { sectorSize: 4096 });
    await w.close();
    const log = LogFile.openSync(empty);
    const parts: string[] = [];
    await exportLog(log, (t) => void parts.push(t), { format: "json" });
    log.close();
    expect(JSON.parse(parts.join(""))).toMatchObject({ entries: [], end: { entries: 0 } });
  });
});

describe("CSV", () => {
  it("RFC 4180: a header row, one row per entry, CRLF, quoted fields, exact u64s", async () => {
    const text = await exported({ format: "csv" });
    expect(text.startsWith([...CSV_COLUMNS, "sha256"].join(",") + "\r\n")).toBe(true);
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(rows.length).toBe(7);
    expect(rows[1]).toMatchObject({ kind: "discard", sector: String(BIG), byteOffset: String(BIG * 512n), flags: String((1n << 63n) | 4n), flagNames: "DISCARD|UNKNOWN(0x8000000000000000)", sha256: "" });
    expect(rows[3]!.mark).toBe('name, with "quotes"\nand a line break');
    expect(text).toContain('"name, with ""quotes""\nand a line break"');
    expect(rows[0]).toMatchObject({ flags: "18", flagNames: "FUA|METADATA", tail: "false" });
    expect(rows[6]!.tail).toBe("true");
  });
});

describe("the entry text export writes is exactly JSON.stringify(entryToJson(entry))", () => {
  it("for every entry of the kernel logs and of the log above", async () => {
    const { kernelLogs } = await import("@lwlog/testkit");
    const { entryToJson } = await import("@lwlog/codec");
    const { entryJsonBody } = await import("./export.js");
    let n = 0;
    for (const path of [logPath, ...kernelLogs().map((k) => k.path)]) {
      const log = LogFile.openSync(path);
      const c = log.cursor({ tail: true });
      for (let e = c.next(); e !== undefined; e = c.next()) {
        expect(`{${entryJsonBody(e, log.sectorSize)}}`).toBe(JSON.stringify(entryToJson(e, log.sectorSize)));
        n += 1;
      }
      log.close();
    }
    expect(n).toBeGreaterThan(1900);
  });
});

describe("the records export writes for ordinary entries, straight as bytes, are the JSON of entryToJson", () => {
  it("for numbers of every size up to 2^53 (and past it, where the text path takes over), every flag combination and the tail", async () => {
    const { entryToJson } = await import("@lwlog/codec");
    const path = join(tmp.path, "magnitudes.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    const sectors = [0n, 9n, 10n, 99n, 4095n, (1n << 32n) - 1n, 1n << 32n, (1n << 32n) + 1n, 10n ** 12n + 7n, (1n << 44n) + 3n, (1n << 53n) / 512n - 1n, (1n << 53n) / 512n + 1n, (1n << 52n) + 9n];
    let i = 0;
    for (const sector of sectors) {
      const flags = BigInt(i++ % 32) & ~(LogFlags.MARK | LogFlags.DISCARD);
      await w.write(sector, randomBytes(1024, i), { flags });
      await w.discard(sector, sector + 1n);
      await w.flush(flags & LogFlags.FUA, sector);
    }
    await w.writeSuper(sectors.length * 2);
    await w.write(1n << 40n, randomBytes(512, 1));
    await w.close({ super: false });
    const log = LogFile.openSync(path);
    try {
      const want: string[] = [];
      const c = log.cursor({ tail: true });
      for (let e = c.next(); e !== undefined; e = c.next()) want.push(JSON.stringify({ type: "entry", ...entryToJson(e, 512) }));
      const lines = (await exported({ data: "none" }, path)).trimEnd().split("\n").slice(1, -1);
      expect(lines).toEqual(want);
      expect(want.length).toBe(sectors.length * 3 + 1);
    } finally {
      log.close();
    }
  });
});

describe("sinks", () => {
  it("a ByteSink gets the UTF-8 bytes of the text a TextSink gets, in every format and data encoding", async () => {
    // Marks with names to escape, wide u64s, a tail, a 4 MiB entry (more than one output buffer of base64).
    const path = join(tmp.path, "sinks.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    for (let i = 0; i < 3000; i++) await w.write(BigInt(i * 8), randomBytes(4096, i % 7), { flags: i % 5 === 0 ? LogFlags.FUA : 0n });
    await w.mark("ünïcödé \"mark\"\n");
    await w.write(1n << 50n, randomBytes(4 << 20, 9));
    await w.discard(BIG, 8n);
    await w.writeSuper(3001);
    await w.write(7n, randomBytes(512, 1));
    await w.close({ super: false });
    const log = LogFile.openSync(path);
    try {
      for (const format of ["ndjson", "json", "csv", "fio-iolog"] as const) {
        for (const data of ["none", "sha256", "base64"] as const) {
          const text: string[] = [];
          await exportLog(log, (t) => void text.push(t), { format, data });
          const bytes: Buffer[] = [];
          await exportLog(log, { writeBytes: (b) => void bytes.push(Buffer.from(b)) }, { format, data }); // a copy: the bytes are only lent
          expect(Buffer.concat(bytes).equals(Buffer.from(text.join(""), "utf8")), `${format} ${data}`).toBe(true);
          // Handed over in pieces as it goes, not held whole (but a CSV row, whose base64 data is one field).
          const most = format === "csv" && data === "base64" ? 8 << 20 : data === "base64" ? 4 << 20 : 256 << 10;
          expect(Math.max(...text.map((t) => t.length)), `${format} ${data}`).toBeLessThanOrEqual(most);
          expect(bytes.length, `${format} ${data}`).toBeGreaterThan(format === "fio-iolog" || data === "none" ? 1 : 2);
        }
      }
    } finally {
      log.close();
    }
  });

  it("waits for a sink that asks to be waited for before handing over more", async () => {
    const log = LogFile.openSync(logPath);
    let busy = false;
    let calls = 0;
    const sink = {
      writeBytes: async (b: Uint8Array): Promise<void> => {
        expect(busy).toBe(false);
        busy = true;
        calls += 1;
        const copy = Buffer.from(b);
        await new Promise((r) => setTimeout(r, 5));
        // The bytes lent were not overwritten while the sink held them.
        expect(Buffer.from(b).equals(copy)).toBe(true);
        busy = false;
      },
    };
    await exportLog(log, sink, { format: "ndjson", data: "base64" });
    log.close();
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});

describe("docs/json.md", () => {
  it("its example of every entry kind is what export writes for that log, in NDJSON, JSON and CSV", async () => {
    const doc = readFileSync(new URL("../../../docs/json.md", import.meta.url), "utf8");
    const section = doc.slice(doc.indexOf("## An example of every kind"), doc.indexOf("## Import: what comes back"));
    const blocks = [...section.matchAll(/```(json|csv)\n([\s\S]*?)```\n/g)].map((m) => m[2]!);
    expect(blocks.length).toBe(3);

    // The log the example describes (data: bytes 0xab, 0xcd, 0xef and 0x12).
    const path = join(tmp.path, "example.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    await w.append({ header: { sector: 8n, nrSectors: 2n, flags: 0n, dataLen: 0n }, data: Buffer.alloc(1024, 0xab) });
    await w.append({ header: { sector: 2048n, nrSectors: 1n, flags: LogFlags.FUA | LogFlags.METADATA, dataLen: 0n }, data: Buffer.alloc(512, 0xcd) });
    await w.append({ header: { sector: 4096n, nrSectors: 2048n, flags: LogFlags.DISCARD, dataLen: 0n } });
    await w.append({ header: { sector: 2048n, nrSectors: 0n, flags: LogFlags.FLUSH | LogFlags.FUA | LogFlags.METADATA, dataLen: 0n } });
    await w.append({ header: { sector: 0n, nrSectors: 0n, flags: LogFlags.MARK, dataLen: 4n }, inline: Buffer.from("mkfs") });
    await w.append({ header: { sector: 0n, nrSectors: 0n, flags: LogFlags.MARK, dataLen: 4n }, inline: Buffer.from([0x6d, 0xff, 0x00, 0x32]) });
    await w.append({ header: { sector: 16n, nrSectors: 1n, flags: 0n, dataLen: 100n }, data: Buffer.alloc(512, 0xef) });
    await w.append({ header: { sector: 1n << 60n, nrSectors: 8n, flags: LogFlags.DISCARD, dataLen: 0n } });
    await w.append({ header: { sector: 0n, nrSectors: 0n, flags: LogFlags.FUA, dataLen: 0n } });
    await w.writeSuper(9);
    await w.append({ header: { sector: 24n, nrSectors: 1n, flags: 0n, dataLen: 0n }, data: Buffer.alloc(512, 0x12) });
    await w.close({ super: false });

    const nd = await exported({ source: "example.log" }, path);
    expect(blocks[0]).toBe(nd);
    const kinds = new Set(nd.trimEnd().split("\n").map((l) => (JSON.parse(l) as { kind?: string }).kind));
    for (const kind of ["write", "discard", "flush", "mark", "noop"]) expect(kinds.has(kind), kind).toBe(true);

    // JSON: its first lines and last lines (the middle is elided with "…").
    const json = (await exported({ format: "json", data: "none", source: "example.log" }, path)).trimEnd().split("\n");
    const shown = blocks[1]!.trimEnd().split("\n");
    const cut = shown.indexOf("…");
    expect(shown.slice(0, cut)).toEqual(json.slice(0, cut));
    expect(shown.slice(cut + 1)).toEqual(json.slice(json.length - (shown.length - cut - 1)));

    // CSV: CRLF shown as LF, the NUL of entry 5's name as a space (as the doc says).
    const csv = await exported({ format: "csv", data: "none", tail: false }, path);
    expect(blocks[2]).toBe(csv.replaceAll("\r\n", "\n").replaceAll("\0", " "));
  });
});
