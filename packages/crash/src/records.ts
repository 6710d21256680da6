import type { FileFinding, Verdict } from "./judge.js";
import { KIND_NAMES, type CrashLog } from "./log-table.js";
import type { CrashPlan, PlannedPoint } from "./plan.js";
import type { PointKind } from "./points.js";
import { lostRanges, keptRanges, type CrashState } from "./state.js";

/** A torn write as records show it: sector ranges `[first, last]`, inclusive, in the log's sector units. */
export interface TornRecord {
  entry: number;
  /** The write's first sector and its length in sectors. */
  sector: number;
  sectors: number;
  kept: [number, number][];
  lost: [number, number][];
}

/** An entry a state dropped or tore, with what it is (for reports). */
export interface EntryRecord {
  index: number;
  kind: string;
  flags: string;
  sector: number;
  sectors: number;
  how: "dropped" | "torn";
  /** For a torn write: the lost sector ranges `[first, last]`. */
  lost?: [number, number][];
}

/** The minimal failing state found from a failing one. */
export interface MinimalRecord {
  id: string;
  dropped: number[];
  torn: TornRecord[];
  /** The entries it drops or tears, with their sectors. */
  entries: EntryRecord[];
  /** Checks the minimisation ran (states judged beyond the plan). */
  checks: number;
  /** False when the check budget ran out before the set was 1-minimal. */
  complete: boolean;
}

/** One state's outcome: the unit a run emits, a job writes (NDJSON) and a report merges. */
export interface StateRecord {
  type: "state";
  ordinal: number;
  id: string;
  /** The crash point: the entry before which the crash comes. */
  point: number;
  kinds: PointKind[];
  /** The point's last FLUSH entry: entries before it are durable. */
  flush: number;
  source: "prefix" | "exhaustive" | "sampled";
  /** Entries dropped, and writes torn. */
  dropped: number[];
  torn: TornRecord[];
  verdict: "passed" | "failed";
  /** Which check failed (`fs`, `exec`, `data`). */
  judge?: string;
  exit: number | null;
  signal?: string;
  /** The first lines of the failing check's output (empty when it passed). */
  output: string[];
  files?: FileFinding[];
  /** Bytes the state put on its scratch view beyond the durable prefix. */
  written: number;
  zeroed: number;
  seconds: number;
  minimal?: MinimalRecord;
}

/** Lines of a failing check's output kept in a record. */
export const OUTPUT_LINES = 40;

/** The entries and torn writes of a state, in record form. */
export function describeState(log: CrashLog, candidates: ArrayLike<number>, state: CrashState): { dropped: number[]; torn: TornRecord[]; entries: EntryRecord[] } {
  const S = log.sectorSize;
  const dropped = state.dropped.map((o) => candidates[o]!);
  const torn = state.torn.map((t): TornRecord => {
    const e = candidates[t.ordinal]!;
    const sector = log.offsets[e]! / S;
    const abs = (r: [number, number]): [number, number] => [sector + r[0], sector + r[1] - 1];
    return { entry: e, sector, sectors: log.lengths[e]! / S, kept: keptRanges(t.runs).map(abs), lost: lostRanges(t.runs).map(abs) };
  });
  const entries: EntryRecord[] = [];
  for (const e of dropped) entries.push(entryRecord(log, e, "dropped"));
  for (const t of torn) entries.push({ ...entryRecord(log, t.entry, "torn"), lost: t.lost });
  entries.sort((a, b) => a.index - b.index);
  return { dropped, torn, entries };
}

function entryRecord(log: CrashLog, e: number, how: "dropped" | "torn"): EntryRecord {
  const S = log.sectorSize;
  return { index: e, kind: KIND_NAMES[log.kinds[e]!]!, flags: log.describeFlags(e), sector: log.offsets[e]! / S, sectors: log.lengths[e]! / S, how };
}

/** The first `OUTPUT_LINES` lines of a checker's output. */
export function firstLines(text: string | undefined, n = OUTPUT_LINES): string[] {
  if (text === undefined || text === "") return [];
  const lines = text.replace(/\r/g, "").replace(/\n+$/, "").split("\n");
  return lines.slice(0, n).map((l) => (l.length > 400 ? l.slice(0, 400) + "…" : l));
}

