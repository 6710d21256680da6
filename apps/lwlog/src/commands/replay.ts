import { Option, type Command } from "commander";
import type { LogEntry } from "@lwlog/codec/core";
import type { CheckRule, CheckpointResult, ReplaySummary } from "@lwlog/replay";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { humanBytes, toJson } from "../format.js";
import { palette } from "../io.js";
import { parseChoice, parseCount, parsePositive, parseSectorRange, parseSize, type SectorRange } from "../options.js";
import { resolvePath } from "../paths.js";
import { startProgress, type Progress } from "../progress.js";

/** Options of `lwlog replay`. */
export interface ReplayCommandOptions {
  to: string;
  size?: number | "auto";
  truncate?: boolean;
  untilMark?: string;
  untilEntry?: number;
  nextFlush?: boolean;
  nextFua?: boolean;
  limit?: number;
  fromMark?: string;
  fromEntry?: number;
  discard?: "zero" | "skip";
  sectors?: SectorRange;
  tail?: boolean;
  check?: CheckRule[];
  exec?: string;
  keepGoing?: boolean;
  json?: boolean;
  quiet?: boolean;
  sync?: boolean;
  verbose?: boolean;
  inOrder?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("replay")
    .description("replay a log onto an image file or block device, up to a mark or entry, with checkpoints")
    .argument("<log>", "the log file (or device)")
    .requiredOption("--to <target>", "the image file or block device to write")
    .option("--size <bytes|auto>", "create a missing image (or grow a smaller one) to BYTES (4096, 64M, 1G), or to the log's highest byte with auto", parseTargetSize)
    .option("--truncate", "empty an existing image file first (to --size, or to its own size), so the replay starts from zeros")
    .option("--until-mark <name>", "stop after the first mark of this name (it must exist)")
    .option("--until-entry <n>", "stop after entry N (inclusive)", parseCount("--until-entry"))
    .option("--next-flush", "stop after the first FLUSH entry from the start point")
    .option("--next-fua", "stop after the first FUA entry from the start point")
    .option("--limit <n>", "replay at most N entries from the start point", parsePositive("--limit"))
    .option("--from-mark <name>", "start right after the first mark of this name (it must exist)")
    .option("--from-entry <n>", "start at entry N", parseCount("--from-entry"))
    .addOption(new Option("--discard <mode>", "zero: discarded ranges read back as zeros; skip: ignore discards").default("zero").argParser(parseChoice("--discard", ["zero", "skip"] as const)))
    .option("--sectors <A-B>", "only replay writes and discards that touch sectors A..B (inclusive, log sector units)", parseSectorRange("--sectors"))
    .option("--tail", "also replay the valid entries past the superblock's declared count")
    .option("--check <when>", "checkpoints: flush, fua, mark, discard or every:N (comma-separated for several); needs --exec", parseCheck)
    .option("--exec <cmd>", "command run by sh at each checkpoint after an fsync; {image} is replaced by the target path; env LWLOG_ENTRY, LWLOG_MARK, LWLOG_LOG, LWLOG_IMAGE")
    .option("--keep-going", "go on after a failed checkpoint and report every failure at the end")
    .option("--sync", "fsync the target when the replay ends (checkpoints always sync before their command)")
    .option("--in-order", "apply the entries one by one in log order, instead of writing only what survives at each checkpoint and at the end (same image)")
    .option("--json", "print the summary as JSON")
    .option("-q, --quiet", "no progress bar and no summary line (errors are still printed)")
    .option("-v, --verbose", "print every entry walked and what was done with it, on stderr (replay-log's -v and -vv)")
    .action(ctx.action((log: string, opts: ReplayCommandOptions) => runReplay(ctx, resolvePath(ctx.io, log), { ...opts, to: resolvePath(ctx.io, opts.to) })));
}

const VERBS: Record<string, string> = { write: "replayed", discard: "zeroed", skip: "skipped (--discard skip)", none: "passed", filtered: "skipped (--sectors)" };

