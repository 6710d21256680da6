import type { CrashPlan, CrashReport, EntryRecord, FailureReport, ResolvedState, TornRecord } from "@lwlog/crash";

/** Everything `lwlog crashes` reports beside the merged records. */
export interface RunFacts {
  judge: string;
  views?: string;
  seconds: number;
  checks: number;
  interrupted: boolean;
  /** Positions the rules matched that were merged into the point before them. */
  merged: number;
}

/** The JSON document of `lwlog crashes --json`. */
export function reportJson(plan: CrashPlan, report: CrashReport, facts: RunFacts): Record<string, unknown> {
  return {
    log: report.log,
    sectorSize: report.sectorSize,
    entries: report.entries,
    options: plan.options,
    judge: facts.judge,
    ...(facts.views !== undefined ? { views: facts.views } : {}),
    points: report.points,
    mergedPoints: facts.merged,
    unsampledPoints: plan.unsampled,
    unmatched: plan.unmatched ?? null,
    planned: report.planned,
    states: report.states,
    passed: report.passed,
    failed: report.failed,
    interrupted: facts.interrupted,
    missing: report.missing,
    minimiseChecks: facts.checks,
    seconds: round(facts.seconds),
    failures: report.failures,
    minimal: report.minimal,
  };
}

/** The plan in a few lines: where the crashes are, how many states, how they are chosen. */
export function planLines(plan: CrashPlan, facts: Pick<RunFacts, "judge" | "views" | "merged">): string[] {
  const o = plan.options;
  const where = [o.fromMark !== undefined ? `after mark ${JSON.stringify(o.fromMark)}` : "", o.untilMark !== undefined ? `up to mark ${JSON.stringify(o.untilMark)}` : ""].filter(Boolean).join(" ");
  const rules = o.rules.map((r) => (typeof r === "object" ? `every ${r.every} entries` : r === "flush" ? "before each FLUSH" : r === "fua" ? "after each FUA write" : r === "mark" ? "after each mark" : "after every entry")).join(", ");
  const all = plan.points.length + plan.unsampled.length;
  const exhaustive = plan.points.filter((p) => p.exhaustive).length;
  const prefixOnly = plan.points.filter((p) => !p.exhaustive && p.count === 1).length;
  const sampled = plan.points.length - exhaustive - prefixOnly;
  const how = [
    exhaustive > 0 ? `${exhaustive} ${exhaustive === 1 ? "point" : "points"} with every state` : "",
    sampled > 0 ? `${sampled} sampled with seed ${o.seed}` : "",
    prefixOnly > 0 ? `${prefixOnly} with the prefix state only` : "",
  ].filter(Boolean);
  const lines = [
    `crash points: ${all} (${rules}${where ? ` ${where}` : ""}, and the end)${facts.merged > 0 ? `; ${facts.merged} more merged into the point before them (only flushes between)` : ""}${plan.unsampled.length > 0 ? `; states at ${plan.points.length} of them, spread evenly (--samples ${o.samples} is fewer than the points)` : ""}`,
    `states: ${plan.states} (${how.join(", ")}; ${o.samples !== undefined ? `--samples ${o.samples}` : `at most ${o.maxExhaustive} a point`}); torn writes ${o.torn ? "on" : "off"}`,
    `judge: ${facts.judge}${facts.views !== undefined ? `; views: ${facts.views}` : ""}`,
  ];
  if (plan.unmatched !== undefined) lines.push(`note: ${plan.unmatched}`);
  return lines;
}

/** The text report of `lwlog crashes`: the tally, each failure, the distinct minimal states and how to reproduce one. */
export function reportText(plan: CrashPlan, report: CrashReport, facts: RunFacts, logArg: string, maxFailures = 20): string {
  const out: string[] = [];
  const tally = `${report.states} ${report.states === 1 ? "state" : "states"}: ${report.passed} passed, ${report.failed} failed`;
  const minimal = report.minimal.length > 0 ? `; ${report.minimal.length} minimal failing ${report.minimal.length === 1 ? "state" : "states"}` : "";
  const stop = facts.interrupted ? ` (interrupted: ${report.missing.length} of ${report.planned} not judged)` : "";
  out.push(`${tally}${minimal}, ${facts.seconds.toFixed(1)} s${facts.checks > 0 ? ` (${facts.checks} more states judged while minimising)` : ""}${stop}`);
  if (plan.unmatched !== undefined) out.push(`note: ${plan.unmatched}`);
  for (const f of report.failures.slice(0, maxFailures)) out.push("", ...failureLines(f));
  if (report.failures.length > maxFailures) out.push("", `… and ${report.failures.length - maxFailures} more failures (--json or --ndjson lists them all)`);
  if (report.minimal.length > 0) {
    out.push("", "minimal failing states:");
    for (const m of report.minimal) {
      const after = m.marks.before !== undefined ? ` (after mark ${JSON.stringify(m.marks.before.name)})` : "";
      out.push(`  ${m.id}  crash before entry ${m.point}${after}: ${entriesText(m.entries)}${m.complete ? "" : " (not fully minimised: the check budget ran out)"}  [${m.failures} ${m.failures === 1 ? "failure" : "failures"}]`);
    }
    out.push(`reproduce one: lwlog crashes ${shellWord(logArg)} --state ${report.minimal[0]!.id} --to state.img`);
  }
  return out.join("\n") + "\n";
}

