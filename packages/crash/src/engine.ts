import { rmSync } from "node:fs";
import type { LogFile } from "@lwlog/codec/core";
import { applyPieces, piecesOf, type ApplyStats } from "./apply.js";
import { DurableImage } from "./durable.js";
import { CrashInterruptedError } from "./errors.js";
import { encodeStateId } from "./id.js";
import type { EngineView, JudgeContext, StateJudge, StateViews, Verdict, ViewMaker } from "./judge.js";
import type { CrashLog } from "./log-table.js";
import { minimise, type Minimised } from "./minimise.js";
import { expectationsAt, windowOf, type Expectations, type FileProbe, type PersistedWindow } from "./persisted.js";
import { pointOfState, pointStates, shapeOf, type CrashPlan, type PlannedPoint } from "./plan.js";
import { flushBefore } from "./points.js";
import { describeState, verdictFields, type MinimalRecord, type StateRecord } from "./records.js";
import { deviationsOf, isPrefix, stateKey, stateWith, type CrashState, type Deviation } from "./state.js";

/** Default checks a failing state's minimisation may run. */
export const DEFAULT_MINIMISE_BUDGET = 200;

/** Options of `runCrashStates`. */
export interface EngineOptions {
  log: CrashLog;
  /** The log, open: data is read from it. */
  file: LogFile;
  plan: CrashPlan;
  /** The states to judge, by ordinal (default: every state of the plan). A job passes its own. */
  ordinals?: Iterable<number>;
  /** Where the engine keeps the durable image (it creates the file, which must not exist, and removes it). */
  durablePath: string;
  /** The image's size in bytes (default: one past the log's highest byte written). */
  size?: number;
  views: ViewMaker;
  judge: StateJudge;
  /**
   * The data judge: the windows of a `--persisted` list, and how to read a window's files from
   * the prefix state at its mark (`Pipeline.expect`). States in a window are judged with
   * `JudgeContext.files` set.
   */
  persisted?: { windows: PersistedWindow[]; expect: (views: StateViews, window: PersistedWindow, signal?: AbortSignal) => Promise<Map<string, FileProbe>> };
  /** Checks each failing state's minimisation may run (default `DEFAULT_MINIMISE_BUDGET`; 0: no minimisation). */
  minimise?: number;
  /**
   * Whether failures at a point are minimised in this run (default: every point). A campaign
   * job leaves the points it shares with another job to the report (`minimiseRecorded`), which
   * sees all of their states, so that minimisation runs exactly as in one run.
   */
  minimiseAt?: (point: PlannedPoint) => boolean;
  /** Stops the run; the judge's verdict of the state in progress is not used. */
  signal?: AbortSignal;
  /** Each state's record, in ordinal order, as soon as it is judged (and minimised). */
  onRecord?: (record: StateRecord) => void | Promise<void>;
  onProgress?: (progress: EngineProgress) => void;
}

/** How far a run has got. */
export interface EngineProgress {
  done: number;
  total: number;
  failed: number;
  /** The point being worked on. */
  point: number;
  /** Minimisation checks run so far (states judged beyond the plan). */
  checks: number;
  /** What the engine is doing: judging planned states, minimising a failure, reading expected files. */
  phase: "judge" | "minimise" | "expect";
}

/** What a run did. */
export interface EngineSummary {
  judged: number;
  passed: number;
  failed: number;
  /** States judged while minimising. */
  checks: number;
  seconds: number;
}

/**
 * Judges states of a plan in one forward pass over the log. States are taken in ordinal order
 * (so points in log order); before a point's states, the durable image (entries before the
 * point's last flush) is advanced to it; each state is then built on a fresh scratch view of
 * the durable image (its own bytes only: `applyPieces`), judged, and the view disposed. A
 * failing state is minimised right away, on views of the same durable image, verdicts cached
 * by state for the point. With a `--persisted` list, the files of a window are first read
 * from the prefix state at its mark, and every state in the window is compared with them.
 */
