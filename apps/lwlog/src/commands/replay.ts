import { Option, type Command } from "commander";
import { LwlogError, type LogEntry } from "@lwlog/codec/core";
import type { FsChoice } from "@lwlog/judge";
import type { CheckCounts, CheckRule, CheckpointResult, ReplaySummary } from "@lwlog/replay";
import type { ViewStrategy } from "@lwlog/scratch";
import { buildChecker, FS_CHOICES } from "../checkers.js";
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
  fs?: FsChoice;
  exec?: string;
  view?: ViewStrategy | "auto";
  scratch?: string;
  keepGoing?: boolean;
  json?: boolean;
  quiet?: boolean;
  sync?: boolean;
  verbose?: boolean;
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
    .option("--check <when>", "checkpoints: flush, fua, mark, discard or every:N (comma-separated for several); needs --fs or --exec", parseCheck)
    .addOption(new Option("--fs <fs>", "judge each checkpoint's file system as a kernel would after a crash: recovery (journal, log), then the read-only check (ext4, xfs, btrfs, or auto from the superblock)").argParser(parseChoice("--fs", FS_CHOICES)))
    .option("--exec <cmd>", "command run by sh at each checkpoint, on a scratch view of the state ({image}: its path, {nbd}: its NBD URI); env LWLOG_ENTRY, LWLOG_STATE, LWLOG_MARK, LWLOG_LOG, LWLOG_IMAGE, LWLOG_NBD")
    .addOption(new Option("--view <strategy>", "how checkpoints' scratch views are made: reflink, overlay, copy, or auto").default("auto").argParser(parseChoice("--view", ["auto", "reflink", "overlay", "copy"] as const)))
    .option("--scratch <dir>", "where the scratch views are made (default: beside the target where its file system can clone files, else $TMPDIR)")
    .option("--keep-going", "go on after a failed checkpoint and report every failure at the end")
    .option("--sync", "fsync the target when the replay ends (checkpoints always sync before their command)")
    .option("--json", "print the summary as JSON")
    .option("-q, --quiet", "no progress bar and no summary line (errors are still printed)")
    .option("-v, --verbose", "print every entry walked and what was done with it, on stderr (replay-log's -v and -vv)")
    .action(
      ctx.action((log: string, opts: ReplayCommandOptions) =>
        runReplay(ctx, resolvePath(ctx.io, log), { ...opts, to: resolvePath(ctx.io, opts.to), ...(opts.scratch !== undefined ? { scratch: resolvePath(ctx.io, opts.scratch) } : {}) }),
      ),
    );
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
  if (opts.check !== undefined && opts.exec === undefined && opts.fs === undefined) throw new UsageError("--check needs a judge: --fs ext4|xfs|btrfs|auto, --exec CMD, or both");
  if (opts.check === undefined && (opts.exec !== undefined || opts.fs !== undefined)) throw new UsageError(`${opts.fs !== undefined ? "--fs" : "--exec"} needs --check WHEN (flush, fua, mark, discard, every:N)`);
  if (opts.keepGoing && opts.check === undefined) throw new UsageError("--keep-going needs --check");
  if (opts.check === undefined && ((opts.view !== undefined && opts.view !== "auto") || opts.scratch !== undefined)) throw new UsageError("--view and --scratch need --check");
  const { replayLog, ReplayInterruptedError } = await import("@lwlog/replay");
  // Built before anything is written: a judge that cannot run here (xfs, not root) stops now.
  const checker = opts.check !== undefined ? await buildChecker({ ...(opts.fs !== undefined ? { fs: opts.fs } : {}), ...(opts.exec !== undefined ? { exec: opts.exec } : {}), env: ctx.io.env, cwd: ctx.io.cwd }) : undefined;
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
      ...(opts.check !== undefined && checker !== undefined
        ? {
            check: {
              rules: opts.check,
              run: checker.run,
              keepGoing: opts.keepGoing ?? false,
              nbd: checker.nbd,
              scratch: { strategy: opts.view ?? "auto", ...(opts.scratch !== undefined ? { dir: opts.scratch } : {}) },
            },
          }
        : {}),
      signal: abort.signal,
      sync: opts.sync ?? false,
      onProgress: (p) => {
        bar ??= startProgress(io, { total: Math.max(p.totalEntries, 1), label: "replay", quiet: quietBar });
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
          io.stderr.write(`lwlog: ${err.red("checkpoint failed")} after entry ${r.entry}${r.mark !== undefined ? ` (mark ${JSON.stringify(r.mark)})` : ""}: ${r.summary ?? exitText(r)}\n${indent(r.output)}`);
        }
      },
    });
    bar?.stop();
    report(ctx, summary, opts);
    if (summary.checkpoints.unmatched !== undefined) {
      // An error, not a failed checkpoint: exit 1 all the same (a check that checked nothing did not pass).
      throw new LwlogError("LWLOG_CHECK_MATCHED_NOTHING", unmatchedMessage(opts.check ?? [], summary.checkpoints.unmatched, summary));
    }
    return summary.checkpoints.failed.length > 0 ? ExitCode.FAILED : ExitCode.OK;
  } catch (e) {
    bar?.stop();
    // No summary on an error (no partial output): the message says which entries were applied.
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
  const views = Object.entries(cp.views).map(([k, n]) => `${n} ${k}`);
  parts.push(`${cp.run} checkpoints${cp.run > 0 ? ` (${cp.passed} passed, ${cp.failed.length} failed) on ${views.join(" + ")} views` : ""}`);
  parts.push(`${s.tailEntries} tail entries${s.tailEntries > 0 ? (s.tailReplayed > 0 ? ` (${s.tailReplayed} replayed)` : " (not replayed: --tail)") : ""}`);
  return `replayed ${range} onto ${s.target}: ${parts.join(", ")}, ${s.seconds.toFixed(2)} s`;
}

/** Says that `--check` matched no entry, what the replayed entries hold, and which rule would have matched. */
export function unmatchedMessage(rules: CheckRule[], counts: CheckCounts, s: ReplaySummary): string {
  const asked = rules.map((r) => (typeof r === "object" ? `every:${r.every}` : r)).join(",");
  if (counts.entries === 0) return `--check ${asked} checked nothing: no entry was replayed`;
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  const held = [
    plural(counts.fua, "FUA entry", "FUA entries"),
    plural(counts.flush, "flush", "flushes"),
    plural(counts.mark, "mark", "marks"),
    plural(counts.discard, "discard", "discards"),
  ].join(", ");
  const kinds = (["flush", "fua", "mark", "discard"] as const).filter((k) => counts[k] > 0);
  const suggest = kinds.length > 0 ? kinds[0]! : `every:${counts.entries}`;
  const fuaNote = rules.includes("fua") && counts.fua === 0 && counts.flush > 0 ? " (a device without FUA, such as a loop device over a FUSE file, sends flushes instead)" : "";
  return `--check ${asked} matched none of the ${counts.entries} entries replayed (${s.start}..${s.last}), so nothing was checked: they hold ${held}${fuaNote}; try --check ${suggest}`;
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
