import { Option, type Command } from "commander";
import type { ConvertSummary } from "@lwlog/convert/core";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { humanBytes, toJson } from "../format.js";
import { parseChoice, parseSize } from "../options.js";
import { resolvePath } from "../paths.js";
import { startProgress } from "../progress.js";

/** Options of `lwlog convert`. */
export interface ConvertCommandOptions {
  output: string;
  sectorSize?: number;
  truncateMarks?: boolean;
  declaredOnly?: boolean;
  withTail?: boolean;
  fixSuperblock?: boolean;
  for?: "qemu" | "kernel";
  baseImage?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("convert")
    .description("rewrite a log for another sector size, for QEMU's log-append, or with a repaired superblock")
    .argument("<log>", "the log file (or device)")
    .requiredOption("-o, --output <log>", "the log file to write (atomically: nothing is left behind on error)")
    .option("--sector-size <bytes>", "sector size of the new log: 512, 4096, … (default: the input's)", parseSize("--sector-size"))
    .option("--truncate-marks", "cut mark names longer than the new sector size allows (S-33 bytes) instead of failing")
    .option("--declared-only", "leave out the valid entries past the superblock's declared count")
    .option("--with-tail", "keep the valid entries past the declared count, still past it (the default)")
    .option("--fix-superblock", "declare every entry written (nr_entries = the valid entries present): the repair QEMU and crashed-kernel logs need")
    .addOption(
      new Option("--for <reader>", "qemu: a log QEMU's log-append=on accepts (METADATA and unknown flag bits dropped); kernel: one replay-log reads whole (the tail declared)").argParser(
        parseChoice("--for", ["qemu", "kernel"] as const),
      ),
    )
    .option("--base-image <img>", "converting up: the device as it was when the log began; partial sectors are completed from it (read-modify-write)")
    .option("--force", "replace the output log when it exists")
    .option("--json", "print the summary as JSON")
    .option("-q, --quiet", "no progress bar and no summary")
    .action(
      ctx.action((log: string, opts: ConvertCommandOptions) =>
        runConvert(ctx, resolvePath(ctx.io, log), {
          ...opts,
          output: resolvePath(ctx.io, opts.output),
          ...(opts.baseImage !== undefined ? { baseImage: resolvePath(ctx.io, opts.baseImage) } : {}),
        }),
      ),
    );
}

/** `lwlog convert`: one pass over the log; prints what changed beyond the units. */
export async function runConvert(ctx: CommandContext, logPath: string, opts: ConvertCommandOptions): Promise<number> {
  if (opts.declaredOnly && opts.withTail) throw new UsageError("give --declared-only or --with-tail, not both");
  if (opts.for === "kernel" && opts.declaredOnly) throw new UsageError("--for kernel declares the tail; it cannot go with --declared-only");
  const { convertLog, InterruptedError } = await import("@lwlog/convert/core");
  const { isValidSectorSize } = await import("@lwlog/codec/core");
  if (opts.sectorSize !== undefined && !isValidSectorSize(opts.sectorSize)) {
    throw new UsageError(`--sector-size ${opts.sectorSize} is not a sector size (a power of two from 32 to 8388608)`);
  }
  const io = ctx.io;
  let interrupted = false;
  const unhook = io.onInterrupt?.(() => {
    interrupted = true;
  });
  let bar: ReturnType<typeof startProgress> | undefined;
  try {
    let summary: ConvertSummary;
    try {
      summary = await convertLog(logPath, opts.output, {
        ...(opts.sectorSize !== undefined ? { sectorSize: opts.sectorSize } : {}),
        truncateMarks: opts.truncateMarks ?? false,
        tail: !opts.declaredOnly,
        fixSuperblock: (opts.fixSuperblock ?? false) || opts.for === "kernel",
        forQemu: opts.for === "qemu",
        ...(opts.baseImage !== undefined ? { baseImage: opts.baseImage } : {}),
        overwrite: opts.force ?? false,
        shouldStop: () => interrupted,
        onProgress: (offset, total) => {
          bar ??= startProgress(io, { total, label: "convert", bytes: true, quiet: opts.quiet === true || opts.json === true });
          bar.update(offset);
        },
      });
    } catch (err) {
      if (err instanceof InterruptedError) throw new CommandFailure("interrupted: no log written", ExitCode.INTERRUPTED, "LWLOG_INTERRUPTED");
      throw err;
    }
    bar?.stop();
    if (opts.json) io.stdout.write(toJson(summary) + "\n");
    else if (!opts.quiet) io.stdout.write(summaryLines(summary, opts).join("\n") + "\n");
    return ExitCode.OK;
  } finally {
    bar?.stop();
    unhook?.();
  }
}

