import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENTRY_FIELDS, LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, qemuLog, randomBytes } from "@lwlog/testkit";
import { runCli } from "../cli.js";
import type { CliIo } from "../io.js";
import { MemoryStream, runLwlog } from "../testing.js";
import { checkLog, formatReport, type CheckReport } from "./check.js";
import { SAMPLE, S, badLogs, bytesOf, patch, sampleLog, u64, type BadLog } from "./test-logs.js";

const tmp = makeTempDir("lwlog-check-");
afterAll(() => tmp.cleanup());

async function check(path: string, args: string[] = []): Promise<{ code: number; report: CheckReport; text: string }> {
  const r = await runLwlog(["check", "--json", ...args, path]);
  expect(r.stderr).toBe("");
  const text = await runLwlog(["check", ...args, path]);
  expect(text.code).toBe(r.code);
  return { code: r.code, report: JSON.parse(r.stdout) as CheckReport, text: text.stdout };
}

describe("lwlog check on good logs", () => {
  for (const k of kernelLogs()) {
    it(`${k.file} is valid, with nothing to say`, async () => {
      const { code, report, text } = await check(k.path);
      expect(code).toBe(0);
      expect(report).toMatchObject({ valid: true, errors: 0, warnings: 0, notes: 0, entries: k.entries, tailEntries: 0, problems: [], omitted: 0 });
      expect(text.split("\n")[0]).toBe(`${k.path}: valid (0 errors, 0 warnings, 0 notes)`);
    });
  }

  it("a QEMU log with entries past the declared count: valid, with a note", async () => {
    const dir = join(tmp.path, "qemu");
    mkdirSync(dir);
    const { log } = qemuLog({ dir, sectorSize: 512, cache: "unsafe", superInterval: 2, commands: ["write -P 1 0 512", "write -P 2 512 512", "write -P 3 1024 512"] });
    const { code, report } = await check(log);
    expect(code).toBe(0);
    expect(report).toMatchObject({ valid: true, declaredEntries: 2, entries: 3, tailEntries: 1, notes: 1 });
    expect(report.problems).toEqual([
      expect.objectContaining({ severity: "note", code: "LWLOG_TAIL_ENTRIES", entry: 2, offset: 512 + 2 * 1024 }),
    ]);
  });

  it("zeros after the last entry (a log device bigger than its log): valid, a note", async () => {
    const path = await sampleLog(tmp.path, "zeros.log");
    writeFileSync(path, new Uint8Array(4096), { flag: "a" });
    const { code, report } = await check(path);
    expect(code).toBe(0);
    expect(report.problems).toEqual([{ severity: "note", code: "LWLOG_UNUSED_SPACE", entry: 6, offset: SAMPLE.size, message: expect.stringContaining("4096 bytes after it") }]);
  });
});

/** `check` on a broken log: exit `code`, and the problem listed with its entry and offset. */
async function expectListed(bad: BadLog, severity: "error" | "warning", exit: number): Promise<CheckReport> {
  const { code, report, text } = await check(bad.path);
  expect(code).toBe(exit);
  expect(report.valid).toBe(exit === 0);
  const p = report.problems.find((x) => x.code === bad.code);
  expect(p, JSON.stringify(report.problems)).toBeDefined();
  expect(p!.severity).toBe(severity);
  if (bad.entry !== undefined) expect(p!.entry).toBe(bad.entry);
  if (bad.offset !== undefined) expect(p!.offset).toBe(bad.offset);
  const where = [bad.entry !== undefined ? `entry ${bad.entry}` : "", bad.offset !== undefined ? `offset ${bad.offset}` : ""].filter(Boolean).join(", ");
  expect(text).toContain(`${severity.padEnd(7)}  ${where}${where ? ": " : ""}`);
  expect(text).toContain(`[${bad.code}]`);
  expect(text.split("\n")[0]).toBe(`${bad.path}: ${exit === 0 ? "valid" : "INVALID"} (${report.errors} error${report.errors === 1 ? "" : "s"}, ${report.warnings} warning${report.warnings === 1 ? "" : "s"}, ${report.notes} note${report.notes === 1 ? "" : "s"})`);
  return report;
}