/** A state record's verdict fields from a judge's verdict. */
export function verdictFields(v: Verdict): Pick<StateRecord, "verdict" | "exit" | "output"> & Partial<Pick<StateRecord, "judge" | "signal" | "files">> {
  const out: Pick<StateRecord, "verdict" | "exit" | "output"> & Partial<Pick<StateRecord, "judge" | "signal" | "files">> = {
    verdict: v.ok ? "passed" : "failed",
    exit: v.exit ?? (v.ok ? 0 : null),
    output: v.ok ? [] : firstLines(v.output),
  };
  if (!v.ok && v.judge !== undefined) out.judge = v.judge;
  if (v.signal) out.signal = v.signal;
  if (v.files !== undefined && v.files.length > 0) out.files = v.files;
  return out;
}

/** A failing state in a report. */
export interface FailureReport {
  id: string;
  ordinal: number;
  point: number;
  kinds: PointKind[];
  dropped: number[];
  torn: TornRecord[];
  judge?: string;
  exit: number | null;
  signal?: string;
  output: string[];
  files?: FileFinding[];
  /** The marks around the crash point: the last one before it and the first one at or after it. */
  marks: { before?: { name: string; entry: number }; after?: { name: string; entry: number } };
  minimal: MinimalRecord | null;
}

/** A run's (or several jobs') records merged: the summary `lwlog crashes` prints. */
export interface CrashReport {
  log: string;
  sectorSize: number;
  entries: number;
  points: number;
  /** States planned, and judged (records present). */
  planned: number;
  states: number;
  passed: number;
  failed: number;
  /** Ordinals of planned states with no record (a job missing, or an interrupted run). */
  missing: number[];
  failures: FailureReport[];
  /** Distinct minimal failing states (by id), in log order, with how many failures led to each. */
  minimal: {
    id: string;
    point: number;
    /** The marks around the crash point, as in `FailureReport`. */
    marks: FailureReport["marks"];
    dropped: number[];
    torn: TornRecord[];
    entries: EntryRecord[];
    failures: number;
    complete: boolean;
  }[];
}

/**
 * Merges state records (from one run or many jobs, in any order; a state recorded twice
 * counts once) into the report of the plan's run.
 */
export function mergeRecords(plan: CrashPlan, log: CrashLog, records: Iterable<StateRecord>): CrashReport {
  const byOrdinal = new Map<number, StateRecord>();
  for (const r of records) if (r.ordinal >= 0 && r.ordinal < plan.states && !byOrdinal.has(r.ordinal)) byOrdinal.set(r.ordinal, r);
  const sorted = [...byOrdinal.values()].sort((a, b) => a.ordinal - b.ordinal);
  const missing: number[] = [];
  for (let o = 0; o < plan.states; o++) if (!byOrdinal.has(o)) missing.push(o);
  const failures: FailureReport[] = [];
  const minimal = new Map<string, CrashReport["minimal"][number]>();
  for (const r of sorted) {
    if (r.verdict !== "failed") continue;
    const before = log.markBefore(r.point - 1);
    const after = log.markAfter(r.point);
    const f: FailureReport = {
      id: r.id,
      ordinal: r.ordinal,
      point: r.point,
      kinds: r.kinds,
      dropped: r.dropped,
      torn: r.torn,
      exit: r.exit,
      output: r.output,
      marks: {
        ...(before !== undefined ? { before: { name: before.name, entry: before.index } } : {}),
        ...(after !== undefined ? { after: { name: after.name, entry: after.index } } : {}),
      },
      minimal: r.minimal ?? null,
    };
    if (r.judge !== undefined) f.judge = r.judge;
    if (r.signal !== undefined) f.signal = r.signal;
    if (r.files !== undefined) f.files = r.files;
    failures.push(f);
    if (r.minimal !== undefined) {
      const m = minimal.get(r.minimal.id);
      if (m !== undefined) m.failures++;
      else minimal.set(r.minimal.id, { id: r.minimal.id, point: r.point, marks: f.marks, dropped: r.minimal.dropped, torn: r.minimal.torn, entries: r.minimal.entries, failures: 1, complete: r.minimal.complete });
    }
  }
  return {
    log: plan.log,
    sectorSize: plan.sectorSize,
    entries: plan.entries,
    points: plan.points.length,
    planned: plan.states,
    states: sorted.length,
    passed: sorted.filter((r) => r.verdict === "passed").length,
    failed: failures.length,
    missing,
    failures,
    minimal: [...minimal.values()].sort((a, b) => a.point - b.point || a.id.localeCompare(b.id)),
  };
}

/** The planned point of a record (for callers that hold records and a plan). */
export function pointOfRecord(plan: CrashPlan, record: StateRecord): PlannedPoint | undefined {
  return plan.points.find((p) => p.position === record.point);
}
