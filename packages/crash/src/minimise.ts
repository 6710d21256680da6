import type { Deviation } from "./state.js";

/**
 * Whether the state with exactly these deviations still fails (the same way); `undefined`
 * when the check budget is spent (the minimisation then stops with what it has).
 */
export type FailsWith = (deviations: Deviation[]) => Promise<boolean | undefined>;

/** What `minimise` found. */
export interface Minimised {
  deviations: Deviation[];
  /** True when no single deviation can be taken away (1-minimal); false when the budget ran out first. */
  complete: boolean;
}

/**
 * Delta debugging (Zeller's ddmin) of a failing state's deviations: the smallest subset that
 * still fails, 1-minimal (taking any one deviation away makes it pass). Tries the chunks of
 * the current set, then their complements, refining the split when neither fails. First, a
 * failing set found earlier at the same point (`known`) that is a subset of these is taken
 * at once: it is already 1-minimal and fails, so it answers the question (in one check, or
 * none when the caller caches verdicts). `fails([])` (the prefix state) must be false.
 */
export async function minimise(deviations: readonly Deviation[], fails: FailsWith, known: readonly (readonly Deviation[])[] = []): Promise<Minimised> {
  let c = [...deviations];
  const keys = new Set(c.map(deviationKey));
  for (const m of [...known].sort((a, b) => a.length - b.length)) {
    if (m.length >= c.length || !m.every((d) => keys.has(deviationKey(d)))) continue;
    const r = await fails([...m]);
    if (r === undefined) return { deviations: c, complete: false };
    if (r) return { deviations: [...m], complete: true };
  }
  let n = 2;
  while (c.length >= 2) {
    const chunks = split(c, n);
    let next: Deviation[] | undefined;
    let nextN = n;
    for (const chunk of chunks) {
      const r = await fails(chunk);
      if (r === undefined) return { deviations: c, complete: false };
      if (r) {
        next = chunk;
        nextN = 2;
        break;
      }
    }
    if (next === undefined && chunks.length > 2) {
      // With two chunks each complement is the other chunk, tried above.
      for (let k = 0; k < chunks.length; k++) {
        const complement = chunks.filter((_, q) => q !== k).flat();
        const r = await fails(complement);
        if (r === undefined) return { deviations: c, complete: false };
        if (r) {
          next = complement;
          nextN = Math.max(n - 1, 2);
          break;
        }
      }
    }
    if (next !== undefined) {
      c = next;
      n = nextN;
      continue;
    }
    if (n >= c.length) break;
    n = Math.min(c.length, 2 * n);
  }
  return { deviations: c, complete: true };
}

/** `c` cut into `n` consecutive chunks of nearly equal size. */
function split<T>(c: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  let at = 0;
  for (let k = 0; k < n; k++) {
    const size = Math.floor((c.length - at) / (n - k));
    out.push(c.slice(at, at + size));
    at += size;
  }
  return out.filter((x) => x.length > 0);
}

/** A key equal for equal deviations. */
export function deviationKey(d: Deviation): string {
  return d.kind === "drop" ? `d${d.ordinal}` : `t${d.ordinal}:${d.runs.join(".")}`;
}
