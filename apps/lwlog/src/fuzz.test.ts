import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { LogFile, SUPER_FIELDS } from "@lwlog/codec";
import { kernelLogs, makeTempDir, testDataDir } from "@lwlog/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLwlog, type CliRun } from "./testing.js";

// Every command that reads a log or an export, run in-process on mutated real logs (excerpts
// of the kernel logs, the samples, the bad fixtures) and mutated exports (NDJSON, JSON, CSV
// with --data base64), with the promises each run must keep whatever its input: an exit code
// in the documented set, never 70 (a bug) nor a stack trace; a failure said as
// `lwlog: error: … [LWLOG_…]`; no stdout on an error where the command promises that; the
// inputs unchanged (hashed before and after); a new output file left only by a success, an
// existing one never replaced unasked, nor by a failure; memory bounded by what the files
// hold. Seeded: the same inputs every run. LWLOG_FUZZ_RUNS scales the number of inputs (it
// is sized for a few tens of seconds in CI), LWLOG_FUZZ_SEED picks other ones (fast-check
// prints the seed and the shrunk input of a failure, to replay it).

const scale = Number(process.env.LWLOG_FUZZ_RUNS ?? 1);
const seed = process.env.LWLOG_FUZZ_SEED === undefined ? 20_251_111 : Number(process.env.LWLOG_FUZZ_SEED);
const tmp = makeTempDir("lwlog-cli-fuzz-");
// Hundreds of files written and read back: in memory when /dev/shm is there.
const shm = existsSync("/dev/shm") ? mkdtempSync("/dev/shm/lwlog-cli-fuzz-") : undefined;
const work = shm ?? tmp.path;
const logCorpus: { name: string; bytes: Uint8Array }[] = [];
const exportCorpus: { name: string; format: "ndjson" | "json" | "csv"; sectorSize: number; text: string }[] = [];
let clean = "";

/** Entries `[from, from+n)` of a log, as a log of their own (a superblock declaring them), at most ~`maxBytes`. */
function excerpt(path: string, from: number, maxBytes: number): Uint8Array {
  const all = new Uint8Array(readFileSync(path));
  const log = LogFile.openSync(path);
  try {
    const c = log.cursor();
    const offsets: number[] = [];
    let end = 0;
    for (let e = c.next(); e !== undefined; e = c.next()) {
      if (e.index < from) continue;
      if (offsets.length > 0 && e.nextOffset - offsets[0]! > maxBytes) break;
      offsets.push(e.offset);
      end = e.nextOffset;
    }
    const S = log.sectorSize;
    const out = new Uint8Array(S + end - offsets[0]!);
    out.set(all.subarray(0, S));
    out.set(all.subarray(offsets[0]!, end), S);
    new DataView(out.buffer).setBigUint64(SUPER_FIELDS.nrEntries, BigInt(offsets.length), true);
    return out;
  } finally {
    log.close();
  }
}

beforeAll(async () => {
  for (const k of kernelLogs()) {
    for (const from of [0, Math.floor(k.entries / 2), k.entries - 10]) {
      logCorpus.push({ name: `${k.file}@${from}`, bytes: excerpt(k.path, from, k.superblock.sectorsize === 512 ? 16 << 10 : 48 << 10) });
    }
  }
  for (const dir of ["samples", "bad"]) {
    for (const f of readdirSync(join(testDataDir, dir)).filter((n) => n.endsWith(".log"))) {
      const bytes = new Uint8Array(readFileSync(join(testDataDir, dir, f)));
      if (bytes.length <= 64 << 10) logCorpus.push({ name: `${dir}/${f}`, bytes });
    }
  }
  clean = join(work, "clean.log");
  writeFileSync(clean, logCorpus[0]!.bytes);
  // Exports of a few logs, each format, with the data (what import needs).
  const sources = logCorpus.filter((c) => /@0$|samples\/(mark|tail-entries|sector-4096|flush-fua)/.test(c.name));
  for (const src of sources) {
    const path = join(work, "source.log");
    writeFileSync(path, src.bytes);
    const sectorSize = new DataView(src.bytes.buffer, src.bytes.byteOffset).getUint32(SUPER_FIELDS.sectorSize, true);
    for (const format of ["ndjson", "json", "csv"] as const) {
      const r = await runLwlog(["export", path, "--format", format, "--data", "base64"]);
      expect(r.code, r.stderr).toBe(0);
      exportCorpus.push({ name: `${src.name}.${format}`, format, sectorSize, text: r.stdout });
    }
  }
});
afterAll(() => {
  tmp.cleanup();
  if (shm !== undefined) rmSync(shm, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// Mutations.

const EXTREMES = [0n, 1n, 7n, 0xffn, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 44n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];

type LogMutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "u64"; block: number; field: number; value: bigint }
  | { kind: "super"; field: "nrEntries" | "sectorSize"; value: bigint }
  | { kind: "truncate"; at: number }
  | { kind: "splice"; at: number; from: number; start: number; length: number };

const logMutation: fc.Arbitrary<LogMutation> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("u64" as const),
      block: fc.nat({ max: 64 }),
      field: fc.constantFrom(0, 8, 16, 24),
      value: fc.oneof(fc.constantFrom(...EXTREMES), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 4096n })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("super" as const),
      field: fc.constantFrom("nrEntries" as const, "sectorSize" as const),
      value: fc.oneof(fc.constantFrom(...EXTREMES), fc.bigInt({ min: 0n, max: 64n }), fc.constantFrom(32n, 512n, 4096n, 8n << 20n)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("splice" as const), at: fc.nat(), from: fc.nat(), start: fc.nat(), length: fc.nat({ max: 8192 }) }) },
);