/** One failure: where, what it drops, what the judge said, its minimal state. */
export function failureLines(f: FailureReport): string[] {
  const around = [f.marks.before ? `after mark ${JSON.stringify(f.marks.before.name)} (entry ${f.marks.before.entry})` : "", f.marks.after ? `before mark ${JSON.stringify(f.marks.after.name)} (entry ${f.marks.after.entry})` : ""].filter(Boolean).join(", ");
  const lines = [`FAILED ${f.id}: crash before entry ${f.point} (${f.kinds.join(", ")})${around ? `, ${around}` : ""}`];
  const parts: string[] = [];
  if (f.dropped.length > 0) parts.push(`drops ${f.dropped.length} ${f.dropped.length === 1 ? "entry" : "entries"} (${listText(f.dropped)})`);
  if (f.torn.length > 0) parts.push(`tears ${f.torn.map(tornText).join("; ")}`);
  lines.push(`  ${parts.length > 0 ? parts.join(", ") : "the prefix state (nothing dropped): it fails without any lost write"}`);
  const verdict = f.judge === "data" ? `${f.files?.length ?? 0} persisted ${f.files?.length === 1 ? "file is" : "files are"} missing or different` : f.signal ? `killed by ${f.signal}` : f.exit === null ? "failed" : `exit status ${f.exit}`;
  lines.push(`  ${f.judge === "data" ? "data judge" : (f.judge ?? "check")}: ${verdict}`);
  const shown = f.output.slice(0, 12);
  for (const l of shown) lines.push(`    ${l}`);
  if (f.output.length > shown.length) lines.push(`    … (${f.output.length - shown.length} more lines in --json)`);
  if (f.minimal !== null) {
    const m = f.minimal;
    const what = m.entries.length === 0 ? "the prefix state itself fails" : entriesText(m.entries);
    lines.push(`  minimal: ${m.id === f.id ? "this state (already minimal)" : m.id}: ${what}${m.complete ? "" : " (budget ran out)"}`);
  }
  return lines;
}

/** A resolved `--state` id in a few lines. */
export function stateLines(r: ResolvedState, marks: { before?: { name: string; index: number }; after?: { name: string; index: number } }): string[] {
  const around = [marks.before ? `after mark ${JSON.stringify(marks.before.name)} (entry ${marks.before.index})` : "", marks.after ? `before mark ${JSON.stringify(marks.after.name)} (entry ${marks.after.index})` : ""].filter(Boolean).join(", ");
  return [
    `state ${r.id}: crash before entry ${r.state.position}${around ? `, ${around}` : ""}`,
    `  durable: entries 0..${r.flush - 1} (up to the FLUSH at entry ${r.flush}); ${r.candidates.length} writes and discards since it could be lost`,
    `  ${r.entries.length === 0 ? "keeps every one of them (the prefix state)" : entriesText(r.entries)}`,
  ];
}

function entriesText(entries: readonly EntryRecord[]): string {
  if (entries.length === 0) return "the prefix state (nothing dropped)";
  const shown = entries.slice(0, 6).map((e) => {
    const where = `${e.kind} sectors ${e.sector}..${e.sector + e.sectors - 1}${e.flags !== "NONE" ? ` ${e.flags}` : ""}`;
    return e.how === "dropped" ? `drop entry ${e.index} (${where})` : `tear entry ${e.index} (${where}; lost ${rangesText(e.lost ?? [])})`;
  });
  return shown.join(", ") + (entries.length > 6 ? `, and ${entries.length - 6} more` : "");
}

function tornText(t: TornRecord): string {
  return `entry ${t.entry} (sectors ${t.sector}..${t.sector + t.sectors - 1}: kept ${rangesText(t.kept)}, lost ${rangesText(t.lost)})`;
}

function rangesText(r: readonly [number, number][]): string {
  return r.map(([a, b]) => (a === b ? `${a}` : `${a}..${b}`)).join(", ");
}

function listText(xs: readonly number[]): string {
  const shown = xs.slice(0, 12).join(", ");
  return xs.length > 12 ? `${shown}, …` : shown;
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