describe("lwlog check on bad input", () => {
  it("an empty file: invalid, exit 1", async () => {
    await expectListed(await badLogs.empty(tmp.path), "error", 1);
  });
  it("a directory, a missing file: exit 2, not a report", async () => {
    const dir = join(tmp.path, "dir");
    mkdirSync(dir);
    for (const [path, code] of [
      [dir, "LWLOG_IS_DIRECTORY"],
      [join(tmp.path, "missing"), "LWLOG_NOT_FOUND"],
    ] as const) {
      const r = await runLwlog(["check", path]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`${path}: `);
      expect(r.stderr).toContain(`[${code}]`);
    }
  });
  it("wrong magic", async () => {
    await expectListed(await badLogs.wrongMagic(tmp.path), "error", 1);
  });
  it("wrong version", async () => {
    await expectListed(await badLogs.wrongVersion(tmp.path), "error", 1);
  });
  it("sector size 0, 1000 and 16 MiB", async () => {
    for (const size of [0, 1000, 16 << 20]) await expectListed(await badLogs.sectorSize(tmp.path, size), "error", 1);
  });
  it("truncated superblock", async () => {
    await expectListed(await badLogs.truncatedSuperFields(tmp.path), "error", 1);
    await expectListed(await badLogs.truncatedSuperSector(tmp.path), "error", 1);
  });
  it("header cut short", async () => {
    await expectListed(await badLogs.headerCutShort(tmp.path), "error", 1);
  });
  it("data past the end of the file", async () => {
    await expectListed(await badLogs.dataPastEof(tmp.path), "error", 1);
  });
  it("nr_sectors 2^63", async () => {
    await expectListed(await badLogs.hugeNrSectors(tmp.path), "error", 1);
  });
  it("more entries declared than the file holds", async () => {
    await expectListed(await badLogs.overDeclared(tmp.path), "error", 1);
  });
  it("non-zero padding in a non-mark header: an error, and the entries after it are still checked", async () => {
    const report = await expectListed(await badLogs.dirtyPadding(tmp.path), "error", 1);
    expect(report.entries).toBe(SAMPLE.entries);
  });
  it("a mark name filling its whole block: a warning, the log is valid", async () => {
    await expectListed(await badLogs.fullMark(tmp.path), "warning", 0);
  });
  it("garbage after the last entry: a warning, the log is valid", async () => {
    const report = await expectListed(await badLogs.garbageTail(tmp.path), "warning", 0);
    expect(report.entries).toBe(SAMPLE.entries);
  });
  it("a discard whose range ends past 2^64 bytes: an error (no data in the log, so only check sees it)", async () => {
    const path = await sampleLog(tmp.path, "far-discard.log");
    patch(path, SAMPLE.offsets[3] + ENTRY_FIELDS.nrSectors, u64(1n << 63n));
    await expectListed({ path, code: "LWLOG_TARGET_RANGE", entry: 3, offset: SAMPLE.offsets[3] }, "error", 1);
    const info = await runLwlog(["info", "--json", path]);
    expect(info.code).toBe(0); // readable: info reports the range as it is
  });
  it("a mark name that is not UTF-8, an empty mark name, unknown flag bits: warnings", async () => {
    const path = join(tmp.path, "odd.log");
    const w = await LogWriter.create(path, { sectorSize: S });
    await w.mark(new Uint8Array([0xff]));
    await w.mark("");
    await w.write(3n, new Uint8Array(S), { flags: 0x40n });
    await w.close();
    const { code, report } = await check(path);
    expect(code).toBe(0);
    expect(report.problems.map((p) => [p.severity, p.code, p.entry])).toEqual([
      ["warning", "LWLOG_MARK_NOT_TEXT", 0],
      ["warning", "LWLOG_EMPTY_MARK", 1],
      ["warning", "LWLOG_UNKNOWN_FLAGS", 2],
    ]);
    expect(report.problems[0]!.message).toBe("mark name is not UTF-8 text without NULs (1 bytes, base64 /w==); look it up by its bytes");
  });
  it("a mark whose name length is garbage: the error alone, not also a warning quoting the block as base64", async () => {
    const path = await sampleLog(tmp.path, "garbage-mark-length.log");
    const at = SAMPLE.offsets[2]; // mark "one"
    patch(path, at + ENTRY_FIELDS.dataLen, u64(1n << 40n));
    const { code, report } = await check(path);
    expect(code).toBe(1);
    expect(report.problems.filter((p) => p.offset === at).map((p) => p.code)).toEqual(["LWLOG_BAD_MARK"]);
  });
});

