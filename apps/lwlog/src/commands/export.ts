import { closeSync, openSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { Option, type Command } from "commander";
import type { DataEncoding, ExportFormat, ExportSink, ExportSummary } from "@lwlog/convert/core";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { humanBytes } from "../format.js";
import { Output } from "../io.js";
import { parseChoice } from "../options.js";
import { resolvePath } from "../paths.js";
import { startProgress } from "../progress.js";

const FORMATS = ["ndjson", "json", "csv", "fio-iolog"] as const satisfies readonly ExportFormat[];
const DATA = ["sha256", "none", "base64"] as const satisfies readonly DataEncoding[];

/** Options of `lwlog export`. */
export interface ExportCommandOptions {
  format: ExportFormat;
  data: DataEncoding;
  output?: string;
  force?: boolean;
  declaredOnly?: boolean;
  withTail?: boolean;
  target?: string;
  quiet?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("export")
    .description("write a log's superblock and entries as NDJSON, JSON or CSV (for jq, pandas, spreadsheets), or its I/O as a fio iolog")
    .argument("<log>", "the log file (or device)")
    .addOption(new Option("-f, --format <format>", "ndjson (one record a line), json (one document), csv (one row an entry) or fio-iolog").default("ndjson").argParser(parseChoice("--format", FORMATS)))
    .addOption(new Option("--data <how>", "each entry's data: sha256 of it, none, or base64 (the whole data: what import needs)").default("sha256").argParser(parseChoice("--data", DATA)))
    .option("-o, --output <file>", "write to FILE (atomically: a temporary file renamed at the end) instead of stdout")
    .option("--force", "replace the --output file when it exists")
    .option("--declared-only", "only the entries the superblock declares (default: also the valid entries past them, marked tail)")
    .option("--with-tail", "also the valid entries past the declared count, marked \"tail\": true (the default)")
    .option("--target <file>", "fio-iolog: the file or device fio is to replay the I/O on (fio writes to it!)")
    .option("-q, --quiet", "no progress bar and no summary line")
    .action(ctx.action((log: string, opts: ExportCommandOptions) => runExport(ctx, resolvePath(ctx.io, log), opts)));
}

/**
 * Writes the export's bytes to a file with synchronous writes, as they come (the export
 * gathers them in chunks of a few hundred KiB): a full disk is an error thrown at once,
 * never a stream waiting for a `drain` that does not come.
 */
class FileSink {
  constructor(
    private readonly fd: number,
    private readonly target: string,
    private readonly ioError: (err: unknown, file: string, doing: string) => Error,
  ) {}
  writeBytes(bytes: Uint8Array): void {
    try {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done);
    } catch (err) {
      throw this.ioError(err, this.target, "write the output");
    }
  }
}

/** `lwlog export`: streams the log out, one record at a time. */
export async function runExport(ctx: CommandContext, logPath: string, opts: ExportCommandOptions): Promise<number> {
  if (opts.declaredOnly && opts.withTail) throw new UsageError("give --declared-only or --with-tail, not both");
  if (opts.format === "fio-iolog" && opts.target === undefined) {
    throw new UsageError("--format fio-iolog needs --target FILE: the file or device fio replays the I/O on (fio will write to it)");
  }
  if (opts.format !== "fio-iolog" && opts.target !== undefined) throw new UsageError("--target only applies to --format fio-iolog");
  if (opts.target !== undefined && (/\s/.test(opts.target) || opts.target.length > 255)) {
    throw new UsageError(`--target: fio iolog file names have no spaces and at most 255 characters, not ${JSON.stringify(opts.target)}`);
  }
  const { exportLog, AtomicOutput, InterruptedError, refuseInputs } = await import("@lwlog/convert/core");
  const { LogFile, ioError } = await import("@lwlog/codec/core");
  const io = ctx.io;
  const fioTarget = opts.target !== undefined ? resolvePath(io, opts.target) : undefined;
  // fio writes to its target: never the log being exported.
  if (fioTarget !== undefined) refuseInputs(fioTarget, [logPath]);
  const output = opts.output === undefined ? undefined : resolvePath(io, opts.output);
  // Checked before the log is opened: nothing to release when the output is refused.
  const atomic = output === undefined ? undefined : AtomicOutput.prepare(output, { overwrite: opts.force ?? false, inputs: [logPath] });
  const log = await LogFile.open(logPath);
  let interrupted = false;
  const unhook = io.onInterrupt?.(() => {
    interrupted = true;
  });
  const bar = startProgress(io, { total: log.size, label: "export", bytes: true, quiet: opts.quiet === true || opts.output === undefined });
  let fd: number | undefined;
  try {
    let sink: ExportSink;
    let finish: () => Promise<void> | void;
    if (atomic !== undefined) {
      try {
        fd = openSync(atomic.temp, "wx");
      } catch (err) {
        throw ioError(err, atomic.target, "create the output");
      }
      sink = new FileSink(fd, atomic.target, ioError);
      finish = () => undefined;
    } else {
      const out = new Output(io.stdout);
      // The export hands over its text in chunks (as they fill, and every few milliseconds):
      // each goes out at once, so the output streams from the first record on.
      sink = (t) => out.write(t) ?? out.flush();
      finish = () => out.flush();
    }
    let summary: ExportSummary;
    try {
      summary = await exportLog(log, sink, {
        format: opts.format,
        data: opts.data,
        tail: !opts.declaredOnly,
        source: basename(logPath),
        ...(fioTarget !== undefined ? { fioTarget } : {}),
        shouldStop: () => interrupted,
        onProgress: (offset) => bar.update(offset),
      });
      await finish();
    } catch (err) {
      if (err instanceof InterruptedError) throw new CommandFailure("interrupted: no output written", ExitCode.INTERRUPTED, "LWLOG_INTERRUPTED");
      throw err;
    }
    bar.stop();
    if (fd !== undefined) {
      closeSync(fd);
      fd = undefined;
      await atomic!.commit();
    }
    if (atomic !== undefined && !opts.quiet) io.stderr.write(summaryLine(summary, atomic.target) + "\n");
    return ExitCode.OK;
  } finally {
    bar.stop();
    if (fd !== undefined) closeSync(fd);
    atomic?.abort();
    unhook?.();
    log.close();
  }
}

/** One line saying what was written where. */
export function summaryLine(s: ExportSummary, target: string): string {
  const what =
    s.fio !== undefined
      ? `${s.fio.writes} writes (${humanBytes(s.fio.writeBytes)}), ${s.fio.trims} trims, ${s.fio.syncs} syncs${s.fio.skipped > 0 ? ` (${s.fio.skipped} marks and no-ops left out: fio has no such I/O)` : ""}`
      : `${s.entries} entries${s.tail > 0 ? ` (${s.tail} past the declared count, marked tail)` : ""}`;
  const rest = s.trailingBytes > 0 ? `; ${humanBytes(s.trailingBytes)} after the last entry not exported (${s.end.reason})` : "";
  return `exported ${what} as ${s.format} to ${target}${rest}`;
}
