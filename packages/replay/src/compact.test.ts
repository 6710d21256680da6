import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, randomBytes } from "@lwlog/testkit";
import { CheckpointInterruptedError, ReplayInterruptedError, replayLog, type ReplayOptions, type ReplaySummary } from "./index.js";

const tmp = makeTempDir("lwlog-replay-compact-");
afterAll(() => tmp.cleanup());
let serial = 0;
const next = (name: string) => join(tmp.path, `${++serial}-${name}`);
const DISK = 64 << 10;

/** One entry of a random log: a write, a discard, a flush, a mark (names from a few). */
type Step = { w: number; n: number; seed: number; fua: boolean } | { d: number; n: number } | { f: true } | { m: string };

function stepsOf(S: number): fc.Arbitrary<Step[]> {
  const units = DISK / S;
  const range = fc.integer({ min: 0, max: units - 1 }).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: 1, max: Math.min(units - s, 24) })));
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(range, fc.nat(), fc.boolean()).map(([[s, n], seed, fua]) => ({ w: s, n, seed, fua: fua && seed % 4 === 0 })) },
    { weight: 2, arbitrary: range.map(([s, n]) => ({ d: s, n })) },
    { weight: 2, arbitrary: fc.constant({ f: true as const }) },
    { weight: 2, arbitrary: fc.constantFrom("a", "b", "c").map((m) => ({ m })) },
  );
  return fc.array(step, { maxLength: 40 });
}

/** Writes the steps as a log; the last `tail` of them past the declared count. */
async function writeLog(S: number, steps: Step[], tail: number): Promise<string> {
  const path = next("random.log");
  const w = await LogWriter.create(path, { sectorSize: S });
  for (const [i, s] of steps.entries()) {
    if (i === steps.length - tail) await w.writeSuper();
    if ("w" in s) await w.write(BigInt(s.w), randomBytes(s.n * S, s.seed + 1), { flags: s.fua ? 2n : 0n });
    else if ("d" in s) await w.discard(BigInt(s.d), BigInt(s.n));
    else if ("f" in s) await w.flush();
    else await w.mark(s.m);
  }
  await w.close({ super: tail === 0 });
  return path;
}

/** The parts of a summary both ways of replaying must agree on. */
function agreed(s: ReplaySummary): Partial<ReplaySummary> {
  const { mode: _m, segments: _s, seconds: _t, target: _g, targetCreated: _c, ...rest } = s;
  return rest;
}

