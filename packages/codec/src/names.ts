/**
 * "Did you mean" for names the user typed: the marks of a log (every command that looks one
 * up: replay, find, dump, diff) and the words of an option. One place, so every lookup
 * suggests and lists the same way.
 */

/**
 * Edit distance between `a` and `b` (optimal string alignment: insert, delete, substitute,
 * or swap two neighbouring characters, each costing 1). Stops early and returns `limit + 1`
 * once the distance is known to exceed `limit`, so comparing against long names stays cheap.
 */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row[j] = d;
      if (d < best) best = d;
    }
    if (best > limit) return limit + 1;
    [before, prev, row] = [prev, row, before];
  }
  const d = prev[b.length]!;
  return d > limit ? limit + 1 : d;
}

/**
 * The names among `candidates` that `name` was probably meant to be, best first (at most
 * `max`): those within a small edit distance, case ignored (at most 3 edits, and fewer than
 * 60% of the longer name's characters changed), then those that contain what was typed
 * (3 characters or more). Duplicates count once; an exact match is not a suggestion.
 */
export function nearestNames(name: string, candidates: Iterable<string>, max = 3): string[] {
  const typed = name.toLowerCase();
  const scored: { name: string; score: number; order: number }[] = [];
  const seen = new Set<string>();
  let order = 0;
  for (const c of candidates) {
    if (c === name || seen.has(c)) continue;
    seen.add(c);
    const lower = c.toLowerCase();
    const longest = Math.max(typed.length, lower.length);
    const d = editDistance(typed, lower, 3);
    if (d <= 3 && (longest - d) / longest > 0.4) scored.push({ name: c, score: d, order: order++ });
    else if (typed.length >= 3 && lower.includes(typed)) scored.push({ name: c, score: 4, order: order++ });
  }
  scored.sort((x, y) => x.score - y.score || x.order - y.order);
  return scored.slice(0, max).map((s) => s.name);
}

/** How a mark name is quoted in a message: JSON, cut to 40 characters. */
export function quoteName(name: string, width = 40): string {
  return JSON.stringify(name.length > width ? name.slice(0, width) + "…" : name);
}

/** Names listed at most in `missingMarkHint`. */
const LISTED = 6;

/**
 * What a message about a mark that is not in a log goes on with: the nearest names (`; did
 * you mean "rename"?`) and a few of the log's marks in log order, or that it has none.
 * `marks` are the names of the marks the lookup could have found, in log order (repeats
 * allowed); `more` says there were more than those (see `MarkNames`). Example: `; did you
 * mean "files"? (the log has 5 marks: "mkfs", "files", "rm", "umount", "dm-log-writes-end")`.
 */
export function missingMarkHint(name: string, marks: Iterable<string>, more = false): string {
  const names = [...new Set(marks)];
  if (names.length === 0 && !more) return "; the log has no marks";
  const near = nearestNames(name, names);
  const guess = near.length > 0 ? `; did you mean ${near.map((n) => quoteName(n)).join(" or ")}?` : "";
  const shown = names.slice(0, LISTED).map((n) => quoteName(n));
  const count = `${more ? "more than " : ""}${names.length} mark${names.length === 1 && !more ? "" : "s"}`;
  const list = names.length > LISTED || more ? `${shown.join(", ")}, …; lwlog marks lists them all` : shown.join(", ");
  return `${guess} (the log has ${count}: ${list})`;
}

/** Characters of mark names `MarkNames` keeps at most. */
const KEPT_CHARS = 1 << 20;

/**
 * The distinct mark names a walk over a log meets, in log order, for `missingMarkHint`:
 * names are kept until they add up to 1 Mi characters (a log may hold millions of marks of
 * up to 8 MiB each), and `more` says when some were left out.
 */
export class MarkNames {
  private readonly kept = new Set<string>();
  private chars = 0;
  /** True once a name was left out for want of room. */
  more = false;

  add(name: string): void {
    if (this.kept.has(name)) return;
    if (this.chars + name.length > KEPT_CHARS) {
      this.more = true;
      return;
    }
    this.kept.add(name);
    this.chars += name.length;
  }

  /** True when `name` was met (and kept). */
  has(name: string): boolean {
    return this.kept.has(name);
  }

  /** `missingMarkHint` for `name` among the names met. */
  hint(name: string): string {
    return missingMarkHint(name, this.kept, this.more);
  }
}
