import type { Command } from "commander";
import { checkLog, type CheckReport } from "@lwlog/codec/core";
import type { CommandContext } from "../context.js";
import { ExitCode } from "../errors.js";
import { Output } from "../io.js";
import { parseCount } from "../options.js";
import { resolvePath } from "../paths.js";

/** Options of `lwlog check`. */
export interface CheckOptions {
  json?: boolean;
  maxProblems?: number;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("check")
    .description("validate a whole log (superblock, every header, data extents, mark names, tail) and list every problem")
    .argument("<log>", "the log file (or device)")
    .option("--json", "print the report as one JSON object")
    .option("--max-problems <n>", "list at most n problems, count the rest (0: no limit)", parseCount("--max-problems"), DEFAULT_MAX_PROBLEMS)
    .action(ctx.action((log: string, opts: CheckOptions) => runCheck(ctx, resolvePath(ctx.io, log), opts)));
}

const DEFAULT_MAX_PROBLEMS = 100;

// The validation itself lives in the codec (convert checks the logs it repairs with it).
export { checkLog, CheckCodes, type CheckReport, type CheckProblem, type CheckSeverity } from "@lwlog/codec/core";

/** `lwlog check`: exit 0 when the log is valid, 1 when it is not. */
export async function runCheck(ctx: CommandContext, path: string, opts: CheckOptions): Promise<number> {
  const report = await checkLog(path, opts.maxProblems ?? DEFAULT_MAX_PROBLEMS);
  // Written a line (a problem) at a time: with --max-problems 0 the report can outgrow any string.
  const out = new Output(ctx.io.stdout);
  for (const piece of opts.json ? reportJson(report) : reportLines(report)) {
    const p = out.write(piece);
    if (p !== undefined) await p;
  }
  await out.flush();
  return report.valid ? ExitCode.OK : ExitCode.FAILED;
}

/** The text of JSON.stringify(r, null, 2) + "\n", in pieces: one per problem. */
function* reportJson(r: CheckReport): Generator<string> {
  const text = JSON.stringify({ ...r, problems: [] }, null, 2) + "\n";
  const at = text.indexOf('\n  "problems": []') + '\n  "problems": ['.length;
  yield text.slice(0, at);
  for (let i = 0; i < r.problems.length; i++) yield (i === 0 ? "\n    " : ",\n    ") + JSON.stringify(r.problems[i], null, 2).replaceAll("\n", "\n    ");
  yield (r.problems.length > 0 ? "\n  " : "") + text.slice(at);
}

/** The text form: a verdict line, then one line per problem. */
export function formatReport(r: CheckReport): string {
  return [...reportLines(r)].join("");
}

/** The lines of `formatReport`, one at a time. */
function* reportLines(r: CheckReport): Generator<string> {
  const tally = [plural(r.errors, "error"), plural(r.warnings, "warning"), plural(r.notes, "note")].join(", ");
  yield `${r.file}: ${r.valid ? "valid" : "INVALID"} (${tally})\n`;
  if (r.sectorSize !== undefined) {
    yield `  sector size ${r.sectorSize}; ${r.declaredEntries} declared ${Number(r.declaredEntries) === 1 ? "entry" : "entries"}, ${r.entries} walked (${r.tailEntries} past the declared count)\n`;
  }
  for (const p of r.problems) {
    const where = [p.entry !== undefined ? `entry ${p.entry}` : "", p.offset !== undefined ? `offset ${p.offset}` : ""].filter(Boolean).join(", ");
    yield `  ${p.severity.padEnd(7)}  ${where ? `${where}: ` : ""}${p.message} [${p.code}]\n`;
  }
  if (r.omitted > 0) yield `  … and ${r.omitted} more (--max-problems 0 lists them all)\n`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