function parseTargetSize(value: string): number | "auto" {
  return value === "auto" ? "auto" : parseSize("--size")(value);
}

function parseCheck(value: string): CheckRule[] {
  const rules: CheckRule[] = [];
  for (const word of value.split(",").map((s) => s.trim().toLowerCase())) {
    const every = /^every:([0-9]+)$/.exec(word);
    if (every) {
      const n = Number(every[1]);
      if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--check every:N needs N ≥ 1, not ${JSON.stringify(every[1])}`);
      rules.push({ every: n });
    } else if (word === "flush" || word === "fua" || word === "mark" || word === "discard") {
      rules.push(word);
    } else {
      throw new UsageError(`--check takes flush, fua, mark, discard or every:N (comma-separated), not ${JSON.stringify(word)}`);
    }
  }
  return rules;
}

/** `lwlog replay`: replays and prints a summary; exit 1 when a checkpoint failed. */
export async function runReplay(ctx: CommandContext, logPath: string, opts: ReplayCommandOptions): Promise<number> {
  if (opts.fromMark !== undefined && opts.fromEntry !== undefined) throw new UsageError("give --from-mark or --from-entry, not both");
  if ((opts.check === undefined) !== (opts.exec === undefined)) throw new UsageError("--check and --exec go together: give both");
  if (opts.keepGoing && opts.check === undefined) throw new UsageError("--keep-going needs --check and --exec");
  const { replayLog, execChecker, BrokenLogError, TargetWriteError, ReplayInterruptedError } = await import("@lwlog/replay");
  const { flagNames } = await import("@lwlog/codec/core");
  const io = ctx.io;
  const err = palette(io, io.stderr);
  const abort = new AbortController();
  const unhook = io.onInterrupt?.(() => abort.abort());
  let bar: Progress | undefined;
  const quietBar = opts.quiet === true || opts.json === true;
  try {
    const summary = await replayLog({
      log: logPath,
      target: opts.to,
      ...(opts.size !== undefined ? { size: opts.size } : {}),
      truncate: opts.truncate ?? false,
      ...(opts.fromMark !== undefined ? { from: { mark: opts.fromMark } } : opts.fromEntry !== undefined ? { from: { entry: opts.fromEntry } } : {}),
      until: {
        ...(opts.untilMark !== undefined ? { mark: opts.untilMark } : {}),
        ...(opts.untilEntry !== undefined ? { entry: opts.untilEntry } : {}),
        ...(opts.nextFlush ? { nextFlush: true } : {}),
        ...(opts.nextFua ? { nextFua: true } : {}),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      },
      discard: opts.discard ?? "zero",
      ...(opts.sectors !== undefined ? { sectors: opts.sectors } : {}),
      tail: opts.tail ?? false,
      ...(opts.check !== undefined && opts.exec !== undefined
        ? { check: { rules: opts.check, run: execChecker(opts.exec, { env: io.env, cwd: io.cwd }), keepGoing: opts.keepGoing ?? false } }
        : {}),
      signal: abort.signal,
      sync: opts.sync ?? false,
      inOrder: opts.inOrder ?? false,
      onProgress: (p) => {
        bar ??= startProgress(io, { total: Math.max(p.totalEntries, 1), label: "replay", quiet: quietBar });
        bar.setTotal(Math.max(p.totalEntries, 1));
        bar.update(p.entries, { extra: ` entries | ${humanBytes(p.logBytes)}/${humanBytes(p.totalLogBytes)} | ${p.checkpoints} checkpoints` });
      },
      ...(opts.verbose
        ? {
            onEntry: (e: LogEntry, r: { action: string; bytes: number }) => {
              bar?.stop();
              bar = undefined;
              const size = r.bytes > 0 ? `, ${r.bytes} bytes` : "";
              const what = e.kind === "mark" ? `mark ${JSON.stringify(e.mark)}` : e.kind === "write" || e.kind === "discard" ? `${e.kind} sector ${e.sector} +${e.nrSectors}${size}` : e.kind;
              io.stderr.write(`${VERBS[r.action] ?? r.action} entry ${e.index} @ ${e.offset}: ${what} [${flagNames(e.flags).join("|") || "NONE"}]\n`);
            },
          }
        : {}),
      onCheckpoint: (r) => {
        if (!r.ok && !opts.json) {
          bar?.stop();
          bar = undefined;
          io.stderr.write(`lwlog: ${err.red("checkpoint failed")} after entry ${r.entry}${r.mark !== undefined ? ` (mark ${JSON.stringify(r.mark)})` : ""}: ${exitText(r)}\n${indent(r.output)}`);
        }
      },
    });
    bar?.stop();
    report(ctx, summary, opts);
    return summary.checkpoints.failed.length > 0 ? ExitCode.FAILED : ExitCode.OK;
  } catch (e) {
    bar?.stop();
    if (e instanceof BrokenLogError || e instanceof TargetWriteError) {
      report(ctx, e.summary, opts);
      throw e;
    }
    if (e instanceof ReplayInterruptedError) throw new CommandFailure(e.message, ExitCode.INTERRUPTED, e.code);
    throw e;
  } finally {
    unhook?.();
  }
}

function report(ctx: CommandContext, s: ReplaySummary, opts: ReplayCommandOptions): void {
  const io = ctx.io;
  if (opts.json) {
    io.stdout.write(toJson(s) + "\n");
    return;
  }
  const cp = s.checkpoints;
  if (!opts.quiet) io.stdout.write(summaryLine(s) + "\n");
  if (cp.failed.length > 0) {
    const c = palette(io, io.stderr);
    if (opts.keepGoing) {
      io.stderr.write(`lwlog: ${c.red(`${cp.failed.length} of ${cp.run} checkpoints failed`)}, at entries ${cp.failed.map((f) => f.entry).join(", ")}\n`);
    } else {
      const good = cp.lastGood === null ? "no checkpoint passed before it" : `last good entry ${cp.lastGood}`;
      io.stderr.write(`lwlog: ${c.red("stopped at the first failing checkpoint")}: ${good}, first bad entry ${cp.firstBad} (the image holds entries ${s.start}..${s.last})\n`);
    }
  }
}

/** The one-line summary: what was replayed, how much, and how long it took. */
export function summaryLine(s: ReplaySummary): string {
  const range = s.entries === 0 ? "no entries" : `entries ${s.start}..${s.last} (${s.entries})`;
  const parts = [
    `${s.writes} writes ${humanBytes(s.bytesWritten)}`,
    `${s.discards} discards ${humanBytes(s.bytesZeroed)} zeroed${s.discardsSkipped > 0 ? ` (${s.discardsSkipped} skipped)` : ""}`,
  ];
  if (s.filtered > 0) parts.push(`${s.filtered} outside --sectors`);
  const cp = s.checkpoints;
  parts.push(`${cp.run} checkpoints${cp.run > 0 ? ` (${cp.passed} passed, ${cp.failed.length} failed)` : ""}`);
  // Unknown (null) when the replay stopped before the end of the log: it did not read that far.
  if (s.tailEntries !== null) parts.push(`${s.tailEntries} tail entries${s.tailEntries > 0 ? (s.tailReplayed > 0 ? ` (${s.tailReplayed} replayed)` : " (not replayed: --tail)") : ""}`);
  else if (s.tailReplayed > 0) parts.push(`${s.tailReplayed} tail entries replayed`);
  return `replayed ${range} onto ${s.target}: ${parts.join(", ")}, ${s.seconds.toFixed(2)} s`;
}

function exitText(r: CheckpointResult): string {
  if (r.signal) return `killed by ${r.signal}`;
  if (r.exitCode === null || r.exitCode === undefined) return "could not run";
  return `exit status ${r.exitCode}`;
}

function indent(text: string | undefined): string {
  if (!text) return "";
  const lines = text.replace(/\n+$/, "").split("\n");
  const shown = lines.length > 40 ? ["…", ...lines.slice(-40)] : lines;
  return shown.map((l) => `    ${l}`).join("\n") + "\n";
}
