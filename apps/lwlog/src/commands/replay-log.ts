import type { Command } from "commander";
import { LogFile, LogFormatError, LwlogError, type LogEntry } from "@lwlog/codec/core";
import type { ImageTarget, ReplayPlan, ReplaySummary, StartPoint, StopPoints } from "@lwlog/replay";
import type { CommandContext } from "../context.js";
import { ExitCode, UsageError } from "../errors.js";
import { palette, type CliIo, type OutStream } from "../io.js";
import { resolvePath } from "../paths.js";
import { clamp, parseReplayLogArgs, U64_MAX, USAGE, type ReplayLogOptions } from "../replay-log-args.js";
import { NO_DISCARD_LINE, outsideSectors, replayLine, seekEntryLine, walkEntryLine } from "../replay-log-format.js";

export { parseReplayLogArgs, USAGE, type ReplayLogOptions };

/**
 * `lwlog replay-log`: xfstests' `replay-log` (src/log-writes) as a drop-in, on lwlog's replay
 * engine. Its options are parsed as its `getopt_long` table and glibc parse them; stdout gets
 * exactly what replay-log prints there (`ENTRY@SECTOR`, the `-v`/`-vv` lines, `Log
 * version=…`, the entry count), and the exit codes are its own: 0, 1 for every failure, 255
 * when `--find` meets a broken entry. Where replay-log is wrong and fstests does not depend
 * on it, lwlog's behaviour wins; docs/cli.md lists each difference. Errors read as every
 * lwlog error does, on stderr.
 */

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("replay-log")
    .description("xfstests' replay-log as a drop-in (--log, --replay, --find, --end-mark, …): its output and exit codes, lwlog's engine; also installed as lwlog-replay-log")
    .usage("--log LOG [--replay TARGET] [options]  (lwlog replay-log --help)")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[options...]", "replay-log's options")
    .action(ctx.action((args: string[]) => runReplayLog(args, ctx.io)));
  // `lwlog help replay-log`: its own text, not commander's (which knows none of its options).
  cmd.helpInformation = () => USAGE;
}

/** Runs `replay-log` with `argv` (without the program name); returns the exit code, never throws. */
export async function runReplayLog(argv: readonly string[], io: CliIo): Promise<number> {
  const out = new Lines(io.stdout);
  try {
    const o = parseReplayLogArgs(argv, io.env);
    if (o.help) {
      io.stdout.write(USAGE);
      return ExitCode.OK;
    }
    if (o.log === undefined) throw new UsageError("--log LOG is required");
    // In replay-log's order: the log, the target (whatever the mode), the walk to the start
    // point, then --fsck without --check or the reverse, then the mode.
    const log = await LogFile.open(resolvePath(io, o.log));
    let target: ImageTarget | undefined;
    try {
      if (o.replay !== undefined) target = await openTarget(resolvePath(io, o.replay), log, o.fsck === undefined);
      const replaying = !o.find && !o.numEntries && target !== undefined;
      // Without -vv the engine finds the start point of a search or replay itself.
      const start = o.verbose > 1 || !(o.find || replaying) ? seekStart(log, o, out) : undefined;
      if ((o.fsck === undefined) !== (o.check === undefined)) throw new UsageError("--fsck and --check go together: give both");
      if (o.find) return await find(log, o, start, out, io);
      if (replaying) return await replay(log, o, target!, out, io);
      out.line(o.numEntries ? String(log.super.nrEntries) : `Log version=1, sectorsize=${log.sectorSize}, entries=${log.super.nrEntries}`);
      return ExitCode.OK;
    } finally {
      target?.close();
      log.close();
    }
  } catch (err) {
    out.flush();
    return failure(err, io);
  } finally {
    out.flush();
  }
}

/** `lwlog replay-log ARGS`: the arguments go to `runReplayLog` untouched (see `CommandModule.runArgs`). */
export const runArgs = runReplayLog;