export async function runCrashStates(options: EngineOptions): Promise<EngineSummary> {
  const began = process.hrtime.bigint();
  const { log, file, plan } = options;
  const wanted = [...new Set(options.ordinals ?? range(plan.states))].sort((a, b) => a - b);
  for (const o of wanted) pointOfState(plan, o); // throws for an ordinal outside the plan
  const byPoint = new Map<PlannedPoint, number[]>();
  for (const o of wanted) {
    const p = pointOfState(plan, o);
    const list = byPoint.get(p);
    if (list === undefined) byPoint.set(p, [o]);
    else list.push(o);
  }
  const size = options.size ?? Math.max(log.extent, log.sectorSize);
  const summary: EngineSummary = { judged: 0, passed: 0, failed: 0, checks: 0, seconds: 0 };
  const progress: EngineProgress = { done: 0, total: wanted.length, failed: 0, point: 0, checks: 0, phase: "judge" };
  const budget = options.minimise ?? DEFAULT_MINIMISE_BUDGET;
  const interrupted = () => new CrashInterruptedError(`interrupted after ${summary.judged} of ${wanted.length} states`, summary.judged, { file: log.path });
  const ctxBase = { log: log.path, ...(options.signal ? { signal: options.signal } : {}) };
  // The files of every window first, on a durable image of their own: a path missing at its
  // mark is an error before any state is judged.
  const expectations = await expectationsOf(options, [...byPoint.keys()], options.durablePath, size, () => {
    progress.phase = "expect";
    options.onProgress?.(progress);
  });
  const durable = DurableImage.create(options.durablePath, size);
  try {
    for (const [point, ordinals] of byPoint) {
      progress.point = point.position;
      const window = options.persisted ? windowOf(options.persisted.windows, point.position) : undefined;
      await durable.advanceTo(log, file, point.flush);
      const judgeOne = makeJudge(options, durable, point, window, window ? expectations.get(window) : undefined);
      const cache = new Map<string, Verdict>();
      const known: Deviation[][] = [];
      const { candidates } = shapeOf(log, point, plan.options.torn);
      const idPoint = { fingerprint: log.fingerprints[point.position]!, candidates: candidates.length };
      for (const planned of pointStates(log, plan, point, ordinals)) {
        if (options.signal?.aborted) throw interrupted();
        progress.phase = "judge";
        const t0 = process.hrtime.bigint();
        const ctx: JudgeContext = { ...ctxBase, id: planned.id, position: point.position, ordinal: planned.ordinal, ...markOf(log, point.position) };
        const { verdict, stats } = await judgeOne(planned.state, ctx);
        if (options.signal?.aborted || verdict.aborted) throw interrupted();
        cache.set(stateKey(planned.state), verdict);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const described = describeState(log, candidates, planned.state);
        const record: StateRecord = {
          type: "state",
          ordinal: planned.ordinal,
          id: planned.id,
          point: point.position,
          kinds: point.kinds,
          flush: point.flush,
          source: planned.source.kind,
          dropped: described.dropped,
          torn: described.torn,
          ...verdictFields(verdict),
          written: stats.bytesWritten,
          zeroed: stats.bytesZeroed,
          seconds,
        };
        summary.judged++;
        if (verdict.ok) summary.passed++;
        else {
          summary.failed++;
          progress.failed++;
          if (budget > 0 && (options.minimiseAt?.(point) ?? true)) {
            progress.phase = "minimise";
            options.onProgress?.(progress);
            record.minimal = await minimiseOne({ log, candidates, idPoint, state: planned.state, verdict, cache, known, budget }, async (state, id) => {
              summary.checks++;
              progress.checks++;
              options.onProgress?.(progress);
              const { verdict: v } = await judgeOne(state, { ...ctxBase, id, position: point.position, ordinal: -1, ...markOf(log, point.position) });
              if (options.signal?.aborted || v.aborted) throw interrupted();
              return v;
            });
          }
        }
        progress.done++;
        progress.phase = "judge";
        options.onProgress?.(progress);
        if (options.onRecord) await options.onRecord(record);
      }
    }
  } finally {
    durable.close();
    rmSync(options.durablePath, { force: true });
  }
  summary.seconds = Number(process.hrtime.bigint() - began) / 1e9;
  return summary;
}

/** What judging needs of the engine's options. */
export type JudgeParts = Pick<EngineOptions, "log" | "file" | "views" | "judge" | "persisted" | "signal">;

