import type { Command } from "commander";
import { flagNames, LogFile, LogFlags, LogFormatError, LogIndex, LogRangeError, missingMarkHint } from "@lwlog/codec/core";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { toJson } from "../format.js";
import { parseCount } from "../options.js";
import { resolvePath } from "../paths.js";

/** Options of `lwlog find`. */
export interface FindOptions {
  mark?: string;
  nextFua?: boolean;
  nextFlush?: boolean;
  entry?: number;
  fromEntry?: number;
  tail?: boolean;
  json?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("find")
    .description("print the index of an entry: a mark, the next FUA or FLUSH, or check that entry N exists (exit 1 when there is none)")
    .argument("<log>", "the log file (or device)")
    .option("--mark <name>", "the first mark of this name (from --from-entry)")
    .option("--next-fua", "the first entry with the FUA flag at or after --from-entry")
    .option("--next-flush", "the first entry with the FLUSH flag at or after --from-entry")
    .option("--entry <n>", "entry N itself, if the log has it", parseCount("--entry"))
    .option("--from-entry <n>", "where --mark, --next-fua and --next-flush start looking (default 0)", parseCount("--from-entry"))
    .option("--tail", "also look among the valid entries past the declared count")
    .option("--json", "print { entry, offset, kind, flags, mark, tail }")
    .action(ctx.action((log: string, opts: FindOptions) => runFind(ctx, resolvePath(ctx.io, log), opts)));
}

/** `lwlog find`: prints the entry index (exit 1 when there is none). */
export async function runFind(ctx: CommandContext, path: string, opts: FindOptions): Promise<number> {
  const asked = [opts.mark !== undefined, opts.nextFua === true, opts.nextFlush === true, opts.entry !== undefined].filter(Boolean).length;
  if (asked !== 1) throw new UsageError("give exactly one of --mark NAME, --next-fua, --next-flush, --entry N");
  if (opts.entry !== undefined && opts.fromEntry !== undefined) throw new UsageError("--from-entry goes with --mark, --next-fua or --next-flush, not --entry");
  const log = await LogFile.open(path);
  try {
    const index = LogIndex.build(log, { tail: opts.tail ?? false, lenient: true });
    const from = opts.fromEntry ?? 0;
    let found: number;
    let what: string;
    if (opts.mark !== undefined) {
      found = index.findMark(opts.mark, from);
      what = `mark named ${JSON.stringify(opts.mark)}`;
    } else if (opts.nextFua || opts.nextFlush) {
      found = index.findNext(opts.nextFua ? LogFlags.FUA : LogFlags.FLUSH, from);
      what = `${opts.nextFua ? "FUA" : "FLUSH"} entry`;
    } else {
      found = opts.entry! < index.length ? opts.entry! : -1;
      what = `entry ${opts.entry}`;
    }
    if (found < 0) {
      const scope = opts.entry === undefined && from > 0 ? ` at or after entry ${from}` : "";
      const ended = index.end.reason === "error" ? ` (the log is readable only up to entry ${index.end.index}: ${index.end.detail ?? "broken"})` : "";
      const tailHint = !opts.tail ? tailNote(log, opts) : "";
      let marks = "";
      if (opts.mark !== undefined && tailHint === "") {
        const earlier = index.findMark(opts.mark);
        marks = earlier >= 0 ? `; the first one is at entry ${earlier}, before --from-entry` : missingMarkHint(opts.mark, index.marks.map((m) => m.name));
      }
      const code = opts.mark !== undefined ? "LWLOG_NO_SUCH_MARK" : opts.entry !== undefined ? "LWLOG_NO_SUCH_ENTRY" : "LWLOG_POINT_NOT_FOUND";
      throw new LogRangeError(code, `no ${what}${scope} among the ${index.length} entries${tailHint}${marks}${ended}`, { file: path });
    }
    // The index keeps a malformed entry whose framing holds (lenient); replay stops there, so
    // an entry at or past it cannot be replayed to: not found.
    const broken = firstBroken(log, found, opts.tail ?? false);
    if (broken !== undefined) {
      throw new LogFormatError(broken.code, `${broken.message}; entry ${found} (the ${what}) is at or past it, so no replay reaches it`, {
        file: path,
        entry: broken.index,
        offset: broken.offset,
      });
    }
    if (opts.json) {
      const e = index.entry(found);
      const out: Record<string, unknown> = { entry: found, offset: e.offset, kind: e.kind, flags: flagNames(e.flags), tail: e.tail };
      if (e.mark !== undefined) out.mark = e.mark;
      ctx.io.stdout.write(toJson(out) + "\n");
    } else {
      ctx.io.stdout.write(`${found}\n`);
    }
    return 0;
  } finally {
    log.close();
  }
}

/** " (there is one in the tail: add --tail)" when looking past the declared count would find it. */
function tailNote(log: LogFile, opts: FindOptions): string {
  const all = LogIndex.build(log, { tail: true, lenient: true });
  if (all.tail === 0) return "";
  const from = opts.fromEntry ?? 0;
  const hit =
    opts.mark !== undefined
      ? all.findMark(opts.mark, from)
      : opts.nextFua || opts.nextFlush
        ? all.findNext(opts.nextFua ? LogFlags.FUA : LogFlags.FLUSH, from)
        : opts.entry! < all.length
          ? opts.entry!
          : -1;
  return hit >= 0 ? ` (entry ${hit}, past the declared count, has it: add --tail)` : "";
}

/** The first entry up to `last` with an error (a malformed header the lenient index kept), or undefined. */
function firstBroken(log: LogFile, last: number, tail: boolean): { index: number; offset: number; code: string; message: string } | undefined {
  const cursor = log.cursor({ tail, lenient: true });
  for (let sum = cursor.skim(); sum !== undefined && sum.index <= last; sum = cursor.skim()) {
    const bad = sum.entry?.problems.find((p) => p.severity === "error");
    if (bad !== undefined) return { index: sum.index, offset: sum.offset, code: bad.code, message: bad.message };
  }
  return undefined;
}