describe("lwlog check lists every problem", () => {
  it("three broken entries, a warning and the superblock's padding, in log order", async () => {
    const path = await sampleLog(tmp.path, "many.log");
    patch(path, 200, new Uint8Array([1])); // superblock sector, after its fields
    patch(path, SAMPLE.offsets[0] + 40, new Uint8Array([1]));
    patch(path, SAMPLE.offsets[1] + 511, new Uint8Array([1]));
    patch(path, SAMPLE.offsets[3] + ENTRY_FIELDS.flags, u64(4n | 0x100n)); // a discard with an unknown bit
    patch(path, SAMPLE.offsets[4] + 32, new Uint8Array([9]));
    const { code, report } = await check(path);
    expect(code).toBe(1);
    expect(report.problems.map((p) => [p.severity, p.code, p.entry, p.offset])).toEqual([
      ["warning", "LWLOG_SUPER_PADDING", undefined, 200],
      ["error", "LWLOG_MALFORMED_ENTRY", 0, SAMPLE.offsets[0]],
      ["error", "LWLOG_MALFORMED_ENTRY", 1, SAMPLE.offsets[1]],
      ["warning", "LWLOG_UNKNOWN_FLAGS", 3, SAMPLE.offsets[3]],
      ["error", "LWLOG_MALFORMED_ENTRY", 4, SAMPLE.offsets[4]],
    ]);
    expect(report).toMatchObject({ errors: 3, warnings: 2, notes: 0, entries: 6 });
  });

  it("caps the list on a pathological log and says how many more", async () => {
    const path = join(tmp.path, "pathological.log");
    const w = await LogWriter.create(path, { sectorSize: S });
    for (let i = 0; i < 350; i++) await w.flush();
    await w.close();
    for (let i = 0; i < 350; i++) patch(path, S + i * S + 64, new Uint8Array([1]));
    const { code, report, text } = await check(path);
    expect(code).toBe(1);
    expect(report.errors).toBe(350);
    expect(report.problems).toHaveLength(100);
    expect(report.omitted).toBe(250);
    expect(report.problems[99]!.entry).toBe(99);
    expect(text).toContain("… and 250 more (--max-problems 0 lists them all)");
    const some = await check(path, ["--max-problems", "7"]);
    expect(some.report).toMatchObject({ omitted: 343 });
    expect(some.report.problems).toHaveLength(7);
    const all = await check(path, ["--max-problems", "0"]);
    expect(all.report.problems).toHaveLength(350);
  });
});