function mutateLog(bytes: Uint8Array, m: LogMutation): Uint8Array {
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (m.kind) {
    case "flip":
      if (n > 0) bytes[m.at % n]! ^= 1 << m.bit;
      return bytes;
    case "u64": {
      // A field of a header block: one sector of the log's own size in.
      const S = n >= 28 ? view.getUint32(SUPER_FIELDS.sectorSize, true) : 512;
      const unit = S >= 32 && S <= 1 << 23 && (S & (S - 1)) === 0 ? S : 512;
      const at = (m.block * unit) % Math.max(n, 1);
      const field = at - (at % unit) + m.field;
      if (field + 8 <= n) view.setBigUint64(field, m.value, true);
      return bytes;
    }
    case "super":
      if (m.field === "nrEntries" && n >= 24) view.setBigUint64(SUPER_FIELDS.nrEntries, m.value, true);
      if (m.field === "sectorSize" && n >= 28) view.setUint32(SUPER_FIELDS.sectorSize, Number(m.value & 0xffffffffn), true);
      return bytes;
    case "truncate":
      return bytes.slice(0, m.at % (n + 1));
    case "splice": {
      const src = logCorpus[m.from % logCorpus.length]!.bytes;
      const start = m.start % (src.length + 1);
      const piece = src.subarray(start, start + m.length);
      const at = m.at % (n + 1);
      const out = new Uint8Array(n + piece.length);
      out.set(bytes.subarray(0, at));
      out.set(piece, at);
      out.set(bytes.subarray(at), at + piece.length);
      return out;
    }
  }
}

/** Values a field of a record may be edited to: extremes of every type. */
const ODD_VALUES = [
  "0",
  "-1",
  "1.5",
  "1e400",
  "9007199254740993",
  '"18446744073709551615"',
  '"18446744073709551616"',
  '"9223372036854775808"',
  '"0x10"',
  '""',
  "null",
  "true",
  "[]",
  "{}",
  '"mkfs"',
  '"write"',
  '"flush"',
  '"AAAA"',
  '"=="',
];
const FIELDS = ["index", "offset", "kind", "flags", "flagNames", "sector", "nrSectors", "byteOffset", "byteLength", "dataLen", "tail", "mark", "markBase64", "base64", "type", "entries", "sectorSize", "nrEntries", "version", "padding", "magic"];

type TextMutation =
  | { kind: "cut"; at: number }
  | { kind: "dropLine"; line: number }
  | { kind: "dupLine"; line: number }
  | { kind: "swapLines"; line: number }
  | { kind: "char"; at: number; char: string }
  | { kind: "field"; which: number; field: string; value: string }
  | { kind: "cell"; line: number; column: number; value: string };

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("dropLine" as const), line: fc.nat() }),
  fc.record({ kind: fc.constant("dupLine" as const), line: fc.nat() }),
  fc.record({ kind: fc.constant("swapLines" as const), line: fc.nat() }),
  fc.record({ kind: fc.constant("char" as const), at: fc.nat(), char: fc.constantFrom("", "0", "9", '"', ",", "{", "}", "[", "]", ":", "\n", "\r", "\\", "x", "-", "é", "\u0000") }),
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("field" as const), which: fc.nat(), field: fc.constantFrom(...FIELDS), value: fc.constantFrom(...ODD_VALUES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("cell" as const), line: fc.nat(), column: fc.nat({ max: 14 }), value: fc.constantFrom("", "0", "-1", "x", "18446744073709551616", "9223372036854775808", "1.5", "true", "FLUSH|FUA", '"a,b"', "AAAA") }) },
);

