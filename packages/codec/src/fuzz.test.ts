import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { kernelLogs, makeTempDir, qemuLog, testDataDir } from "@lwlog/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogFile, LogIndex, LwlogError, SUPER_FIELDS, readLog, type LogEntry, type ReadOptions } from "./index.js";

// About 21 000 mutated, truncated and spliced real logs (excerpts of the kernel
// logs, QEMU's own logs, the samples): every read ends in a result or a typed LwlogError,
// never another exception, never data larger than the file, never more steps than the file
// has sectors (so never a hang). LWLOG_FUZZ_RUNS scales the run counts, LWLOG_FUZZ_SEED
// replays a failure (fast-check prints the seed and the shrunk counterexample).

const scale = Number(process.env.LWLOG_FUZZ_RUNS ?? 1);
const seed = process.env.LWLOG_FUZZ_SEED === undefined ? undefined : Number(process.env.LWLOG_FUZZ_SEED);
const tmp = makeTempDir("lwlog-fuzz-");
// Rewritten tens of thousands of times: in memory when /dev/shm is there.
const shm = existsSync("/dev/shm") ? mkdtempSync("/dev/shm/lwlog-fuzz-") : undefined;
const file = join(shm ?? tmp.path, "fuzz.log");
const corpus: { name: string; bytes: Uint8Array }[] = [];

/** Entries `[from, from+n)` of a kernel log, as a log of their own (a new superblock declaring them), at most ~`maxBytes`. */
function excerpt(path: string, from: number, maxBytes: number): Uint8Array {
  const all = new Uint8Array(readFileSync(path));
  const log = LogFile.openSync(path);
  try {
    const entries: LogEntry[] = [];
    const c = log.cursor();
    for (let e = c.next(); e !== undefined; e = c.next()) entries.push(e);
    const first = entries[from]!;
    let last = from;
    while (last + 1 < entries.length && entries[last + 1]!.nextOffset - first.offset <= maxBytes) last++;
    const S = log.sectorSize;
    const body = all.subarray(first.offset, entries[last]!.nextOffset);
    const out = new Uint8Array(S + body.length);
    out.set(all.subarray(0, S));
    out.set(body, S);
    new DataView(out.buffer).setBigUint64(SUPER_FIELDS.nrEntries, BigInt(last - from + 1), true);
    return out;
  } finally {
    log.close();
  }
}

beforeAll(() => {
  for (const k of kernelLogs()) {
    const entries = k.entries;
    // The start of every log, its middle, and its end (marks, the long mark, FLUSH|FUA|METADATA pairs).
    for (const from of [0, Math.floor(entries / 3), entries - 12]) {
      corpus.push({ name: `${k.file}@${from}`, bytes: excerpt(k.path, from, k.superblock.sectorsize === 512 ? 12 << 10 : 40 << 10) });
    }
  }
  for (const S of [512, 4096]) {
    const dir = join(tmp.path, `qemu-${S}`);
    mkdirSync(dir);
    const { log } = qemuLog({
      dir,
      sectorSize: S,
      superInterval: 3,
      cache: "unsafe",
      commands: ["write -P 0x11 0 8k", "write -P 0x22 16k 4k", "discard 64k 64k", "write -z 128k 8k", "write -P 0x33 1M 4k"],
    });
    corpus.push({ name: `qemu-${S}`, bytes: new Uint8Array(readFileSync(log)) });
  }
  for (const dir of ["samples", "bad"]) {
    for (const f of readdirSync(join(testDataDir, dir)).filter((n) => n.endsWith(".log"))) {
      const bytes = new Uint8Array(readFileSync(join(testDataDir, dir, f)));
      if (bytes.length > 0 && bytes.length <= 64 << 10) corpus.push({ name: `${dir}/${f}`, bytes });
    }
  }
});
afterAll(() => {
  tmp.cleanup();
  if (shm !== undefined) rmSync(shm, { recursive: true, force: true });
});


/** Runs `fn`; an `LwlogError` is an accepted outcome, anything else fails the property. */
function typed<T>(fn: () => T): T | LwlogError {
  try {
    return fn();
  } catch (err) {
    if (err instanceof LwlogError) return err;
    throw err;
  }
}

const READS: readonly ReadOptions[] = [
  {},
  { tail: true, lenient: true, data: true, maxDataBytes: 1 << 20 },
  { tail: true, blockSize: 1 },
];

