import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseCsv } from "csv-parse/sync";
import { LogEntryJsonSchema, LogFile } from "@lwlog/codec";
import { kernelLogs, makeTempDir, qemuLog, run } from "@lwlog/testkit";
import { runCli } from "../cli.js";
import type { CliIo } from "../io.js";
import { runLwlog } from "../testing.js";
import { expectQemuLog, type QemuRun } from "./test-qemu-model.js";
import { SAMPLE, S, badLogs, sampleLog } from "./test-logs.js";

const tmp = makeTempDir("lwlog-dump-");
afterAll(() => tmp.cleanup());

interface DumpedEntry {
  index: number;
  offset: number;
  kind: string;
  flags: number;
  flagNames: string[];
  sector: number;
  nrSectors: number;
  byteOffset: number;
  byteLength: number;
  dataLen: number;
  tail: boolean;
  mark?: string;
  sha256?: string;
  hex?: string;
}

async function dumpJson(args: string[]): Promise<DumpedEntry[]> {
  const r = await runLwlog(["dump", "--json", ...args]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as DumpedEntry[];
}

let qemuCase = 0;
/** Runs qemu-io on QEMU's blklogwrites and returns the log with what the model expects of it. */
function qemu(run: QemuRun) {
  const dir = `${tmp.path}/qemu-${qemuCase++}`;
  mkdirSync(dir);
  const made = qemuLog({
    dir,
    sectorSize: run.sectorSize,
    imageSize: run.imageSize,
    commands: run.commands,
    ...(run.cache !== undefined ? { cache: run.cache } : {}),
    ...(run.superInterval !== undefined ? { superInterval: run.superInterval } : {}),
  });
  return { log: made.log, expected: expectQemuLog(run) };
}

describe("lwlog dump on logs written by QEMU's blklogwrites", () => {
  const MiB = 1 << 20;
  const cases: { name: string; run: QemuRun }[] = [
    {
      name: "512-byte sectors, writeback: writes, a flush, write-zeroes, a discard, an unaligned write, a FUA write",
      run: {
        sectorSize: 512,
        cache: "writeback",
        imageSize: MiB,
        commands: [
          "write -P 0xaa 0 4096",
          "write -P 0xbb 8192 4096",
          "flush",
          "write -f -P 0xd0 12288 512",
          "write -z 16384 8192",
          "discard 32768 4096",
          "write -P 0xcc 1000 100",
          "write -f -P 0xdd 65536 512",
          "write -f -P 0xde 66048 512",
        ],
      },
    },
    {
      name: "1024-byte sectors, qemu-io's default writethrough: every write is FUA, emulated with a flush",
      run: {
        sectorSize: 1024,
        imageSize: MiB,
        commands: [
          "write -P 0x11 0 8192",
          "write -P 0x22 8192 1024",
          "discard 16384 2048",
          "write -P 0x33 700 600",
          "flush",
          "write -z 20480 4096",
          "write -z 30000 5000",
          "write -P 0x44 512 512",
        ],
      },
    },
    {
      name: "4096-byte sectors, writeback: unaligned writes and write-zeroes split into head, middle and tail",
      run: {
        sectorSize: 4096,
        cache: "writeback",
        imageSize: MiB,
        commands: [
          "write -P 0x5a 0 65536",
          "write -P 0x66 1024 10240",
          "write -z 1024 10240",
          "write -z 40960 512",
          "write -z -u 50000 4000",
          "write -z 81920 12288",
          "flush",
          "discard 131072 8192",
          "write -z 135168 100",
        ],
      },
    },
    {
      name: "4096-byte sectors, writethrough, write-zeroes in three parts",
      run: { sectorSize: 4096, imageSize: MiB, commands: ["write -P 0x77 0 20480", "write -z 1024 10240", "discard 65536 4096", "write -P 0x78 4000 200"] },
    },
    {
      name: "512-byte sectors, unsafe cache with a superblock every 3 entries: no flushes, a tail past the declared count",
      run: {
        sectorSize: 512,
        cache: "unsafe",
        imageSize: MiB,
        superInterval: 3,
        commands: ["write -P 1 0 512", "write -P 2 512 512", "write -P 3 4096 1024", "flush", "discard 8192 512", "write -P 4 100 10"],
      },
    },
  ];

  for (const { name, run } of cases) {
    it(name, async () => {
      const { log, expected } = qemu(run);
      const got = await dumpJson([log, "--tail", "--data", "sha256"]);
      expect(got.length).toBeGreaterThan(0);
      expect(
        got.map((e) => ({ kind: e.kind, flags: e.flags, sector: e.sector, nrSectors: e.nrSectors, ...(e.sha256 !== undefined ? { sha256: e.sha256 } : {}) })),
      ).toEqual(expected.entries);
      got.forEach((e, i) => {
        expect(e.index).toBe(i);
        expect(e.tail).toBe(i >= expected.declared);
        expect(e.byteOffset).toBe(e.sector * run.sectorSize);
        expect(e.byteLength).toBe(e.nrSectors * run.sectorSize);
        expect(LogEntryJsonSchema.safeParse(e).success).toBe(true);
      });
      // Without --tail, only the declared entries.
      const declared = await runLwlog(["dump", "--json", log]);
      expect((JSON.parse(declared.stdout) as unknown[]).length).toBe(expected.declared);
      const hidden = expected.entries.length - expected.declared;
      if (hidden > 0) {
        expect(declared.stderr).toBe(`lwlog: ${log}: ${hidden} valid ${hidden === 1 ? "entry" : "entries"} past the declared count not shown (--tail shows them)\n`);
      } else expect(declared.stderr).toBe("");
    });
  }

  it("the unsafe case really has a tail (the test above is not vacuous)", () => {
    const e = expectQemuLog(cases[4]!.run);
    expect(e.entries.length - e.declared).toBeGreaterThan(0);
  });

  it("hex data is the bytes QEMU wrote, and matches the sha256", async () => {
    const { log } = qemu({ sectorSize: 512, cache: "writeback", imageSize: MiB, commands: ["write -P 0x3c 1024 1536", "write -P 0x5e 100 20"] });
    const got = await dumpJson([log, "--data", "hex"]);
    expect(got[0]!.hex).toBe("3c".repeat(1536));
    // The unaligned write is one read-modify-write of sector 0: zeros, then 20 bytes of 0x5e at 100.
    expect(got[1]!.hex).toBe("00".repeat(100) + "5e".repeat(20) + "00".repeat(512 - 120));
    const sums = await dumpJson([log, "--data", "sha256"]);
    for (let i = 0; i < 2; i++) expect(sums[i]!.sha256).toBe(createHash("sha256").update(Buffer.from(got[i]!.hex!, "hex")).digest("hex"));
    expect(got[2]).toMatchObject({ kind: "flush" });
    expect(got[2]!.hex).toBeUndefined();
  });
});

describe("lwlog dump: formats", () => {
  let log: string;
  beforeAll(async () => {
    log = await sampleLog(tmp.path, "formats.log");
  });

  it("--json is one array of the codec's entry objects, with the offsets of the sample", async () => {
    const got = await dumpJson([log]);
    expect(got.map((e) => e.offset)).toEqual([...SAMPLE.offsets]);
    expect(got.map((e) => e.kind)).toEqual(["write", "flush", "mark", "discard", "write", "mark"]);
    expect(got[3]).toMatchObject({ sector: 100, nrSectors: 16, byteOffset: 100 * S, byteLength: 16 * S, flagNames: ["DISCARD"] });
    expect(got[4]).toMatchObject({ flags: 2, flagNames: ["FUA"], sector: 0, nrSectors: 1 });
    expect(got.filter((e) => e.kind === "mark").map((e) => e.mark)).toEqual(["one", "two"]);
  });

  it("--ndjson, --csv and --json list the same entries", async () => {
    const json = await dumpJson([log, "--data", "sha256"]);
    const nd = await runLwlog(["dump", "--ndjson", "--data", "sha256", log]);
    expect(nd.code).toBe(0);
    const lines = nd.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as DumpedEntry);
    expect(lines).toEqual(json);
    const csv = await runLwlog(["dump", "--csv", "--data", "sha256", log]);
    expect(csv.code).toBe(0);
    expect(csv.stdout).toContain("\r\n");
    const rows = parseCsv(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(rows.length).toBe(json.length);
    rows.forEach((r, i) => {
      const j = json[i]!;
      expect(r.index).toBe(String(j.index));
      expect(r.offset).toBe(String(j.offset));
      expect(r.kind).toBe(j.kind);
      expect(r.flagNames).toBe(j.flagNames.join("|"));
      expect(r.sector).toBe(String(j.sector));
      expect(r.byteLength).toBe(String(j.byteLength));
      expect(r.mark).toBe(j.mark ?? "");
      expect(r.sha256).toBe(j.sha256 ?? "");
    });
  });

  it("--csv --data hex streams the hex as the last field", async () => {
    const csv = await runLwlog(["dump", "--csv", "--data", "hex", log]);
    const json = await dumpJson([log, "--data", "hex"]);
    const rows = parseCsv(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.hex)).toEqual(json.map((j) => j.hex ?? ""));
    expect(rows[0]!.hex!.length).toBe(2 * 2 * S);
  });

  it("plain text when piped: a header, one aligned row per entry, flags by name, marks last", async () => {
    const r = await runLwlog(["dump", log]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]!.split(/\s+/)).toEqual(["ENTRY", "OFFSET", "SECTOR", "BYTE-OFFSET", "LENGTH", "FLAGS", "MARK"]);
    expect(lines.length).toBe(1 + SAMPLE.entries);
    expect(lines[1]!.trim().split(/\s+/)).toEqual(["0", "512", "8", "4096", "1024", "NONE"]);
    expect(lines[3]!.trim().split(/\s+/)).toEqual(["2", "2560", "0", "0", "0", "MARK", "one"]);
    expect(lines[5]!.trim().split(/\s+/)).toEqual(["4", "3584", "0", "0", "512", "FUA"]);
    // Aligned: every row's FLAGS column starts where the header's does.
    const at = lines[0]!.indexOf("FLAGS");
    for (const l of lines.slice(1)) expect(l.slice(at).split(/\s+/)[0]).toMatch(/^[A-Z|]+$/);
    expect(r.stdout).not.toMatch(/[┌│─]/);
  });

  it("a cli-table3 table on a terminal", async () => {
    const r = await runLwlog(["dump", log], { tty: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/┌/);
    expect(r.stdout).toMatch(/│ +ENTRY │/);
    expect(r.stdout).toContain("two");
  });

  it("on a terminal, a listing longer than 1000 rows (or with hex) streams as plain text instead", async () => {
    const { LogWriter } = await import("@lwlog/codec");
    const path = `${tmp.path}/long.log`;
    const w = await LogWriter.create(path, { sectorSize: S });
    for (let i = 0; i < 1200; i++) await w.flush();
    await w.close();
    const long = await runLwlog(["dump", path], { tty: true });
    expect(long.stdout).not.toMatch(/[┌│─]/);
    const lines = long.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(1201);
    expect(lines[1200]!.trim().split(/\s+/)).toEqual(["1199", String(S + 1199 * S), "0", "0", "0", "FLUSH"]);
    const short = await runLwlog(["dump", "--to", "999", path], { tty: true });
    expect(short.stdout).toMatch(/┌/);
    const hex = await runLwlog(["dump", "--data", "hex", log], { tty: true });
    expect(hex.stdout).not.toMatch(/[┌│─]/);
    expect(hex.stdout.split("\n")[1]).toMatch(/ NONE +[0-9a-f]{2048}$/);
  });

  it("mark names that are not printable are quoted with escapes in text, kept exact in JSON", async () => {
    const path = `${tmp.path}/odd-marks.log`;
    const { LogWriter } = await import("@lwlog/codec");
    const w = await LogWriter.create(path, { sectorSize: S });
    await w.mark("two\nlines");
    await w.mark(new Uint8Array([0x66, 0xff, 0x6f]));
    await w.close();
    const text = await runLwlog(["dump", path]);
    expect(text.stdout.trimEnd().split("\n").length).toBe(3);
    expect(text.stdout).toContain('"two\\nlines"');
    const json = await dumpJson([path]);
    expect(json[0]!.mark).toBe("two\nlines");
    expect(json[1]).toMatchObject({ mark: "f\ufffdo", markBase64: Buffer.from([0x66, 0xff, 0x6f]).toString("base64") });
  });

  it("an empty selection is an empty array, a header only in text", async () => {
    expect(await dumpJson([log, "--kind", "metadata"])).toEqual([]);
    const r = await runLwlog(["dump", "--kind", "metadata", log]);
    expect(r.stdout.trimEnd().split("\n")).toHaveLength(1);
  });
});