function mutateText(text: string, m: TextMutation): string {
  const lines = text.split("\n");
  const n = lines.length;
  switch (m.kind) {
    case "cut":
      return text.slice(0, m.at % (text.length + 1));
    case "dropLine":
      lines.splice(m.line % n, 1);
      return lines.join("\n");
    case "dupLine":
      lines.splice(m.line % n, 0, lines[m.line % n]!);
      return lines.join("\n");
    case "swapLines": {
      const i = m.line % n;
      const j = (i + 1) % n;
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join("\n");
    }
    case "char": {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.char + text.slice(at + 1);
    }
    case "field": {
      // The `which`-th occurrence of the field, its value replaced.
      const re = new RegExp(`"${m.field}":("(?:[^"\\\\]|\\\\.)*"|[^,}\\]]*)`, "g");
      const hits = [...text.matchAll(re)];
      if (hits.length === 0) return text;
      const hit = hits[m.which % hits.length]!;
      return text.slice(0, hit.index) + `"${m.field}":${m.value}` + text.slice(hit.index! + hit[0].length);
    }
    case "cell": {
      const i = m.line % n;
      const cells = lines[i]!.split(",");
      cells[m.column % cells.length] = m.value;
      lines[i] = cells.join(",");
      return lines.join("\n");
    }
  }
}

// ---------------------------------------------------------------------------------------
// The promises of every run.

/** One run of a command: what it reads, what it may write. */
interface Run {
  args: string[];
  /** Files the run reads: they must come out unchanged. */
  inputs: string[];
  /** A file that did not exist: it may exist afterwards only if the run succeeded. */
  creates?: string;
  /** A file that existed (a sentinel): only a successful run with --force may replace it. */
  existing?: { path: string; force: boolean };
  /** The command promises no stdout when it fails (it prints only once it has read everything). */
  noPartial?: boolean;
  /** Exit 1 is an answer (invalid, different, not found), said without an error line. */
  answerIsOne?: boolean;
}

const SENTINEL = "precious: not to be replaced unasked\n";
const sha = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

async function check(run: Run): Promise<CliRun> {
  const before = run.inputs.map((p) => sha(readFileSync(p)));
  if (run.creates !== undefined) rmSync(run.creates, { force: true });
  if (run.existing !== undefined) writeFileSync(run.existing.path, SENTINEL);
  const r = await runLwlog(run.args);
  const what = `lwlog ${run.args.join(" ")}\nexit ${r.code}\nstderr: ${r.stderr}`;
  expect([0, 1, 2], what).toContain(r.code);
  expect(r.stderr, what).not.toMatch(/internal error|\n\s+at .+:\d+:\d+/);
  for (const line of r.stderr.split("\n").filter((l) => /^lwlog: .*error/.test(l))) {
    expect(line, what).toMatch(/^lwlog: error: .+ \[LWLOG_[A-Z0-9_]+\]$/);
  }
  if (r.code === 2 || (r.code === 1 && !run.answerIsOne)) expect(r.stderr, what).toMatch(/^lwlog: error: .+ \[LWLOG_[A-Z0-9_]+\]$/m);
  if (r.code !== 0 && run.noPartial && !(r.code === 1 && run.answerIsOne)) expect(r.stdout, what).toBe("");
  expect(
    run.inputs.map((p) => sha(readFileSync(p))),
    `${what}\nan input changed`,
  ).toEqual(before);
  if (run.creates !== undefined && r.code !== 0) expect(existsSync(run.creates), `${what}\na failed run left its output`).toBe(false);
  if (run.existing !== undefined && (r.code !== 0 || !run.existing.force)) {
    expect(readFileSync(run.existing.path, "utf8"), `${what}\nan existing output was replaced`).toBe(SENTINEL);
  }
  // Nothing the size of a garbage length is allocated and kept (the inputs are < 100 KiB).
  expect(process.memoryUsage().arrayBuffers, what).toBeLessThan(baseline + (256 << 20));
  // No temporary file is left beside an output.
  expect(readdirSync(out).filter((f) => f.includes(".tmp") || f.includes(".lwlog-")), what).toEqual([]);
  return r;
}

let baseline = 0;
let out = "";
beforeAll(() => {
  baseline = process.memoryUsage().arrayBuffers;
  out = join(work, "out");
  mkdirSync(out);
});

const CONVERTS = [[], ["--sector-size", "4096"], ["--sector-size", "512", "--truncate-marks"], ["--fix-superblock"], ["--for", "qemu"], ["--for", "kernel"], ["--declared-only"]];