describe("lwlog check writes its report as it goes", () => {
  it("a problem at a time (--max-problems 0 on millions of problems outgrew a string: exit 70), the same text and JSON", async () => {
    const path = join(tmp.path, "flushes.log");
    const w = await LogWriter.create(path, { sectorSize: S });
    for (let i = 0; i < 3000; i++) await w.flush();
    await w.close();
    for (let i = 0; i < 3000; i++) patch(path, S + i * S + 64, new Uint8Array([1]));
    for (const json of [false, true]) {
      const stdout = new MemoryStream();
      const io: CliIo = { stdout, stderr: new MemoryStream(), env: { NO_COLOR: "1" }, cwd: tmp.path };
      expect(await runCli(["check", "--max-problems", "0", ...(json ? ["--json"] : []), path], io)).toBe(1);
      // Written in batches of ~64 KiB, never the whole report (~400 KiB) at once.
      expect(stdout.chunks.length).toBeGreaterThan(3);
      expect(Math.max(...stdout.chunks.map((c) => c.length))).toBeLessThan(70_000);
      const report = json ? (JSON.parse(stdout.text) as CheckReport) : await checkLog(path, 0);
      expect(report.problems).toHaveLength(3000);
      expect(stdout.text).toBe(json ? JSON.stringify(report, null, 2) + "\n" : formatReport(report));
    }
  });
});

describe("the inspector never crashes", () => {
  let bases: Uint8Array[];
  beforeAll(async () => {
    const dir = join(tmp.path, "fuzz-bases");
    mkdirSync(dir);
    const q = qemuLog({ dir, sectorSize: 1024, cache: "writeback", superInterval: 3, commands: ["write -P 1 0 3000", "discard 8192 2048", "write -z 500 700", "flush", "write -P 2 9000 100"] });
    const small = kernelLogs().find((k) => k.file === "raw-4k.log")!;
    bases = [bytesOf(await sampleLog(dir)), bytesOf(q.log), bytesOf(small.path).subarray(0, 64 << 10)];
  });

  it("on thousands of mutated and truncated logs, check/info/dump/marks end in a result or exit 1, never a bug", async () => {
    const path = join(tmp.path, "fuzz.log");
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("byte" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant("u64" as const), at: fc.nat(), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
      fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: bases.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (which, mutations) => {
        let bytes = new Uint8Array(bases[which]!);
        for (const m of mutations) {
          // Aim most mutations at the superblock and header fields, where they matter.
          const sectors = Math.max(1, Math.floor(bytes.length / 512));
          const at = m.at % 3 === 0 ? m.at % Math.max(1, bytes.length) : (m.at % sectors) * 512 + (m.at % 4) * 8;
          if (m.kind === "truncate") bytes = bytes.subarray(0, m.at % (bytes.length + 1));
          else if (m.kind === "byte" && at < bytes.length) bytes[at] = m.value;
          else if (m.kind === "u64" && at + 8 <= bytes.length) new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at, m.value, true);
        }
        writeFileSync(path, bytes);
        for (const argv of [["check", "--json"], ["info", "--json"], ["dump", "--ndjson", "--tail", "--data", "sha256"], ["marks", "--json", "--tail"]]) {
          const r = await runLwlog([...argv, path]);
          if (![0, 1].includes(r.code) || r.stderr.includes("internal error")) throw new Error(`${argv.join(" ")}: exit ${r.code}\n${r.stderr}`);
          if (argv[0] === "check") {
            const report = JSON.parse(r.stdout) as CheckReport;
            expect(report.valid).toBe(r.code === 0);
            expect(report.errors > 0).toBe(r.code === 1);
          } else if (r.code === 1) {
            expect(r.stderr).toMatch(/^lwlog: error: .*\[LWLOG_[A-Z_]+\]\n$/s);
          }
        }
      }),
      { numRuns: 1500 },
    );
  }, 240_000);

  it("random bytes with a valid superblock: the same", async () => {
    const path = join(tmp.path, "noise.log");
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 100000 }), fc.integer({ min: 0, max: 12 }), async (seed, extra) => {
        const body = randomBytes(512 + extra * 97, seed);
        const head = bytesOf(await sampleLog(tmp.path, "noise-base.log")).subarray(0, 512);
        writeFileSync(path, Buffer.concat([head, body]));
        const r = await runLwlog(["check", "--json", path]);
        expect([0, 1]).toContain(r.code);
        JSON.parse(r.stdout);
      }),
      { numRuns: 200 },
    );
  });
});