/** Options of `judgeOneState`: the engine's, for one state given by itself. */
export type OneStateOptions = Pick<EngineOptions, "log" | "file" | "durablePath" | "size" | "views" | "judge" | "persisted" | "signal"> & { id: string; state: CrashState };

/**
 * Judges one state outside any plan (`--state ID`): the durable image up to the state's point,
 * the files of its `--persisted` window if it lies in one, then the judge on fresh views.
 * Throws `CrashInterruptedError` when interrupted.
 */
export async function judgeOneState(options: OneStateOptions): Promise<{ verdict: Verdict; stats: ApplyStats }> {
  const { log } = options;
  const position = options.state.position;
  const flush = flushBefore(log, position);
  const durable = DurableImage.create(options.durablePath, options.size ?? Math.max(log.extent, log.sectorSize));
  try {
    const window = options.persisted ? windowOf(options.persisted.windows, position) : undefined;
    const expected = window !== undefined ? await readExpected(options, durable, window) : undefined;
    await durable.advanceTo(log, options.file, flush);
    const result = await makeJudge(options, durable, { flush }, window, expected)(options.state, { id: options.id, position, log: log.path, ordinal: -1, ...markOf(log, position), ...(options.signal ? { signal: options.signal } : {}) });
    if (options.signal?.aborted || result.verdict.aborted) throw new CrashInterruptedError("interrupted while the judge ran", 0, { file: log.path });
    return result;
  } finally {
    durable.close();
    rmSync(options.durablePath, { force: true });
  }
}

/**
 * The judge of one point: gives the judge fresh views of the state on demand (each the
 * durable image plus the state's own bytes), then disposes them all.
 */
