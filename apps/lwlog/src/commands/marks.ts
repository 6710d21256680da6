import type { Command } from "commander";
import { LogFile, isExactText } from "@lwlog/codec/core";
import type { CommandContext } from "../context.js";
import { printableName } from "../entry-kinds.js";
import { renderTable } from "../format.js";
import { resolvePath } from "../paths.js";

/** Options of `lwlog marks`. */
export interface MarksOptions {
  json?: boolean;
  tail?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("marks")
    .description("list the marks of a log: name, entry index, log offset")
    .argument("<log>", "the log file (or device)")
    .option("--json", "print a JSON array of { name, entry, offset, tail } (and markBase64 for names that are not UTF-8 text)")
    .option("--tail", "include marks among the entries past the declared count")
    .action(ctx.action((log: string, opts: MarksOptions) => runMarks(ctx, resolvePath(ctx.io, log), opts)));
}

/** A mark as `lwlog marks --json` prints it. */
export interface MarkRow {
  name: string;
  /** 0-based entry index. */
  entry: number;
  /** Byte offset of the mark's header block in the log. */
  offset: number;
  /** True for a mark past the declared count (only with `--tail`). */
  tail: boolean;
  /** The raw name in base64, when it is not exact UTF-8 text (`name` then has U+FFFD). */
  markBase64?: string;
}

/** `lwlog marks`: one row per mark. */
export async function runMarks(ctx: CommandContext, path: string, opts: MarksOptions): Promise<number> {
  const log = await LogFile.open(path);
  try {
    const marks = findMarks(log, opts.tail ?? false);
    if (opts.json) {
      ctx.io.stdout.write(JSON.stringify(marks, null, 2) + "\n");
    } else if (marks.length === 0) {
      ctx.io.stderr.write(`lwlog: ${log.path} has no marks${opts.tail ? "" : " among its declared entries"}\n`);
    } else {
      const rows = marks.map((m) => [String(m.entry), String(m.offset), m.tail ? `${printableName(m.name)}  (tail)` : printableName(m.name)]);
      ctx.io.stdout.write(renderTable(ctx.io, ["ENTRY", "OFFSET", "NAME"], rows, ["right", "right", "left"]));
    }
    return 0;
  } finally {
    log.close();
  }
}

/** Every mark of a log, in order, from one pass over the headers (strict, like `info`). */
export function findMarks(log: LogFile, tail: boolean): MarkRow[] {
  const marks: MarkRow[] = [];
  const cursor = log.cursor({ tail });
  // skim() builds an entry object only for marks (and odd entries): the rest cost nothing.
  for (let s = cursor.skim(); s !== undefined; s = cursor.skim()) {
    if (s.kind !== "mark") continue;
    const e = s.entry!;
    const m: MarkRow = { name: e.mark!, entry: e.index, offset: e.offset, tail: e.tail };
    if (!isExactText(e.markBytes!)) m.markBase64 = Buffer.from(e.markBytes!).toString("base64");
    marks.push(m);
  }
  return marks;
}