describe("lwlog dump: filters", () => {
  let log: string;
  beforeAll(async () => {
    log = await sampleLog(tmp.path, "filters.log");
  });
  const indexes = async (args: string[]) => (await dumpJson([log, ...args])).map((e) => e.index);

  it("--from and --to (inclusive)", async () => {
    expect(await indexes(["--from", "2"])).toEqual([2, 3, 4, 5]);
    expect(await indexes(["--to", "1"])).toEqual([0, 1]);
    expect(await indexes(["--from", "1", "--to", "3"])).toEqual([1, 2, 3]);
    expect(await indexes(["--from", "4", "--to", "99"])).toEqual([4, 5]);
  });

  it("--from-mark and --to-mark include the marks", async () => {
    expect(await indexes(["--from-mark", "one"])).toEqual([2, 3, 4, 5]);
    expect(await indexes(["--to-mark", "one"])).toEqual([0, 1, 2]);
    expect(await indexes(["--from-mark", "one", "--to-mark", "two"])).toEqual([2, 3, 4, 5]);
    expect(await indexes(["--from", "3", "--to-mark", "two"])).toEqual([3, 4, 5]);
  });

  it("--kind selects by the same rules info counts by", async () => {
    expect(await indexes(["--kind", "write"])).toEqual([0, 4]);
    expect(await indexes(["--kind", "discard,mark"])).toEqual([2, 3, 5]);
    expect(await indexes(["--kind", "fua"])).toEqual([4]);
    expect(await indexes(["--kind", "none"])).toEqual([0]);
    expect(await indexes(["--kind", "flush"])).toEqual([1]);
  });

  it("--sectors keeps the writes and discards that touch the range", async () => {
    expect(await indexes(["--sectors", "9-9"])).toEqual([0]);
    expect(await indexes(["--sectors", "10-99"])).toEqual([]);
    expect(await indexes(["--sectors", "0-8"])).toEqual([0, 4]);
    expect(await indexes(["--sectors", "115-"])).toEqual([3]);
    expect(await indexes(["--sectors", "116-200"])).toEqual([]);
  });

  it("--sectors past 2^64 - 1 or backwards is a usage error that says which", async () => {
    const big = await runLwlog(["dump", "--sectors", "18446744073709551616-", log]);
    expect(big).toMatchObject({ code: 2, stdout: "" });
    expect(big.stderr).toMatch(/sectors are 64-bit numbers, at most 18446744073709551615/);
    const back = await runLwlog(["dump", "--sectors", "9-8", log]);
    expect(back.code).toBe(2);
    expect(back.stderr).toMatch(/the end is before the start/);
  });

  it("filters combine", async () => {
    expect(await indexes(["--kind", "write", "--from", "1"])).toEqual([4]);
    expect(await indexes(["--sectors", "0-200", "--kind", "discard"])).toEqual([3]);
  });

  it("a mark that is not there is exit 1 before anything is printed", async () => {
    const r = await runLwlog(["dump", "--from-mark", "nope", log]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${log}: no mark named "nope"`);
    const r2 = await runLwlog(["dump", "--from-mark", "two", "--to-mark", "one", log]);
    expect(r2.code).toBe(1);
    expect(r2.stdout).toBe("");
    expect(r2.stderr).toContain(`no mark named "one" after mark "two" (entry 5)`);
    expect(r2.stderr).not.toContain("did you mean");
  });

  it("a mark typo: the error says which marks are near and lists the log's marks (--from-mark and --to-mark)", async () => {
    const from = await runLwlog(["dump", "--from-mark", "On", log]);
    expect([from.code, from.stdout]).toEqual([1, ""]);
    expect(from.stderr).toBe(`lwlog: error: ${log}: no mark named "On" among the declared entries; did you mean "one"? (the log has 2 marks: "one", "two"); --tail looks further [LWLOG_NO_SUCH_MARK]\n`);
    const to = await runLwlog(["dump", "--tail", "--to-mark", "tow", log]);
    expect([to.code, to.stdout]).toEqual([1, ""]);
    expect(to.stderr).toBe(`lwlog: error: ${log}: no mark named "tow"; did you mean "two"? (the log has 2 marks: "one", "two") [LWLOG_NO_SUCH_MARK]\n`);
  });

  it("--from past the last entry is exit 1, an error with its code, and nothing on stdout (found by the CLI fuzzer)", async () => {
    for (const format of [[], ["--json"], ["--csv"], ["--ndjson"]]) {
      const r = await runLwlog(["dump", ...format, "--from", "6", log]);
      expect(r).toMatchObject({ code: 1, stdout: "" });
      expect(r.stderr).toBe(`lwlog: error: ${log}: there is no entry 6: the log has 6 entries [LWLOG_NO_SUCH_ENTRY]\n`);
    }
  });

  it("usage errors are exit 2 with a message and no stack", async () => {
    const cases: [string[], RegExp][] = [
      [["--json", "--csv"], /one of --json, --ndjson and --csv/],
      [["--from", "3", "--to", "1"], /--to 1 is before --from 3/],
      [["--from", "-1"], /whole number/],
      [["--from", "1", "--from-mark", "one"], /cannot be used together/],
      [["--kind", "writes"], /unknown value "writes"/],
      [["--data", "base64"], /--data is one of none, hex, sha256/],
      [["--sectors", "9-3"], /the end is before the start/],
      [["--bogus"], /unknown option/],
    ];
    for (const [args, message] of cases) {
      const r = await runLwlog(["dump", ...args, log]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe("");
    }
  });
});

describe("lwlog dump: tail and broken logs", () => {
  it("garbage after the last entry is not an entry", async () => {
    const bad = await badLogs.garbageTail(tmp.path);
    const got = await dumpJson([bad.path, "--tail"]);
    expect(got.map((e) => e.index)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("a broken declared entry stops the dump with exit 1, naming the entry and offset", async () => {
    const bad = await badLogs.dirtyPadding(tmp.path);
    const r = await runLwlog(["dump", "--ndjson", bad.path]);
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split("\n")).toHaveLength(1); // entry 0 was fine
    expect(r.stderr).toContain(`${bad.path}: entry 1: offset ${bad.offset}: malformed entry`);
    expect(r.stderr).toContain("[LWLOG_MALFORMED_ENTRY]");
  });
});

describe("lwlog dump on the kernel logs", () => {
  for (const k of kernelLogs()) {
    it(`${k.file}: --kind counts match the manifest's flag counts, marks sit at their entries`, async () => {
      const all = await dumpJson([k.path]);
      expect(all.length).toBe(k.entries);
      const count = (flag: number) => all.filter((e) => (e.flags & flag) !== 0).length;
      for (const [name, bit] of [["FLUSH", 1], ["FUA", 2], ["DISCARD", 4], ["MARK", 8], ["METADATA", 16]] as const) {
        expect(count(bit), name).toBe(k.flag_counts[name] ?? 0);
        const kind = await dumpJson([k.path, "--kind", name.toLowerCase()]);
        expect(kind.length, `--kind ${name.toLowerCase()}`).toBe(k.flag_counts[name] ?? 0);
      }
      expect(all.filter((e) => e.flags === 0).length).toBe(k.flag_counts.NONE ?? 0);
      for (const m of k.marks) expect(all[m.entry_index]).toMatchObject({ kind: "mark", mark: m.name });
    });
  }
});

