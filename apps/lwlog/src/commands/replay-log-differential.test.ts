import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { buildReplayLog, makeTempDir, randomBytes } from "@lwlog/testkit";
import type { CliIo } from "../io.js";
import { MemoryStream } from "../testing.js";
import { parseReplayLogArgs, runReplayLog } from "./replay-log.js";

// Random valid logs replayed (and searched) by lwlog's drop-in and by the C replay-log built
// from xfstests' source, with the same options: the same exit code, the same stdout (the -v
// and -vv lines, ENTRY@SECTOR), byte-identical images; except where docs/cli.md says lwlog
// differs on purpose, where lwlog's documented behaviour is checked instead.

const tmp = makeTempDir("lwlog-replay-log-diff-");
afterAll(() => tmp.cleanup());
let cReplayLog = "";
beforeAll(() => {
  cReplayLog = buildReplayLog(tmp.path);
});

const FLUSH = 1n;
const FUA = 2n;
const METADATA = 16n;
/** The device: 64 sectors; writes and discards may reach a little past it (the image file grows). */
const DEVICE = 64;
const NAMES = ["a", "b", "mkfs", "end"];

type Op = { kind: "write"; sector: number; nr: number; flags: bigint; seed: number } | { kind: "discard"; sector: number; nr: number } | { kind: "flush"; flags: bigint } | { kind: "mark"; name: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      sector: fc.integer({ min: 0, max: DEVICE - 1 }),
      nr: fc.integer({ min: 1, max: 8 }),
      flags: fc.constantFrom(0n, 0n, FUA, METADATA, FUA | METADATA, FLUSH),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("discard" as const), sector: fc.integer({ min: 0, max: DEVICE - 1 }), nr: fc.integer({ min: 1, max: 24 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("flush" as const), flags: fc.constantFrom(0n, FUA | METADATA) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("mark" as const), name: fc.constantFrom(...NAMES) }) },
);

interface Options {
  start: { entry: number } | { mark: string } | undefined;
  endMark: string | undefined;
  nextFua: boolean;
  nextFlush: boolean;
  limit: number | undefined;
  startSector: number | undefined;
  endSector: number | undefined;
  noDiscard: boolean;
  verbose: number;
  find: boolean;
}

const optionsArb: fc.Arbitrary<Options> = fc.record({
  start: fc.option(fc.oneof(fc.record({ entry: fc.integer({ min: 0, max: 32 }) }), fc.record({ mark: fc.constantFrom(...NAMES) })), { nil: undefined }),
  // --end-mark together with --next-fua/--next-flush is a documented difference of its own (below).
  stop: fc.constantFrom("none", "mark", "fua", "flush", "both", "limit", "limit+fua", "limit+mark"),
  name: fc.constantFrom(...NAMES),
  limit: fc.integer({ min: 0, max: 34 }),
  startSector: fc.option(fc.integer({ min: 0, max: DEVICE }), { nil: undefined }),
  endSector: fc.option(fc.integer({ min: 0, max: DEVICE + 8 }), { nil: undefined }),
  noDiscard: fc.boolean(),
  verbose: fc.constantFrom(0, 1, 2),
  find: fc.boolean(),
}).map((r) => ({
  start: r.start,
  endMark: r.stop.includes("mark") ? r.name : undefined,
  nextFua: r.stop.includes("fua") || r.stop === "both",
  nextFlush: r.stop === "flush" || r.stop === "both",
  limit: r.stop.startsWith("limit") ? r.limit : undefined,
  startSector: r.startSector,
  endSector: r.endSector,
  noDiscard: r.noDiscard,
  verbose: r.verbose,
  find: r.find,
}));

function argvOf(o: Options, log: string, image: string): string[] {
  const a = ["--log", log];
  if (!o.find) a.push("--replay", image);
  if (o.start && "entry" in o.start) a.push("--start-entry", String(o.start.entry));
  if (o.start && "mark" in o.start) a.push("--start-mark", o.start.mark);
  if (o.endMark !== undefined) a.push("--end-mark", o.endMark);
  if (o.nextFua) a.push("--next-fua");
  if (o.nextFlush) a.push("--next-flush");
  if (o.limit !== undefined) a.push("--limit", String(o.limit));
  if (o.startSector !== undefined) a.push("--start-sector", String(o.startSector));
  if (o.endSector !== undefined) a.push("--end-sector", String(o.endSector));
  if (o.noDiscard) a.push("--no-discard");
  if (o.verbose > 0) a.push(o.verbose === 1 ? "-v" : "-vv");
  if (o.find) a.push("--find");
  return a;
}