/** Every way of reading the log at `file`, with the invariants that must hold whatever its bytes. */
function readEveryWay(size: number): void {
  const log = typed(() => LogFile.openSync(file));
  if (log instanceof LwlogError) {
    expect(log.file).toBe(file);
    expect(log.code).toMatch(/^LWLOG_/);
    return;
  }
  try {
    const S = log.sectorSize;
    const maxSteps = Math.floor(size / S) + 1;
    expect(log.declared).toBeLessThanOrEqual(maxSteps);
    for (const options of READS) {
      const c = log.cursor(options);
      let steps = 0;
      let last = -1;
      const outcome = typed(() => {
        for (let e = c.next(); e !== undefined; e = c.next()) {
          expect(++steps).toBeLessThanOrEqual(maxSteps);
          expect(e.offset).toBeGreaterThan(last);
          expect(e.offset % S).toBe(0);
          expect(e.nextOffset).toBeLessThanOrEqual(size);
          expect(e.dataSize).toBeLessThanOrEqual(size);
          if (e.data !== undefined) expect(e.data.length).toBe(e.dataSize);
          if (e.kind === "mark") expect(e.markBytes!.length).toBeLessThanOrEqual(S - 32);
          last = e.offset;
        }
        return c.end!;
      });
      if (outcome instanceof LwlogError) {
        // A strict cursor that threw stays on the broken entry: asking again gives the same error.
        const again = typed(() => c.next());
        expect(again instanceof LwlogError ? again.code : again).toBe(outcome.code);
      } else {
        expect(outcome.offset).toBeLessThanOrEqual(size);
        if (options.lenient && outcome.reason === "error") expect(outcome.error).toBeInstanceOf(LwlogError);
        expect(c.next()).toBeUndefined();
      }
    }
    const c = log.cursor({ tail: true, lenient: true });
    let steps = 0;
    typed(() => {
      for (let s = c.skim(); s !== undefined; s = c.skim()) expect(++steps).toBeLessThanOrEqual(maxSteps);
    });
    for (const options of [{}, { lenient: true, tail: false }]) {
      const index = typed(() => LogIndex.build(log, options));
      if (index instanceof LwlogError) continue;
      expect(index.length).toBeLessThanOrEqual(maxSteps);
      for (const i of [0, index.length - 1]) {
        if (i < 0) continue;
        const e = typed(() => index.entry(i, { data: true }));
        if (!(e instanceof LwlogError)) expect(e.offset).toBe(index.offsetOf(i));
      }
      typed(() => index.cursorAt(index.length).next());
      index.findMark("mkfs");
      index.findNext(2n);
    }
  } finally {
    log.close();
  }
}

const EXTREMES = [0n, 1n, 0x1fn, 0xffn, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "byte"; at: number; value: number }
  | { kind: "u64"; block: number; field: number; value: bigint }
  | { kind: "super"; field: "nrEntries" | "sectorSize"; value: bigint }
  | { kind: "truncate"; at: number }
  | { kind: "splice"; at: number; from: number; start: number; length: number; replace: boolean };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("byte" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("u64" as const),
      block: fc.nat({ max: 400 }),
      field: fc.constantFrom(0, 8, 16, 24),
      value: fc.oneof(fc.constantFrom(...EXTREMES), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 4096n })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("super" as const),
      field: fc.constantFrom("nrEntries" as const, "sectorSize" as const),
      value: fc.oneof(fc.constantFrom(...EXTREMES), fc.bigInt({ min: 0n, max: 64n }), fc.constantFrom(32n, 512n, 4096n, 8n << 20n, 16n << 20n)),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("splice" as const),
      at: fc.nat(),
      from: fc.nat(),
      start: fc.nat(),
      length: fc.nat({ max: 16 << 10 }),
      replace: fc.boolean(),
    }),
  },
);

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  const n = bytes.length;
  switch (m.kind) {
    case "flip":
      if (n > 0) bytes[m.at % n]! ^= 1 << m.bit;
      return bytes;
    case "byte":
      if (n > 0) bytes[m.at % n] = m.value;
      return bytes;
    case "u64": {
      const S = n >= 28 ? new DataView(bytes.buffer, bytes.byteOffset).getUint32(SUPER_FIELDS.sectorSize, true) : 512;
      const unit = S >= 32 && S <= 1 << 23 && (S & (S - 1)) === 0 ? S : 512;
      const at = ((m.block * unit) % Math.max(n, 1)) - (((m.block * unit) % Math.max(n, 1)) % unit) + m.field;
      if (at + 8 <= n) new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at, m.value, true);
      return bytes;
    }
    case "super": {
      const v = new DataView(bytes.buffer, bytes.byteOffset);
      if (m.field === "nrEntries" && n >= 24) v.setBigUint64(SUPER_FIELDS.nrEntries, m.value, true);
      if (m.field === "sectorSize" && n >= 28) v.setUint32(SUPER_FIELDS.sectorSize, Number(m.value & 0xffffffffn), true);
      return bytes;
    }
    case "truncate":
      return bytes.slice(0, m.at % (n + 1));
    case "splice": {
      const src = corpus[m.from % corpus.length]!.bytes;
      const start = m.start % (src.length + 1);
      const piece = src.subarray(start, start + m.length);
      const at = m.at % (n + 1);
      const out = new Uint8Array(n + piece.length - (m.replace ? Math.min(piece.length, n - at) : 0));
      out.set(bytes.subarray(0, at));
      out.set(piece, at);
      out.set(bytes.subarray(m.replace ? Math.min(n, at + piece.length) : at), at + piece.length);
      return out;
    }
  }
}