/**
 * Prints an error as every lwlog error reads and gives replay-log's exit code for it (`code`:
 * 1, or 255 for a broken entry met by `--find`), except for an interrupt (130) and a bug (70).
 */
function failure(err: unknown, io: CliIo, code: number = ExitCode.FAILED): number {
  const red = palette(io, io.stderr).red;
  if (err instanceof UsageError) {
    io.stderr.write(`lwlog: ${red("error")}: replay-log: ${err.message} (lwlog replay-log --help lists the options) [${err.code}]\n`);
    return code;
  }
  if (err instanceof LwlogError) {
    io.stderr.write(`lwlog: ${red("error")}: ${err.describe()} [${err.code}]\n`);
    return err.code === "LWLOG_INTERRUPTED" ? ExitCode.INTERRUPTED : code;
  }
  const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
  io.stderr.write(`lwlog: internal error (this is a bug in lwlog; please report it with the command you ran):\n${stack}\n`);
  return ExitCode.BUG;
}

/** Where the replay or search starts, for the engine. */
function startPoint(o: ReplayLogOptions): StartPoint | undefined {
  if (o.startMark !== undefined) return { mark: o.startMark };
  return o.startEntry > 0n ? { entry: clamp(o.startEntry) } : undefined;
}

/** The stop options, for the engine; undefined when none is given. */
function stopPoints(o: ReplayLogOptions): StopPoints | undefined {
  const until: StopPoints = {};
  if (o.endMark !== undefined) until.mark = o.endMark;
  if (o.nextFlush) until.nextFlush = true;
  if (o.nextFua) until.nextFua = true;
  if (o.limit > 0n) until.limit = clamp(o.limit);
  return Object.keys(until).length > 0 ? until : undefined;
}

/** The first entry of the walk from the start point: its index and the offset of its header. */
interface Start {
  index: number;
  offset: number;
}

/**
 * Walks the headers from the first entry to the start point as replay-log does (every mode
 * does this before anything else), printing its `-vv` lines, and returns the start. A start
 * entry past the declared count, a start mark that is not there, or a broken entry on the
 * way throws (exit 1).
 */
function seekStart(log: LogFile, o: ReplayLogOptions, out: Lines): Start {
  const print = o.verbose > 1;
  const S = log.sectorSize;
  if (o.startMark === undefined && o.startEntry >= log.super.nrEntries && (o.startEntry > 0n || log.super.nrEntries > 0n)) {
    throw new NotFound(`no entry ${o.startEntry} to start at: the superblock declares ${log.super.nrEntries} entries`, log.path);
  }
  const cursor = log.cursor({ tail: false });
  if (o.startMark === undefined) {
    const want = clamp(o.startEntry);
    for (let i = 0; i < want; i++) {
      const e = cursor.next();
      if (e === undefined) throw new NotFound(`no entry ${want} to start at: the log ends after entry ${i - 1}`, log.path);
      if (print) out.line(seekEntryLine(e, S));
    }
    return { index: want, offset: cursor.nextOffset };
  }
  for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
    if (print) out.line(walkEntryLine(e, S));
    if (e.mark === o.startMark) return { index: e.index + 1, offset: e.nextOffset };
  }
  throw new NotFound(`no mark named ${JSON.stringify(o.startMark)} to start after`, log.path);
}

/**
 * Walks from `start` through entry `through` (or to the end of the declared entries),
 * printing the `-vv` lines of the search when `out` is given. Returns the error that broke
 * the walk, if one did.
 */
function walkFrom(log: LogFile, start: Start, through: number | undefined, out: Lines | undefined): LogFormatError | undefined {
  const cursor = log.cursor({ tail: false, start });
  try {
    for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
      out?.line(walkEntryLine(e, log.sectorSize));
      if (through !== undefined && e.index >= through) break;
    }
  } catch (err) {
    if (err instanceof LogFormatError) return err;
    throw err;
  }
  return undefined;
}