let n = 0;
async function writeLog(S: number, ops: Op[]): Promise<string> {
  const path = join(tmp.path, `log-${++n}.log`);
  const w = await LogWriter.create(path, { sectorSize: S });
  for (const op of ops) {
    if (op.kind === "write") await w.write(BigInt(op.sector), randomBytes(op.nr * S, op.seed), { flags: op.flags });
    else if (op.kind === "discard") await w.discard(BigInt(op.sector), BigInt(op.nr));
    else if (op.kind === "flush") await w.flush(op.flags);
    else await w.mark(op.name);
  }
  await w.close();
  return path;
}

/** The entry where the replay or search starts, or undefined when the start point does not exist. */
function startIndex(ops: Op[], o: Options): number | undefined {
  if (o.start === undefined) return 0;
  if ("entry" in o.start) return o.start.entry < ops.length ? o.start.entry : undefined;
  const name = o.start.mark;
  const at = ops.findIndex((op) => op.kind === "mark" && op.name === name);
  return at < 0 ? undefined : at + 1;
}

function flagsOf(op: Op): bigint {
  return op.kind === "write" ? op.flags : op.kind === "flush" ? op.flags | FLUSH : op.kind === "discard" ? 4n : 8n;
}

/**
 * The documented differences of a replay (docs/cli.md): a stop mark that is not in the log
 * from the start point on (and no other stop option met before the end), or a
 * --next-fua/--next-flush with nothing to stop at (and no other stop option: --limit 0 is
 * none), is exit 1 with nothing written where replay-log replays to the end, exit 0.
 */
function refusedByLwlog(ops: Op[], o: Options): boolean {
  if (o.find) return false;
  const start = startIndex(ops, o);
  if (start === undefined) return false; // both refuse
  const rest = ops.slice(start);
  const want = (o.nextFua ? FUA : 0n) | (o.nextFlush ? FLUSH : 0n);
  // Another stop option met first: the replay stops there, as replay-log's (the mark is not looked for past it).
  const otherMet = (o.limit !== undefined && o.limit > 0 && o.limit <= rest.length) || (want !== 0n && rest.some((op) => (flagsOf(op) & want) !== 0n));
  if (o.endMark !== undefined) return !otherMet && !rest.some((op) => op.kind === "mark" && op.name === o.endMark);
  if (want !== 0n && !o.limit) return !otherMet;
  return false;
}

/**
 * The first byte offset where `a` and `b` differ (the shorter one's length when one is a
 * prefix of the other), or -1: vitest's deep equality walks a buffer one element at a time.
 */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let at = 0; at < n; at += 65536) {
    const end = Math.min(n, at + 65536);
    if (Buffer.compare(a.subarray(at, end), b.subarray(at, end)) !== 0) {
      for (let i = at; i < end; i++) if (a[i] !== b[i]) return i;
    }
  }
  return a.length === b.length ? -1 : n;
}

async function runLwlog(argv: string[]): Promise<{ code: number; stdout: string }> {
  const stdout = new MemoryStream();
  const io: CliIo = { stdout, stderr: new MemoryStream(), env: {}, cwd: tmp.path };
  const code = await runReplayLog(argv, io);
  return { code, stdout: stdout.text };
}

function runC(argv: string[]): { code: number; stdout: string } {
  const r = spawnSync(cReplayLog, argv, { cwd: tmp.path, encoding: "utf8" });
  if (r.error) throw r.error;
  return { code: r.status ?? 128, stdout: r.stdout };
}