/** Every command that reads a log, on `log`. */
function logRuns(log: string, variant: number, existing: boolean, force: boolean): Run[] {
  const newOut = (name: string) => ({ creates: join(out, name) });
  const outFile = (name: string): { args: string[]; creates?: string; existing?: { path: string; force: boolean } } =>
    existing ? { args: ["-o", join(out, `old-${name}`), ...(force ? ["--force"] : [])], existing: { path: join(out, `old-${name}`), force } } : { args: ["-o", join(out, name)], ...newOut(name) };
  const { args: convArgs, ...conv } = outFile("conv.log");
  const { args: csvArgs, ...csv } = outFile("export.csv");
  const { args: svgArgs, ...svg } = outFile("plot.svg");
  const img = join(out, "replay.img");
  return [
    { args: ["info", log], inputs: [log], noPartial: true },
    { args: ["info", "--json", log], inputs: [log], noPartial: true },
    { args: ["dump", "--ndjson", "--tail", "--data", variant % 2 ? "hex" : "sha256", log], inputs: [log] },
    { args: ["dump", log, "--from", String(variant % 5), "--to", String(variant % 7 + 3)], inputs: [log] },
    { args: ["marks", "--tail", log], inputs: [log], noPartial: true },
    { args: ["check", "--json", log], inputs: [log], answerIsOne: true },
    { args: ["find", variant % 2 ? "--next-flush" : "--next-fua", "--tail", log], inputs: [log], noPartial: true, answerIsOne: true },
    { args: ["find", "--mark", "mkfs", log], inputs: [log], noPartial: true, answerIsOne: true },
    { args: ["export", "--data", "base64", log], inputs: [log] },
    { args: ["export", "--format", "csv", log, ...csvArgs], inputs: [log], noPartial: true, ...csv },
    { args: ["convert", log, ...convArgs, ...CONVERTS[variant % CONVERTS.length]!, "-q"], inputs: [log], noPartial: true, ...conv },
    { args: ["plot", log, ...svgArgs], inputs: [log], noPartial: true, ...svg },
    { args: ["replay", log, "--to", img, "--size", "4M", "-q"], inputs: [log], noPartial: true },
    { args: ["diff", "--state", log, clean], inputs: [log, clean], noPartial: true, answerIsOne: true },
    { args: ["diff", variant % 2 ? "--epochs" : "--tail", "--json", clean, log], inputs: [log, clean], noPartial: true, answerIsOne: true },
  ];
}

describe("fuzz: every command on mutated logs and exports", () => {
  it("has a corpus of real logs and exports that the commands read cleanly", async () => {
    expect(logCorpus.length).toBeGreaterThan(40);
    expect(exportCorpus.length).toBeGreaterThanOrEqual(18);
    const r = await runLwlog(["check", clean]);
    expect(r.code, r.stdout).toBe(0);
  });

  it("mutated logs: every command keeps its promises", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(logMutation, { minLength: 1, maxLength: 4 }), fc.nat(), fc.boolean(), fc.boolean(), async (base, mutations, variant, existing, force) => {
        let bytes: Uint8Array = logCorpus[base % logCorpus.length]!.bytes.slice();
        for (const m of mutations) bytes = mutateLog(bytes, m);
        const log = join(work, `in-${n++ % 4}.log`);
        writeFileSync(log, bytes);
        for (const run of logRuns(log, variant, existing, force)) {
          await check(run);
          rmSync(join(out, "replay.img"), { force: true });
        }
      }),
      { seed, numRuns: Math.max(1, Math.round(40 * scale)), interruptAfterTimeLimit: 120_000 * scale, markInterruptAsFailure: false },
    );
  }, 600_000);

  it("mutated exports: import keeps its promises, and what it builds reads as a log", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(textMutation, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.boolean(), fc.boolean(), async (base, mutations, existing, fix, stdinName) => {
        const src = exportCorpus[base % exportCorpus.length]!;
        let text = src.text;
        for (const m of mutations) text = mutateText(text, m);
        // Half the inputs without an extension saying their format: import guesses it.
        const input = join(work, `in-${n++ % 4}${stdinName ? "" : `.${src.format}`}`);
        writeFileSync(input, text);
        const target = existing ? join(out, "old-import.log") : join(out, "import.log");
        const args = ["import", input, "-o", target, ...(src.format === "csv" ? ["--sector-size", String(src.sectorSize)] : []), ...(fix ? ["--fix-superblock"] : []), ...(existing ? ["--force"] : [])];
        const r = await check({
          args,
          inputs: [input],
          noPartial: true,
          ...(existing ? { existing: { path: target, force: true } } : { creates: target }),
        });
        if (r.code === 0) {
          await check({ args: ["check", target], inputs: [target], answerIsOne: true });
          await check({ args: ["diff", target, clean], inputs: [target, clean], answerIsOne: true, noPartial: true });
        }
      }),
      { seed, numRuns: Math.max(1, Math.round(150 * scale)), interruptAfterTimeLimit: 60_000 * scale, markInterruptAsFailure: false },
    );
  }, 600_000);
});