/** What the conversion did, one line each, the first saying what was written. */
export function summaryLines(s: ConvertSummary, opts: { baseImage?: string } = {}): string[] {
  const sizes = s.fromSectorSize === s.toSectorSize ? `${s.toSectorSize}-byte sectors` : `${s.fromSectorSize} → ${s.toSectorSize}-byte sectors`;
  const lines = [`converted ${s.entriesIn} entries into ${s.entriesOut} (${sizes}) in ${s.output}; nr_entries ${s.nrEntriesOut}`];
  if (s.superblockFixed && BigInt(s.nrEntriesOut) !== s.nrEntriesIn) lines.push(`  superblock fixed: nr_entries ${s.nrEntriesIn} → ${s.nrEntriesOut} (the valid entries present)`);
  else if (s.tailIn > 0 && s.tailDropped === 0) lines.push(`  ${s.tailIn} entries past the declared count kept past it (--fix-superblock declares them)`);
  if (s.tailDropped > 0) lines.push(`  ${s.tailDropped} entries past the declared count left out (--declared-only)`);
  for (const m of s.marksTruncated) {
    lines.push(`  mark at entry ${m.entry} truncated from ${m.bytes} to ${m.keptBytes} bytes${m.outEntry !== m.entry ? ` (now entry ${m.outEntry})` : ""}: ${JSON.stringify(m.name.length > 40 ? `${m.name.slice(0, 40)}…` : m.name)}`);
  }
  if (s.metadataDropped > 0) lines.push(`  METADATA flag dropped from ${s.metadataDropped} entries (QEMU rejects flags beyond 0x0f)`);
  if (s.unknownFlagsDropped > 0) lines.push(`  unknown flag bits dropped from ${s.unknownFlagsDropped} entries (QEMU rejects flags beyond 0x0f)`);
  if (s.entriesDropped.length > 0) lines.push(`  ${s.entriesDropped.length} entries left out, nothing remaining of them: ${s.entriesDropped.slice(0, 10).join(", ")}`);
  if (s.sectorsRounded > 0) lines.push(`  ${s.sectorsRounded} flush/mark sector numbers rounded down to the new unit (they carry no data)`);
  if (s.widenedWrites > 0) lines.push(`  ${s.widenedWrites} writes widened to whole sectors from the base image (read-modify-write)`);
  if (s.splitDiscards > 0) lines.push(`  ${s.splitDiscards} discards split into partial-sector writes and an aligned discard`);
  if (!s.baseImageUsed && opts.baseImage !== undefined) lines.push("  --base-image not used: only converting to a larger sector size needs it");
  if (s.trailingBytes > 0) lines.push(`  ${humanBytes(s.trailingBytes)} after the last entry not copied (${s.end.reason})`);
  for (const r of s.repairs.slice(0, 10)) lines.push(`  ${r.entry !== undefined ? `entry ${r.entry} (offset ${r.offset})` : "superblock"}: ${r.message} [${r.code}]`);
  if (s.repairsTotal > 10) lines.push(`  … and ${s.repairsTotal - 10} more such changes (--json lists the first ${s.repairs.length})`);
  return lines;
}