export function makeJudge(
  options: JudgeParts,
  durable: DurableImage,
  point: { flush: number },
  window: PersistedWindow | undefined,
  expected: Expectations | undefined,
): (state: CrashState, ctx: JudgeContext) => Promise<{ verdict: Verdict; stats: ApplyStats }> {
  const { log, file } = options;
  const buffer = new Uint8Array(1 << 20);
  return async (state, ctx) => {
    const pieces = piecesOf(log, point.flush, state);
    const made: EngineView[] = [];
    let stats: ApplyStats = { ranges: 0, bytesWritten: 0, bytesZeroed: 0 };
    const views: StateViews = {
      fresh: async () => {
        const view = await options.views(durable.path, durable.size);
        made.push(view);
        stats = await applyPieces(log, file, pieces, view, buffer);
        return view;
      },
    };
    try {
      const verdict = await options.judge(views, window !== undefined && expected !== undefined ? { ...ctx, files: { window, expected } } : ctx);
      return { verdict, stats };
    } finally {
      let first: unknown;
      for (const v of made) {
        try {
          await v.dispose();
        } catch (err) {
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    }
  };
}

/**
 * The expected files of every `--persisted` window the points fall in, read on a durable image
 * of their own (`<durablePath>.marks`, removed after); `onStart` is called before the first is
 * read. Empty without a persisted list or a window.
 */
export async function expectationsOf(
  options: JudgeParts,
  points: readonly PlannedPoint[],
  durablePath: string,
  size: number,
  onStart?: () => void,
): Promise<Map<PersistedWindow, Expectations>> {
  const expectations = new Map<PersistedWindow, Expectations>();
  const persisted = options.persisted;
  if (persisted === undefined) return expectations;
  const windows = [...new Set(points.map((p) => windowOf(persisted.windows, p.position)))].filter((w) => w !== undefined);
  if (windows.length === 0) return expectations;
  onStart?.();
  const path = `${durablePath}.marks`;
  const marks = DurableImage.create(path, size);
  try {
    for (const w of windows) expectations.set(w, await readExpected(options, marks, w));
  } finally {
    marks.close();
    rmSync(path, { force: true });
  }
  return expectations;
}

/** Reads a window's files from the prefix state at its mark (recovered as a kernel would). */
export async function readExpected(options: JudgeParts, durable: DurableImage, window: PersistedWindow): Promise<Expectations> {
  const { log, file } = options;
  const position = window.markEntry + 1;
  const flush = flushBefore(log, position);
  await durable.advanceTo(log, file, flush);
  const pieces = piecesOf(log, flush, { position, dropped: [], torn: [] });
  const made: EngineView[] = [];
  try {
    const probes = await options.persisted!.expect(
      {
        fresh: async () => {
          const view = await options.views(durable.path, durable.size);
          made.push(view);
          await applyPieces(log, file, pieces, view);
          return view;
        },
      },
      window,
      options.signal,
    );
    if (options.signal?.aborted) throw new CrashInterruptedError("interrupted while reading the files of the --persisted list", 0, { file: log.path });
    return expectationsAt(window, probes, log);
  } finally {
    for (const v of made) await v.dispose();
  }
}

/** What minimising one failing state of a point needs: the point's verdict cache and the minimal sets found there so far. */
export interface MinimiseContext {
  log: CrashLog;
  candidates: ArrayLike<number>;
  idPoint: { fingerprint: number; candidates: number };
  state: CrashState;
  verdict: Verdict;
  /** Verdicts of the point's states judged so far (planned and minimisation checks), by `stateKey`. */
  cache: Map<string, Verdict>;
  /** The complete minimal sets found at the point so far, in the order found (grows). */
  known: Deviation[][];
  budget: number;
}

/**
 * Minimises one failing state of a point and returns its record: `judge` runs a state that is
 * not in the cache (its id given). The same steps, in the same order, whether the state was
 * judged a moment ago (`runCrashStates`) or recorded by a campaign job (`minimiseRecorded`).
 */
export async function minimiseOne(c: MinimiseContext, judge: (state: CrashState, id: string) => Promise<Verdict>): Promise<MinimalRecord> {
  const found = await minimiseFailure(c.state, c.verdict, c.cache, c.known, c.budget, (state) => judge(state, encodeStateId(state, c.idPoint)));
  const minimalState = stateWith(c.state.position, found.min.deviations);
  const d = describeState(c.log, c.candidates, minimalState);
  if (found.min.complete && !c.known.some((k) => sameDeviations(k, found.min.deviations))) c.known.push(found.min.deviations);
  return { id: encodeStateId(minimalState, c.idPoint), dropped: d.dropped, torn: d.torn, entries: d.entries, checks: found.checks, complete: found.min.complete };
}

/**
 * Minimises a failing state: the prefix state first (if it fails too, nothing needs dropping),
 * then delta debugging over the state's deviations, keeping failures of the same kind.
 */
async function minimiseFailure(
  state: CrashState,
  failure: Verdict,
  cache: Map<string, Verdict>,
  known: Deviation[][],
  budget: number,
  judge: (state: CrashState) => Promise<Verdict>,
): Promise<{ min: Minimised; checks: number }> {
  let checks = 0;
  const sameKind = (v: Verdict) => !v.ok && (v.judge ?? "") === (failure.judge ?? "");
  const verdictOf = async (s: CrashState): Promise<Verdict | undefined> => {
    const key = stateKey(s);
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    if (checks >= budget) return undefined;
    checks++;
    const v = await judge(s);
    cache.set(key, v);
    return v;
  };
  const prefix = await verdictOf({ position: state.position, dropped: [], torn: [] });
  if (prefix === undefined) return { min: { deviations: deviationsOf(state), complete: false }, checks };
  if (sameKind(prefix) || isPrefix(state)) return { min: { deviations: [], complete: true }, checks };
  const min = await minimise(
    deviationsOf(state),
    async (devs) => {
      const v = await verdictOf(stateWith(state.position, devs));
      return v === undefined ? undefined : sameKind(v);
    },
    known,
  );
  return { min, checks };
}

export function markOf(log: CrashLog, position: number): { mark?: string } {
  const m = log.markBefore(position - 1);
  return m !== undefined ? { mark: m.name } : {};
}

function sameDeviations(a: readonly Deviation[], b: readonly Deviation[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((d, k) => {
    const e = b[k]!;
    return d.kind === e.kind && d.ordinal === e.ordinal && (d.kind === "drop" || (e.kind === "tear" && d.runs.join() === e.runs.join()));
  });
}

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}
