import type { Command } from "commander";
import { LogFile, LogIndex } from "@lwlog/codec";
import type { CommandContext } from "../context.js";
import { renderTable, toJson } from "../format.js";
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
    .option("--json", "print a JSON array of { name, entry, offset, tail }")
    .option("--tail", "include marks among the entries past the declared count")
    .action(ctx.action((log: string, opts: MarksOptions) => runMarks(ctx, resolvePath(ctx.io, log), opts)));
}

/** `lwlog marks`: one row per mark. */
export async function runMarks(ctx: CommandContext, path: string, opts: MarksOptions): Promise<number> {
  const log = await LogFile.open(path);
  try {
    const index = LogIndex.build(log, { tail: opts.tail ?? false });
    const marks = index.marks.map((m) => ({ name: m.name, entry: m.index, offset: m.offset, tail: m.tail }));
    if (opts.json) {
      ctx.io.stdout.write(toJson(marks) + "\n");
    } else {
      const rows = marks.map((m) => [String(m.entry), String(m.offset), m.tail ? `${m.name} (tail)` : m.name]);
      ctx.io.stdout.write(renderTable(ctx.io, ["ENTRY", "OFFSET", "NAME"], rows, ["right", "right", "left"]));
    }
    return 0;
  } finally {
    log.close();
  }
}