describe("lwlog replay-log against the C replay-log on random logs", () => {
  it("the same exit code, stdout and image, except where docs/cli.md says otherwise", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(64, 512, 1024, 4096), fc.array(opArb, { minLength: 1, maxLength: 30 }), optionsArb, fc.integer({ min: 1, max: 1 << 30 }), async (S, ops, o, seed) => {
        const log = await writeLog(S, ops);
        const initial = randomBytes(DEVICE * S, seed);
        const images = [join(tmp.path, `c-${n}.img`), join(tmp.path, `lw-${n}.img`)] as const;
        for (const img of images) writeFileSync(img, initial);
        const c = runC(argvOf(o, log, images[0]));
        const lw = await runLwlog(argvOf(o, log, images[1]));
        if (refusedByLwlog(ops, o)) {
          expect(c.code).toBe(0);
          expect(lw.code).toBe(1);
          expect(firstDifference(readFileSync(images[1]), initial)).toBe(-1);
          return;
        }
        expect(lw).toEqual(c);
        expect(firstDifference(readFileSync(images[1]), readFileSync(images[0]))).toBe(-1);
      }),
      { numRuns: 150 },
    );
  }, 600_000);

  it("--end-mark with --next-fua: lwlog stops at the first of them; replay-log, at the mark only", async () => {
    const log = await writeLog(512, [
      { kind: "write", sector: 0, nr: 1, flags: FUA, seed: 1 },
      { kind: "write", sector: 1, nr: 1, flags: 0n, seed: 2 },
      { kind: "mark", name: "a" },
    ]);
    const argv = ["--log", log, "--find", "--next-fua", "--end-mark", "a"];
    expect(runC(argv).stdout).toBe("2@6\n");
    expect((await runLwlog(argv)).stdout).toBe("0@3\n");
  });

  it("a discard of more than 128 MiB onto a file: lwlog zeroes it, replay-log leaves the old bytes", async () => {
    const log = join(tmp.path, "big-discard.log");
    const w = await LogWriter.create(log, { sectorSize: 4096 });
    await w.write(0n, randomBytes(4096, 3));
    await w.discard(0n, 33024n); // 129 MiB
    await w.close();
    const old = randomBytes(4096, 9);
    const [a, b] = [join(tmp.path, "big-c.img"), join(tmp.path, "big-lw.img")];
    for (const img of [a, b]) writeFileSync(img, old);
    expect(runC(["--log", log, "--replay", a, "-v"])).toEqual({ code: 0, stdout: expect.stringContaining("discard len 135266304 larger than max 134217728\n") });
    expect((await runLwlog(["--log", log, "--replay", b])).code).toBe(0);
    expect(readFileSync(a).subarray(0, 4096)).toEqual(Buffer.from(randomBytes(4096, 3))); // the written data, not zeroed
    const lw = readFileSync(b);
    expect(firstDifference(lw, new Uint8Array(33024 * 4096))).toBe(-1);
  });
});

/** True when `argv` (as lwlog reads it, when it does) asks for --end-mark and --next-fua or --next-flush together. */
function stopsOnMarkAndFlag(argv: string[]): boolean {
  try {
    const o = parseReplayLogArgs(argv);
    return o.endMark !== undefined && (o.nextFua || o.nextFlush);
  } catch {
    return false;
  }
}

describe("command lines as glibc's getopt_long reads replay-log's", () => {
  const vocabulary = ["--next-flush", "--next-fua", "--start-entry", "--end-mark", "--limit", "--verbose", "--find", "--num-entries", "--no-discard", "--start-mark", "--start-sector", "--end-sector", "--fsck", "--check"];
  // With no --replay among them, --fsck's command never runs: what counts is how it and --check are read.
  const values = ["0", "1", "3", "0x2", "010", "08", "", "-1", " 2", "2 ", "a", "mkfs", "99999999999999999999999", "flush", "fua", "discard", "true"];

  it("the same exit code and stdout for random abbreviations, values and stray arguments", async () => {
    const log = await writeLog(512, [
      { kind: "write", sector: 0, nr: 1, flags: 0n, seed: 1 },
      { kind: "mark", name: "mkfs" },
      { kind: "flush", flags: FUA | METADATA },
      { kind: "write", sector: 2, nr: 2, flags: FUA, seed: 2 },
      { kind: "mark", name: "a" },
    ]);
    const token = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...vocabulary), fc.integer({ min: 3, max: 14 }), fc.constantFrom("", "=", " "), fc.constantFrom(...values)).map(([name, len, join, value]) => (join === " " ? [name.slice(0, len), value] : join === "=" ? [`${name.slice(0, len)}=${value}`] : [name.slice(0, len)])) },
      { weight: 1, arbitrary: fc.constantFrom(["-v"], ["-vv"], ["-x"], ["--"], ["stray"], ["-"], ["--bogus"], ["--log"]) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(token, { maxLength: 6 }), fc.integer({ min: 0, max: 6 }), async (tokens, at) => {
        const argv = tokens.flat();
        argv.splice(Math.min(at, argv.length), 0, "--log", log);
        // --end-mark with --next-fua/--next-flush: the documented difference, checked above.
        fc.pre(!stopsOnMarkAndFlag(argv));
        const c = runC(argv);
        const lw = await runLwlog(argv);
        expect({ argv, ...lw }).toEqual({ argv, ...c });
      }),
      { numRuns: 300 },
    );
  }, 600_000);
});
