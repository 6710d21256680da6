import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import fc from "fast-check";
import { makeTempDir } from "@lwlog/testkit";
import type { LogFile } from "@lwlog/codec";
import { decodeStateId, encodeStateId } from "./id.js";
import { generatedState } from "./generate.js";
import { shapeOf } from "./plan.js";
import { openCrashLog, writeTestLog, type TestEntry } from "./test-logs.js";
import type { CrashLog } from "./log-table.js";
import { StateIdError } from "./errors.js";
import { stateKey, tearRuns, type CrashState } from "./state.js";

const tmp = makeTempDir("lwlog-crash-id-");
const S = 512;
// One flush, then 40 writes of 1 to 16 sectors and a discard: candidates at position 43.
const entries: TestEntry[] = [{ w: 0, len: 512, seed: 1 }, { f: true }];
for (let i = 0; i < 40; i++) entries.push({ w: (i * 7 % 23) * 512, len: ((i % 16) + 1) * 512, seed: i + 2 });
entries.push({ d: 0, len: 2048 });
let file: LogFile;
let log: CrashLog;
let other: { file: LogFile; log: CrashLog };

beforeAll(async () => {
  await writeTestLog(join(tmp.path, "a.log"), S, entries);
  await writeTestLog(join(tmp.path, "b.log"), S, entries.map((e, i) => (i === 5 && "w" in e ? { ...e, w: e.w + 512 } : e)));
  ({ file, log } = openCrashLog(join(tmp.path, "a.log")));
  other = openCrashLog(join(tmp.path, "b.log"));
});
afterAll(() => {
  file.close();
  other.file.close();
  tmp.cleanup();
});

const position = 43;
const unitsAt = (l: CrashLog) => (p: number) => shapeOf(l, { flush: flushOf(l, p), position: p }, true).shape.units;
function flushOf(l: CrashLog, p: number): number {
  for (let i = p - 1; i >= 0; i--) if (l.isFlush(i)) return i;
  return 0;
}
const idPoint = () => ({ fingerprint: log.fingerprints[position]!, candidates: 41 });

/** A random state of the point: each candidate kept, dropped or (writes of 2+ sectors) torn. */
const arbState = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 ** 20 })), { minLength: 41, maxLength: 41 }).map((choices): CrashState => {
  const units = unitsAt(log)(position);
  const state: CrashState = { position, dropped: [], torn: [] };
  choices.forEach(([c, bits], j) => {
    const n = units[j]!;
    if (c === 1) state.dropped.push(j);
    else if (c === 2 && n >= 2) {
      const runs = tearRuns(n, (s) => ((bits >>> (s % 20)) & 1) === 1);
      if (runs) state.torn.push({ ordinal: j, runs });
    }
  });
  return state;
});

describe("crash-state ids", () => {
  it("decode to the state they encode, in every encoding", () => {
    fc.assert(
      fc.property(arbState, (state) => {
        const id = encodeStateId(state, idPoint());
        expect(id).toMatch(/^cs1-43-[0-9a-hjkmnp-tv-z]+$/);
        expect(stateKey(decodeStateId(id, log, unitsAt(log)).state)).toBe(stateKey(state));
        expect(stateKey(decodeStateId(id.toUpperCase().replace("CS1", "cs1"), log, unitsAt(log)).state)).toBe(stateKey(state));
      }),
      { numRuns: 200 },
    );
  });

  it("store a generated state as its seed when that is shorter, and decode it by running the generator", () => {
    for (const torn of [false, true]) {
      const shape = shapeOf(log, { flush: 1, position }, torn).shape;
      for (const seed of [1, 2, 0xdeadbeef, 77]) {
        const state = generatedState(position, shape, seed);
        const id = encodeStateId(state, idPoint(), { seed, torn });
        expect(id.length).toBeLessThanOrEqual(encodeStateId(state, idPoint()).length);
        expect(stateKey(decodeStateId(id, log, unitsAt(log)).state)).toBe(stateKey(state));
      }
    }
  });

  it("the prefix state's id is short", () => {
    const id = encodeStateId({ position, dropped: [], torn: [] }, idPoint());
    expect(id.length).toBeLessThan(30);
  });

  it("a damaged, foreign, future or malformed id is refused with a clear error", () => {
    const id = encodeStateId({ position, dropped: [3, 9], torn: [] }, idPoint());
    const code = id.split("-")[2]!;
    const flip = code.slice(0, 4) + (code[4] === "a" ? "b" : "a") + code.slice(5);
    const cases: [string, string, RegExp][] = [
      [`cs1-43-${flip}`, "LWLOG_BAD_STATE_ID", /is damaged \(its checksum does not match\): copy it again/],
      [id.slice(0, -1), "LWLOG_BAD_STATE_ID", /is damaged/],
      [`cs1-42-${code}`, "LWLOG_BAD_STATE_ID", /is damaged/],
      [`cs2-43-${code}`, "LWLOG_STATE_ID_VERSION", /is a version 2 id; this lwlog reads version 1/],
      ["hello", "LWLOG_BAD_STATE_ID", /is not a crash-state id \(they read cs1-POSITION-CODE/],
      [`cs1-43-${code}u`, "LWLOG_BAD_STATE_ID", /is damaged/],
    ];
    for (const [bad, codeName, message] of cases) {
      let err: unknown;
      try {
        decodeStateId(bad, log, unitsAt(log));
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(StateIdError);
      expect((err as StateIdError).code, bad).toBe(codeName);
      expect((err as StateIdError).message, bad).toMatch(message);
    }
    expect(() => decodeStateId(id, other.log, unitsAt(other.log))).toThrowError(/was made on another log \(or this log changed\): its entries 0\.\.42/);
    const far = encodeStateId({ position: 400, dropped: [], torn: [] }, { fingerprint: 1, candidates: 0 });
    expect(() => decodeStateId(far, log, unitsAt(log))).toThrowError(/for a crash point at entry 400, but the log has 43 entries/);
  });

  it("an id whose sets do not fit the log's point is refused, not applied", () => {
    const tooFar = encodeStateId({ position, dropped: [50], torn: [] }, idPoint());
    expect(() => decodeStateId(tooFar, log, unitsAt(log))).toThrowError(/cannot be a state of this log: it drops candidate 50, the crash point has 41/);
    const badTear = encodeStateId({ position, dropped: [], torn: [{ ordinal: 2, runs: [1, 1] }] }, idPoint());
    expect(() => decodeStateId(badTear, log, unitsAt(log))).toThrowError(/candidate 2's tear: the runs cover 2 sectors, the write has 3/);
  });
});