/** Replays once in order and once compacted, onto copies of `base`, and returns both outcomes: summary or error, the image, and a digest at each checkpoint. */
async function both(options: Omit<ReplayOptions, "target">, base: Uint8Array) {
  const out = [];
  for (const inOrder of [true, false]) {
    const image = next(inOrder ? "in-order.img" : "compacted.img");
    writeFileSync(image, base);
    const seen: string[] = [];
    let summary: ReplaySummary | undefined;
    let error: string | undefined;
    try {
      summary = await replayLog({
        ...options,
        target: image,
        inOrder,
        ...(options.check ? { check: { ...options.check, run: (cp, ctx) => (seen.push(`${cp.entry}:${digest(cp.image)}`), options.check!.run(cp, ctx)) } } : {}),
      });
    } catch (err) {
      error = `${(err as Error).constructor.name}: ${(err as Error).message.replaceAll(image, "IMAGE")}`;
    }
    out.push({ summary, error, image: readFileSync(image), seen });
  }
  return { inOrder: out[0]!, compacted: out[1]! };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function digest(path: string): string {
  return createHash("sha1").update(readFileSync(path)).digest("hex");
}

describe("a compacted replay leaves the image an in-order replay leaves", () => {
  it("on random logs, for every start and stop point, checkpoints, filters, a base image and any memory budget", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(512, 4096).chain((S) =>
          fc.record({
            S: fc.constant(S),
            steps: stepsOf(S),
            tail: fc.nat({ max: 3 }),
            until: fc.oneof(
              fc.constant({}),
              fc.nat({ max: 45 }).map((entry) => ({ entry })),
              fc.constantFrom("a", "b", "c", "zz").map((mark) => ({ mark })),
              fc.constant({ nextFlush: true }),
              fc.constant({ nextFua: true }),
              fc.integer({ min: 1, max: 45 }).map((limit) => ({ limit })),
              fc.tuple(fc.nat({ max: 45 }), fc.constantFrom("a", "zz")).map(([entry, mark]) => ({ entry, mark })),
            ),
            from: fc.oneof(fc.constant({}), fc.nat({ max: 20 }).map((entry) => ({ entry })), fc.constantFrom("a", "b").map((mark) => ({ mark }))),
            useTail: fc.boolean(),
            skip: fc.boolean(),
            sectors: fc.option(fc.tuple(fc.nat({ max: DISK / S - 1 }), fc.nat({ max: 16 })), { freq: 4 }),
            check: fc.option(fc.constantFrom("flush", "mark", "every:1", "every:3"), { freq: 2 }),
            failAt: fc.nat({ max: 6 }),
            keepGoing: fc.boolean(),
            budget: fc.constantFrom(undefined, 1),
            baseSeed: fc.option(fc.nat(), { freq: 3 }),
          }),
        ),
        async (c) => {
          const log = await writeLog(c.S, c.steps, Math.min(c.tail, c.steps.length));
          const base = c.baseSeed === null ? new Uint8Array(DISK) : randomBytes(DISK, c.baseSeed + 1);
          const check = c.check?.startsWith("every:")
            ? { every: Number(c.check.slice(6)) }
            : (c.check as "flush" | "mark" | null);
          const options: Omit<ReplayOptions, "target"> = {
            log,
            until: c.until,
            from: c.from,
            tail: c.useTail,
            discard: c.skip ? "skip" : "zero",
            ...(c.sectors !== null ? { sectors: { from: BigInt(c.sectors[0]), to: BigInt(c.sectors[0] + c.sectors[1]) } } : {}),
            // A budget of 1 byte: a segment of the fewest pieces, written out again and again.
            ...(c.budget !== undefined ? { memoryBudget: c.budget } : {}),
            ...(check !== null ? { check: { rules: [check], keepGoing: c.keepGoing, run: (cp) => ({ ok: cp.entry % 7 !== c.failAt }) } } : {}),
          };
          const r = await both(options, base);
          expect(r.compacted.error).toBe(r.inOrder.error);
          if (r.inOrder.summary !== undefined) expect(agreed(r.compacted.summary!)).toEqual(agreed(r.inOrder.summary));
          expect(r.compacted.seen).toEqual(r.inOrder.seen);
          expect(Buffer.compare(r.compacted.image, r.inOrder.image)).toBe(0);
        },
      ),
      { numRuns: 120 },
    );
  });

  /** Stop points of a log: the end, every mark and every entry (`every` 1), or entries `every` apart; with and without the tail when it has one. */
  async function compareStops(log: string, size: number, spread: number | "all"): Promise<number> {
    let file: LogFile;
    try {
      file = LogFile.openSync(log);
    } catch {
      return 0; // not a log at all (bad magic, empty…): nothing to replay either way
    }
    const marks: string[] = [];
    const cursor = file.cursor({ tail: true, lenient: true });
    let count = 0;
    let tailed = false;
    for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
      if (e.mark !== undefined && !marks.includes(e.mark)) marks.push(e.mark);
      count = e.index + 1;
      tailed ||= e.tail;
    }
    file.close();
    const stops: ReplayOptions["until"][] = [{}];
    if (spread === "all") {
      stops.push(...marks.map((mark) => ({ mark })));
      for (let i = 0; i < count; i++) stops.push({ entry: i });
    } else {
      for (let i = spread - 1; i < count; i += spread) stops.push({ entry: i });
    }
    let compared = 0;
    for (const until of stops) {
      for (const tail of tailed ? [false, true] : [false]) {
        const r = await both({ log, until, tail, size }, new Uint8Array(0));
        expect(r.compacted.error, `${log} ${JSON.stringify(until)} tail ${tail}`).toBe(r.inOrder.error);
        expect(sameBytes(r.compacted.image, r.inOrder.image), `${log} ${JSON.stringify(until)} tail ${tail}`).toBe(true);
        compared++;
      }
    }
    return compared;
  }

  it("on every small log of test-data (samples/, bad/), to every mark and every entry, with and without the tail", async () => {
    const root = join(import.meta.dirname, "../../../test-data");
    const logs = ["samples", "bad"].flatMap((d) => readdirSync(join(root, d)).filter((f) => f.endsWith(".log")).map((f) => join(root, d, f)));
    let compared = 0;
    for (const log of logs) compared += await compareStops(log, DISK, "all");
    expect(compared).toBeGreaterThan(100);
  });

  it("on the kernel logs, to their end (to every mark: kernel-logs.test.ts, against the device's sha256; at checkpoints: below)", async () => {
    for (const k of kernelLogs()) expect(await compareStops(k.path, k.data_device_bytes, Infinity)).toBe(1);
  });
});

