import { Option, type Command } from "commander";
import type { ImportFormat, ImportSummary } from "@lwlog/convert";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { humanBytes, toJson } from "../format.js";
import { palette } from "../io.js";
import { parseChoice, parseSize } from "../options.js";
import { resolvePath } from "../paths.js";

const FORMATS = ["ndjson", "json", "csv"] as const satisfies readonly ImportFormat[];

/** Options of `lwlog import`. */
export interface ImportCommandOptions {
  output: string;
  format?: ImportFormat;
  sectorSize?: number;
  fixSuperblock?: boolean;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("import")
    .description("rebuild a binary log from an export made with --data base64 (NDJSON, JSON or CSV), byte for byte")
    .argument("<file>", "the export to read (- for stdin)")
    .requiredOption("-o, --output <log>", "the log file to write (atomically: nothing is left behind on error)")
    .addOption(new Option("-f, --format <format>", "ndjson, json or csv (default: from the file name, else from its first line)").argParser(parseChoice("--format", FORMATS)))
    .option("--sector-size <bytes>", "CSV only (it has no superblock row): the sector size of the log to build", parseSize("--sector-size"))
    .option("--fix-superblock", "declare every entry in the superblock, tail entries included")
    .option("--force", "replace the output log when it exists")
    .option("--json", "print the summary as JSON")
    .option("-q, --quiet", "no summary line")
    .action(ctx.action((file: string, opts: ImportCommandOptions) => runImport(ctx, file === "-" ? "-" : resolvePath(ctx.io, file), { ...opts, output: resolvePath(ctx.io, opts.output) })));
}

/** `lwlog import`: validates every record and writes the log; exit 1 on a bad record (naming its line and field). */
export async function runImport(ctx: CommandContext, file: string, opts: ImportCommandOptions): Promise<number> {
  const { importLog, formatFromName, InterruptedError } = await import("@lwlog/convert");
  const { isValidSectorSize } = await import("@lwlog/codec/core");
  if (opts.sectorSize !== undefined && !isValidSectorSize(opts.sectorSize)) {
    throw new UsageError(`--sector-size ${opts.sectorSize} is not a sector size (a power of two from 32 to 8388608)`);
  }
  if ((opts.format ?? (file === "-" ? undefined : formatFromName(file))) === "csv" && opts.sectorSize === undefined) {
    throw new UsageError("a CSV export has no superblock row: give the sector size of the log to build (--sector-size)");
  }
  const io = ctx.io;
  let interrupted = false;
  const unhook = io.onInterrupt?.(() => {
    interrupted = true;
  });
  try {
    let summary: ImportSummary;
    try {
      summary = await importLog(file === "-" ? process.stdin : file, opts.output, {
        ...(opts.format !== undefined ? { format: opts.format } : {}),
        ...(opts.sectorSize !== undefined ? { sectorSize: opts.sectorSize } : {}),
        fixSuperblock: opts.fixSuperblock ?? false,
        overwrite: opts.force ?? false,
        shouldStop: () => interrupted,
      });
    } catch (err) {
      if (err instanceof InterruptedError) throw new CommandFailure("interrupted: no log written", ExitCode.INTERRUPTED, "LWLOG_INTERRUPTED");
      throw err;
    }
    const c = palette(io, io.stderr);
    for (const w of summary.warnings) io.stderr.write(`lwlog: ${c.yellow("warning")}: ${w}\n`);
    if (opts.json) io.stdout.write(toJson(summary) + "\n");
    else if (!opts.quiet) io.stdout.write(summaryLine(summary) + "\n");
    return ExitCode.OK;
  } finally {
    unhook?.();
  }
}

/** One line saying what was built. */
export function summaryLine(s: ImportSummary): string {
  const tail = s.tail > 0 ? ` and ${s.tail} past it` : "";
  return `imported ${s.entries} entries (${s.format}) into ${s.output}: ${s.sectorSize}-byte sectors, ${s.declared} declared${tail}, ${humanBytes(s.bytes)}`;
}