describe("lwlog dump streams", () => {
  it("waits for a full stream to drain, in order, and never holds the whole output", async () => {
    const dir = tmp.path;
    const { LogWriter } = await import("@lwlog/codec");
    const path = `${dir}/many.log`;
    const w = await LogWriter.create(path, { sectorSize: S });
    const block = new Uint8Array(S);
    for (let i = 0; i < 20000; i++) await w.write(BigInt(i), block);
    await w.close();

    // A stream that says "full" after every write and drains later: dump must wait each time.
    let pending = 0;
    let maxPending = 0;
    let drains = 0;
    const chunks: string[] = [];
    const listeners: (() => void)[] = [];
    const stdout = {
      isTTY: false,
      write(chunk: string | Uint8Array) {
        chunks.push(String(chunk));
        pending += 1;
        maxPending = Math.max(maxPending, pending);
        setImmediate(() => {
          pending -= 1;
          drains += 1;
          for (const l of listeners.splice(0)) l();
        });
        return false;
      },
      once(_event: "drain", listener: () => void) {
        listeners.push(listener);
      },
    };
    const stderr = { write: () => true };
    const io: CliIo = { stdout, stderr, env: { NO_COLOR: "1" }, cwd: dir };
    const code = await runCli(["dump", "--ndjson", path], io);
    expect(code).toBe(0);
    expect(maxPending).toBe(1); // never a second write while one is waiting
    expect(drains).toBeGreaterThan(10);
    const lines = chunks.join("").trimEnd().split("\n");
    expect(lines.length).toBe(20000);
    expect(JSON.parse(lines[19999]!)).toMatchObject({ index: 19999, sector: 19999 });
  });

  it("reads big entries' data in chunks (a 12 MiB write as hex and sha256)", async () => {
    const { LogWriter } = await import("@lwlog/codec");
    const path = `${tmp.path}/big.log`;
    const w = await LogWriter.create(path, { sectorSize: 4096 });
    const data = new Uint8Array(12 << 20).fill(0xab);
    await w.write(0n, data);
    await w.close();
    const log = LogFile.openSync(path);
    const entry = log.cursor().next()!;
    log.close();
    expect(entry.dataSize).toBe(12 << 20);
    const r = await runLwlog(["dump", "--ndjson", "--data", "sha256", path]);
    expect(JSON.parse(r.stdout).sha256).toBe(createHash("sha256").update(data).digest("hex"));
    const hex = await runLwlog(["dump", "--csv", "--data", "hex", path]);
    expect(hex.code).toBe(0);
    expect(hex.stdout.length).toBeGreaterThan(24 << 20);
    expect(hex.stdout.endsWith("ab".repeat(8) + "\r\n")).toBe(true);
  });
});

