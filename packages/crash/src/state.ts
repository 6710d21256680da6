/**
 * A torn write: of its sectors (units of the log's sector size), only some reached the disk.
 * `runs` alternates kept and lost run lengths, starting with a kept run (0 when the write's
 * first sector is lost); they add up to the write's sectors, and at least one sector is kept
 * and one lost (else the write would be kept or dropped, not torn).
 */
export interface Tear {
  /** The write's place among its point's candidates. */
  ordinal: number;
  runs: number[];
}

/**
 * A crash state: at crash point `position`, the durable prefix plus every FUA write since the
 * last flush plus the candidates (see `candidatesOf`), except the `dropped` ones, with the
 * `torn` ones applied in part. Ordinals index the point's candidates, ascending; no ordinal
 * is both dropped and torn. With nothing dropped or torn it is the point's *prefix state*:
 * the disk a replay up to the position gives.
 */
export interface CrashState {
  position: number;
  dropped: number[];
  torn: Tear[];
}

/** One way a state differs from its point's prefix state: what delta debugging takes away. */
export type Deviation = { kind: "drop"; ordinal: number } | { kind: "tear"; ordinal: number; runs: number[] };

/** True for a prefix state (nothing dropped or torn). */
export function isPrefix(state: CrashState): boolean {
  return state.dropped.length === 0 && state.torn.length === 0;
}

/** A key equal for two states exactly when they are the same state (dedup, caches). */
export function stateKey(state: CrashState): string {
  let key = `${state.position}:`;
  key += state.dropped.join(",");
  if (state.torn.length > 0) key += "|" + state.torn.map((t) => `${t.ordinal}:${t.runs.join(".")}`).join(",");
  return key;
}

/** The state's deviations from its prefix state, in candidate order. */
export function deviationsOf(state: CrashState): Deviation[] {
  const out: Deviation[] = [];
  for (const o of state.dropped) out.push({ kind: "drop", ordinal: o });
  for (const t of state.torn) out.push({ kind: "tear", ordinal: t.ordinal, runs: t.runs });
  return out.sort((a, b) => a.ordinal - b.ordinal);
}

/** The state at `position` with exactly these deviations. */
export function stateWith(position: number, deviations: readonly Deviation[]): CrashState {
  const dropped: number[] = [];
  const torn: Tear[] = [];
  for (const d of deviations) {
    if (d.kind === "drop") dropped.push(d.ordinal);
    else torn.push({ ordinal: d.ordinal, runs: d.runs });
  }
  dropped.sort((a, b) => a - b);
  torn.sort((a, b) => a.ordinal - b.ordinal);
  return { position, dropped, torn };
}

/**
 * Tear runs from a lost-sector predicate over `n` sectors, or `undefined` when every sector is
 * kept or every one lost (not a tear).
 */
export function tearRuns(n: number, lost: (sector: number) => boolean): number[] | undefined {
  const runs: number[] = [];
  let keptRun = true;
  let len = 0;
  let anyKept = false;
  let anyLost = false;
  for (let s = 0; s < n; s++) {
    const l = lost(s);
    if (l) anyLost = true;
    else anyKept = true;
    if (l === keptRun) {
      runs.push(len);
      keptRun = !keptRun;
      len = 0;
    }
    len++;
  }
  runs.push(len);
  return anyKept && anyLost ? runs : undefined;
}

/** The kept sector ranges `[first, end)` of a tear (relative to the write's first sector). */
export function keptRanges(runs: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  runs.forEach((len, k) => {
    if (k % 2 === 0 && len > 0) out.push([at, at + len]);
    at += len;
  });
  return out;
}

/** The lost sector ranges `[first, end)` of a tear. */
export function lostRanges(runs: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  runs.forEach((len, k) => {
    if (k % 2 === 1 && len > 0) out.push([at, at + len]);
    at += len;
  });
  return out;
}

/** Checks that `runs` is a tear of `n` sectors; the reason it is not, or undefined. */
export function tearProblem(runs: readonly number[], n: number): string | undefined {
  if (runs.length < 2) return "a tear needs a kept and a lost run";
  let sum = 0;
  let kept = 0;
  let lost = 0;
  for (let k = 0; k < runs.length; k++) {
    const len = runs[k]!;
    if (!Number.isSafeInteger(len) || len < 0) return "a run length is not a whole number";
    if (len === 0 && k > 0) return "an empty run past the first";
    sum += len;
    if (k % 2 === 0) kept += len;
    else lost += len;
  }
  if (sum !== n) return `the runs cover ${sum} sectors, the write has ${n}`;
  if (kept === 0 || lost === 0) return "a tear keeps some sectors and loses some";
  return undefined;
}