/** `--find`: `ENTRY@SECTOR` of the first entry that meets a stop option, SECTOR being where the next entry starts. */
async function find(log: LogFile, o: ReplayLogOptions, start: Start | undefined, out: Lines, io: CliIo): Promise<number> {
  const { planReplay, PointNotFoundError } = await import("@lwlog/replay");
  const verbose = o.verbose > 1;
  const until = stopPoints(o);
  let missing: LwlogError | undefined;
  if (until === undefined) {
    missing = new NotFound("nothing to find: give --end-mark NAME, --next-fua, --next-flush or --limit N", log.path);
  } else {
    try {
      const from = startPoint(o);
      const plan = planAllowingNoMark(planReplay, PointNotFoundError, log, from, until);
      if (plan.stopReason !== "end" && plan.stopReason !== "broken") {
        if (verbose) walkFrom(log, start!, plan.stop, out);
        out.line(`${plan.stop}@${Math.floor((plan.startOffset + plan.logBytes) / log.sectorSize)}`);
        return ExitCode.OK;
      }
      const what = [
        o.endMark !== undefined ? `mark named ${JSON.stringify(o.endMark)}` : "",
        o.nextFua ? "FUA entry" : "",
        o.nextFlush ? "FLUSH entry" : "",
        o.limit > 0n ? `entry ${BigInt(plan.start) + o.limit - 1n} (--limit ${o.limit})` : "",
      ];
      missing = new NotFound(`no ${what.filter(Boolean).join(" or ")} at or after entry ${plan.start}: the superblock declares ${log.super.nrEntries} entries`, log.path);
    } catch (err) {
      if (!(err instanceof PointNotFoundError)) throw err;
      missing = err;
    }
  }
  // Not found. replay-log exits 255 when its walk from the start point met a broken entry,
  // and 1 when it reached the end (or could not reach the start point).
  const from = start ?? seekStart(log, o, out);
  const broken = walkFrom(log, from, undefined, verbose ? out : undefined);
  out.flush();
  if (broken !== undefined) return failure(broken, io, 255);
  return failure(missing, io);
}

/**
 * In a search, a stop mark that is not there is one stop condition that never holds, as in
 * replay-log: with `--limit`, `--next-fua` or `--next-flush` beside it those still count.
 */
function planAllowingNoMark(
  plan: typeof import("@lwlog/replay").planReplay,
  notFound: typeof import("@lwlog/replay").PointNotFoundError,
  log: LogFile,
  from: StartPoint | undefined,
  until: StopPoints,
): ReplayPlan {
  const options = { ...(from ? { from } : {}), tail: false };
  try {
    return plan(log, { ...options, until });
  } catch (err) {
    const { mark, ...others } = until;
    if (!(err instanceof notFound) || mark === undefined || Object.keys(others).length === 0) throw err;
    const without = plan(log, { ...options, until: others });
    // Not found either way: the first error says it best (it names the mark).
    if (without.stopReason === "end" || without.stopReason === "broken") throw err;
    return without;
  }
}

/**
 * Opens `--replay`'s target as replay-log does in every mode: an existing file or device (it
 * creates none), refused if it cannot be written or is in use. A file grows as the replay
 * writes past its end. A device is held `O_EXCL` unless `exclusive` is false (with `--fsck`,
 * whose command opens the device itself, as e2fsck does exclusively).
 */
async function openTarget(path: string, log: LogFile, exclusive: boolean): Promise<ImageTarget> {
  const { ImageTarget, ReplayErrorCodes, TargetError } = await import("@lwlog/replay");
  try {
    return ImageTarget.open(path, { grow: true, log: log.path, exclusive });
  } catch (err) {
    if (err instanceof TargetError && err.code === ReplayErrorCodes.TARGET_MISSING) {
      throw new TargetError(err.code, "no such file: replay-log writes onto an existing image file or block device (make one first, e.g. truncate -s SIZE FILE)", { file: path });
    }
    throw err;
  }
}