function check(base: number, mutations: Mutation[]): void {
  let bytes: Uint8Array = corpus[base % corpus.length]!.bytes.slice();
  for (const m of mutations) bytes = apply(bytes, m);
  writeFileSync(file, bytes);
  readEveryWay(bytes.length);
  // Nothing the size of a garbage length was allocated and kept (the logs are < 100 KiB;
  // an allocation of a garbage 2^63 length would already have thrown a RangeError).
  expect(keptArrayBuffers()).toBeLessThan(baseline + (64 << 20));
}

/** A full garbage collection, for `keptArrayBuffers` (the flag makes `gc` visible in new contexts). */
setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;

/**
 * Bytes of ArrayBuffers still reachable: the count as it is, or after a full collection when
 * it is over the bound (buffers dropped but not yet collected on a busy machine are not kept).
 */
function keptArrayBuffers(): number {
  const now = process.memoryUsage().arrayBuffers;
  if (now < baseline + (64 << 20)) return now;
  collect();
  return process.memoryUsage().arrayBuffers;
}

let baseline = 0;
beforeAll(() => {
  baseline = process.memoryUsage().arrayBuffers;
});

// The two big properties take 12-25 s each on an idle 2-core machine and have passed 55 s on a
// busy one; their run counts are the coverage (every mutation kind against every corpus log),
// so they get room instead of fewer runs. LWLOG_FUZZ_RUNS scales this with the runs.
const FUZZ_TIMEOUT = Math.max(1, scale) * 240_000;

const params = (runs: number): fc.Parameters<[number, Mutation[]]> => ({
  numRuns: Math.round(runs * scale),
  ...(seed !== undefined ? { seed } : {}),
});

describe("fuzz: mutated real logs", () => {
  it("the corpus is real logs that read cleanly", () => {
    expect(corpus.length).toBeGreaterThan(30);
    for (const { name, bytes } of corpus.filter((c) => !c.name.startsWith("bad/"))) {
      writeFileSync(file, bytes);
      const log = LogFile.openSync(file);
      try {
        const index = LogIndex.build(log);
        expect(index.end.reason, name).toBe("eof");
      } finally {
        log.close();
      }
    }
  });

  it("byte flips and extreme u64 fields: a result or a typed error, bounded", () => {
    fc.assert(fc.property(fc.nat(), fc.array(mutation.filter((m) => m.kind !== "truncate" && m.kind !== "splice"), { minLength: 1, maxLength: 6 }), check), params(12_000));
  }, FUZZ_TIMEOUT);

  it("truncations and splices of one log into another, with flips: a result or a typed error, bounded", () => {
    fc.assert(fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), check), params(8_000));
  }, FUZZ_TIMEOUT);

  it("the async reader ends the same way", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (base, mutations) => {
        let bytes: Uint8Array = corpus[base % corpus.length]!.bytes.slice();
        for (const m of mutations) bytes = apply(bytes, m);
        writeFileSync(file, bytes);
        let steps = 0;
        try {
          for await (const e of readLog(file, { tail: true })) {
            expect(++steps).toBeLessThanOrEqual(bytes.length / 32 + 1);
            expect(e.nextOffset).toBeLessThanOrEqual(bytes.length);
          }
        } catch (err) {
          if (!(err instanceof LwlogError)) throw err;
        }
      }),
      params(1_000),
    );
  });
});
