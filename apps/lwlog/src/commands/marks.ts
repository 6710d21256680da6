import type { Command } from "commander";
import { LogFile, isExactText } from "@lwlog/codec/core";
import type { CommandContext } from "../context.js";
import { printableName } from "../entry-kinds.js";
import { renderTable, type Align } from "../format.js";
import { Output } from "../io.js";
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

/**
 * Marks held before anything is printed: up to this many, the listing is printed whole at
 * the end (nothing on stdout when the log turns out broken; the text a table sized to
 * them, cli-table3 on a terminal). Beyond, the rows stream (the text as plain columns), so
 * a log of millions of marks costs no more memory than one of a thousand.
 */
const MARKS_HELD = 1000;

/** `lwlog marks`: one row per mark; memory stays flat whatever the count. */
export async function runMarks(ctx: CommandContext, path: string, opts: MarksOptions): Promise<number> {
  const log = await LogFile.open(path);
  try {
    const out = new Output(ctx.io.stdout);
    const put = async (text: string) => {
      const p = out.write(text);
      if (p !== undefined) await p;
    };
    const head = ["ENTRY", "OFFSET", "NAME"];
    const align: Align[] = ["right", "right", "left"];
    const row = (m: MarkRow) => [String(m.entry), String(m.offset), m.tail ? `${printableName(m.name)}  (tail)` : printableName(m.name)];
    // JSON: the text JSON.stringify(marks, null, 2) gives, one mark at a time.
    const jsonItem = (m: MarkRow, first: boolean) => (first ? "[\n  " : ",\n  ") + JSON.stringify(m, null, 2).replaceAll("\n", "\n  ");
    let widths: number[] | undefined;
    let streaming = false;
    let count = 0;
    const held: MarkRow[] = [];
    const emit = async (m: MarkRow, first: boolean) => put(opts.json ? jsonItem(m, first) : plainRow(row(m), widths!, align));
    for (const m of eachMark(log, opts.tail ?? false)) {
      if (out.closed) break;
      count += 1;
      if (streaming) {
        await emit(m, false);
        continue;
      }
      held.push(m);
      if (held.length <= MARKS_HELD) continue;
      // Too many to hold: stream. Text columns are wide enough for any index and offset of this file.
      streaming = true;
      if (!opts.json) {
        const rows = held.map(row);
        const most = String(log.size).length;
        widths = [0, 1].map((i) => Math.max(head[i]!.length, most, ...rows.map((r) => r[i]!.length)));
        await put(plainRow(head, widths, align));
      }
      for (let i = 0; i < held.length; i++) await emit(held[i]!, i === 0);
      held.length = 0;
    }
    if (opts.json) {
      if (!streaming) for (let i = 0; i < held.length; i++) await put(jsonItem(held[i]!, i === 0));
      await put(count === 0 ? "[]\n" : "\n]\n");
    } else if (!streaming && held.length > 0) {
      await put(renderTable(ctx.io, head, held.map(row), align));
    }
    await out.flush();
    if (count === 0 && !opts.json && !out.closed) ctx.io.stderr.write(`lwlog: ${log.path} has no marks${opts.tail ? "" : " among its declared entries"}\n`);
    return 0;
  } finally {
    log.close();
  }
}

/** One line of plain columns: the first two right-aligned to `widths`, the name as it is. */
function plainRow(r: string[], widths: number[], align: Align[]): string {
  return r.map((c, i) => (i < widths.length ? (align[i] === "right" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)) : c)).join("  ").trimEnd() + "\n";
}

/** Every mark of a log, in order, from one pass over the headers (strict, like `info`). */
export function findMarks(log: LogFile, tail: boolean): MarkRow[] {
  return [...eachMark(log, tail)];
}

/** The marks of a log one at a time, from one pass over the headers (strict, like `info`). */
export function* eachMark(log: LogFile, tail: boolean): Generator<MarkRow> {
  const cursor = log.cursor({ tail });
  // skim() builds an entry object only for marks (and odd entries): the rest cost nothing.
  for (let s = cursor.skim(); s !== undefined; s = cursor.skim()) {
    if (s.kind !== "mark") continue;
    const e = s.entry!;
    const m: MarkRow = { name: e.mark!, entry: e.index, offset: e.offset, tail: e.tail };
    if (!isExactText(e.markBytes!)) m.markBase64 = Buffer.from(e.markBytes!).toString("base64");
    yield m;
  }
}