describe("observation points", () => {
  it("at every checkpoint of a kernel log the compacted image is the in-order one (the image between them is not)", async () => {
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    const r = await both({ log: k.path, size: k.data_device_bytes, check: { rules: [{ every: 97 }], run: () => ({ ok: true }) } }, new Uint8Array(0));
    expect(r.compacted.seen.length).toBe(Math.floor(k.entries / 97));
    expect(r.compacted.seen).toEqual(r.inOrder.seen);
    expect(r.compacted.summary!.segments).toBe(r.compacted.seen.length + 1);
    expect(sameBytes(r.compacted.image, r.inOrder.image)).toBe(true);
  });

  it("a memory budget too small for the log: the map is written out in many segments, the image the same", async () => {
    const k = kernelLogs().find((l) => l.file === "xfs-4k.log")!;
    const image = next("budget.img");
    const s = await replayLog({ log: k.path, target: image, size: "auto", memoryBudget: 1 });
    // A segment holds at least 64 pieces: one per 64 writes and discards, at least.
    expect(s.segments).toBeGreaterThanOrEqual(Math.floor((s.writes + s.discards) / 64));
    expect(digest(image)).toBe(k.marks.at(-1)!.sha256 === undefined ? "" : digestOf(k.marks.at(-1)!.sha256, image));
  });
});

describe("an interrupted compacted replay", () => {
  it("interrupted between checkpoints: what was recorded is written, the error says where it stopped and where it started, and the image is the in-order one there", async () => {
    const k = kernelLogs().find((l) => l.file === "raw-512.log")!;
    const image = next("interrupted.img");
    const abort = new AbortController();
    // Aborted after the first checkpoint (mark "start", entry 0): noticed at the next pacing point, entry 256.
    const err = await replayLog({ log: k.path, target: image, size: "auto", signal: abort.signal, check: { rules: ["mark"], run: () => ({ ok: true }) }, onCheckpoint: () => abort.abort() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ReplayInterruptedError);
    const e = err as ReplayInterruptedError;
    expect([e.start, e.lastApplied, e.untouched]).toEqual([0, 256, false]);
    expect(e.message).toBe(`interrupted after entry 256: entries 0..256 have been applied to ${image}`);
    const ref = next("interrupted-ref.img");
    await replayLog({ log: k.path, target: ref, size: "auto", until: { entry: 256 }, inOrder: true });
    expect(sameBytes(readFileSync(image), readFileSync(ref))).toBe(true);
    // From a later start, the error's start is the replay's own (what a resume takes off --limit).
    const again = new AbortController();
    const later = await replayLog({ log: k.path, target: next("later.img"), size: "auto", from: { entry: 10 }, signal: again.signal, check: { rules: [{ every: 1 }], run: () => ({ ok: true }) }, onCheckpoint: () => again.abort() }).then(
      () => undefined,
      (x: unknown) => x,
    );
    // (The next checkpoint, entry 11, sees the signal before it makes its view: it is the one not completed.)
    expect(later).toBeInstanceOf(CheckpointInterruptedError);
    expect(later).toMatchObject({ start: 10, lastApplied: 11, untouched: false });
    // Aborted while a checker runs: that checkpoint is not counted, and the image holds the entries up to it.
    const during = new AbortController();
    const cut = next("cut.img");
    const atCheck = await replayLog({ log: k.path, target: cut, size: "auto", signal: during.signal, check: { rules: ["mark"], run: (cp) => (cp.entry === 259 && during.abort(), { ok: true }) } }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(atCheck).toBeInstanceOf(CheckpointInterruptedError);
    expect(atCheck).toMatchObject({ start: 0, lastApplied: 259 });
    const ref259 = next("cut-ref.img");
    await replayLog({ log: k.path, target: ref259, size: "auto", until: { entry: 259 }, inOrder: true });
    expect(sameBytes(readFileSync(cut), readFileSync(ref259))).toBe(true);
  });

  it("interrupted while planning: nothing is created or written, and the error says so", async () => {
    const k = kernelLogs().find((l) => l.file === "raw-512.log")!;
    const image = next("planning.img");
    const abort = new AbortController();
    abort.abort();
    const err = await replayLog({ log: k.path, target: image, size: "auto", signal: abort.signal }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "LWLOG_INTERRUPTED", untouched: true, lastApplied: -1 });
    expect(existsSync(image)).toBe(false);
  });
});

/** The image's sha256 when it is the expected one (kernel manifests give sha256s). */
function digestOf(sha256: string, path: string): string {
  const got = createHash("sha256").update(readFileSync(path)).digest("hex");
  return got === sha256 ? digest(path) : `sha256 ${got}, not ${sha256}`;
}
