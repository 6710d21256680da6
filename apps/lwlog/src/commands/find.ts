import type { Command } from "commander";
import { flagNames, LogFile, LogFlags, LogFormatError, LogIndex } from "@lwlog/codec/core";
import type { CommandContext } from "../context.js";
import { CommandFailure, UsageError } from "../errors.js";
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
    const from = opts.fromEntry ?? 0;
    const what = opts.mark !== undefined ? `mark named ${JSON.stringify(opts.mark)}` : opts.nextFua || opts.nextFlush ? `${opts.nextFua ? "FUA" : "FLUSH"} entry` : `entry ${opts.entry}`;
    const flag = opts.nextFua ? Number(LogFlags.FUA) : opts.nextFlush ? Number(LogFlags.FLUSH) : 0;
    // One walk over the headers that ends at the answer. Lenient: a malformed header whose
    // framing holds is walked past (replay stops there, so an answer at or past it is refused).
    const cursor = log.cursor({ tail: opts.tail ?? false, lenient: true });
    let broken: { index: number; offset: number; code: string; message: string } | undefined;
    let found: { index: number; offset: number; kind: string; flags: bigint; mark: string | undefined; tail: boolean } | undefined;
    for (let sum = cursor.skim(); sum !== undefined; sum = cursor.skim()) {
      const e = sum.entry;
      const bad = e?.problems.find((p) => p.severity === "error");
      if (bad !== undefined && broken === undefined) broken = { index: sum.index, offset: sum.offset, code: bad.code, message: bad.message };
      const hit =
        opts.entry !== undefined
          ? sum.index === opts.entry
          : sum.index >= from && (opts.mark !== undefined ? e?.mark === opts.mark : (sum.knownFlags & flag) !== 0);
      if (hit) {
        found = { index: sum.index, offset: sum.offset, kind: sum.kind, flags: e?.flags ?? BigInt(sum.knownFlags), mark: e?.mark, tail: sum.tail };
        break;
      }
    }
    if (found === undefined) {
      const scope = opts.entry === undefined && from > 0 ? ` at or after entry ${from}` : "";
      const end = cursor.end;
      const ended = end?.reason === "error" ? ` (the log is readable only up to entry ${end.index}: ${end.detail ?? "broken"})` : "";
      const tailHint = !opts.tail ? tailNote(log, opts) : "";
      throw new CommandFailure(`${path}: no ${what}${scope} among the ${cursor.nextIndex} entries${tailHint}${ended}`, 1, "LWLOG_NOT_FOUND");
    }
    if (broken !== undefined) {
      throw new LogFormatError(broken.code, `${broken.message}; entry ${found.index} (the ${what}) is at or past it, so no replay reaches it`, {
        file: path,
        entry: broken.index,
        offset: broken.offset,
      });
    }
    if (opts.json) {
      const out: Record<string, unknown> = { entry: found.index, offset: found.offset, kind: found.kind, flags: flagNames(found.flags), tail: found.tail };
      if (found.mark !== undefined) out.mark = found.mark;
      ctx.io.stdout.write(toJson(out) + "\n");
    } else {
      ctx.io.stdout.write(`${found.index}\n`);
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