/** `--replay`: the engine's replay with replay-log's choices (see docs/cli.md); stdout gets only the `-v` lines. */
async function replay(log: LogFile, o: ReplayLogOptions, target: ImageTarget, out: Lines, io: CliIo): Promise<number> {
  const { replayLog, execChecker } = await import("@lwlog/replay");
  const abort = new AbortController();
  const unhook = io.onInterrupt?.(() => abort.abort());
  try {
    const from = startPoint(o);
    const until = stopPoints(o);
    const sectors = o.startSector > 0n || o.endSector < U64_MAX ? { from: o.startSector, to: o.endSector } : undefined;
    const run = o.fsck === undefined ? undefined : execChecker(o.fsck, { placeholders: false, env: io.env, cwd: io.cwd, onOutput: (chunk, stream) => void (stream === "stdout" ? io.stdout : io.stderr).write(chunk) });
    const S = log.sectorSize;
    let announced = false;
    const summary = await replayLog({
      log,
      target,
      ...(from ? { from } : {}),
      ...(until ? { until } : {}),
      discard: o.noDiscard ? "skip" : "zero",
      ...(sectors ? { sectors, sectorFilter: "writes" as const } : {}),
      tail: false,
      sync: true,
      signal: abort.signal,
      ...(run && o.check
        ? {
            check: {
              rules: [o.check],
              // As replay-log runs it: on the target, synced, and the replay goes on from what it leaves.
              onTarget: true,
              run: (point, context) => {
                out.flush(); // the lines so far come before what the command prints
                return run(point, context);
              },
            },
          }
        : {}),
      ...(o.verbose > 0
        ? {
            onEntry: (e: LogEntry) => {
              const skipped = outsideSectors(e, o.startSector, o.endSector);
              if (o.verbose > 1 || !skipped) out.line(replayLine(e, S, skipped));
              if (!announced && !o.noDiscard && (e.flags & 4n) !== 0n && e.nrSectors > 0n && target.kind === "file") {
                announced = true;
                out.line(NO_DISCARD_LINE);
              }
            },
          }
        : {}),
    });
    out.flush();
    return finish(summary, o, io);
  } finally {
    unhook?.();
  }
}

/** Exit 1 when the fsck command failed (the replay stopped there); a note when entries past the declared count were left out. */
function finish(s: ReplaySummary, o: ReplayLogOptions, io: CliIo): number {
  if (s.tailEntries !== null && s.tailEntries > 0) {
    io.stderr.write(
      `lwlog: note: ${s.log}: ${s.tailEntries} valid entries follow the ${s.declared} the superblock declares; they were not replayed, as replay-log leaves them (lwlog replay --tail replays them)\n`,
    );
  }
  const bad = s.checkpoints.failed[0];
  if (bad === undefined) return ExitCode.OK;
  const status = bad.signal ? `killed by ${bad.signal}` : bad.exitCode === null || bad.exitCode === undefined ? "could not run" : `exit status ${bad.exitCode}`;
  const holds = s.last >= s.start ? `entries ${s.start}..${s.last}` : "no entry";
  return failure(new LwlogError("LWLOG_CHECK_FAILED", `the --fsck command ${JSON.stringify(o.fsck)} failed after entry ${bad.entry} (${status}); the replay stopped there: ${s.target} holds ${holds}`, { file: s.log }), io);
}

/** A start or stop point that is not in the log (exit 1). */
class NotFound extends LwlogError {
  constructor(message: string, file: string) {
    super("LWLOG_POINT_NOT_FOUND", message, { file });
  }
}

/**
 * stdout lines, gathered and written in large pieces (a `-v` replay prints a line an entry):
 * `flush` before anything else writes to stdout (a checker's output) and at the end.
 */
class Lines {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly stream: OutStream) {}
  line(text: string): void {
    this.parts.push(text, "\n");
    this.size += text.length + 1;
    if (this.size >= 1 << 16) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0) return;
    this.stream.write(this.parts.join(""));
    this.parts = [];
    this.size = 0;
  }
}