describe("the built lwlog dump in a pipe", () => {
  const main = resolve(dirname(fileURLToPath(import.meta.url)), "../../dist/main.js");

  it("stops quietly with exit 0 when the reader closes the pipe (dump | head -1)", async () => {
    const { LogWriter } = await import("@lwlog/codec");
    const path = `${tmp.path}/pipe.log`;
    const w = await LogWriter.create(path, { sectorSize: S });
    for (let i = 0; i < 50000; i++) await w.discard(BigInt(i), 1n);
    await w.close();
    const r = run("bash", ["-c", `"${process.execPath}" "${main}" dump --ndjson "${path}" | head -1; echo "lwlog exit \${PIPESTATUS[0]}" >&2`]);
    expect(JSON.parse(r.stdout)).toMatchObject({ index: 0, kind: "discard" });
    expect(r.stderr).toBe("lwlog exit 0\n");
  });

  it("exit codes and messages come through the real process", async () => {
    const path = await sampleLog(tmp.path, "real-process.log");
    const bad = run(process.execPath, [main, "dump", "--json", "--from-mark", "x", path], { check: false });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toBe(`lwlog: error: ${path}: no mark named "x" among the declared entries (the log has 2 marks: "one", "two"); --tail looks further [LWLOG_NO_SUCH_MARK]\n`);
    const usage = run(process.execPath, [main, "dump", "--csv", "--ndjson", path], { check: false });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toBe("lwlog: error: choose one of --json, --ndjson and --csv [LWLOG_USAGE]\n");
  });
});
