import { statSync } from "node:fs";
import type { CrashLog } from "@lwlog/crash";
import type { LogFile } from "@lwlog/codec/core";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode } from "../errors.js";
import { toJson } from "../format.js";
import { makePipeline, openScratch, type CrashesCommandOptions } from "./crashes.js";
import { stateLines } from "./crashes-report.js";

/** `lwlog crashes --state ID`: describe one state, write it with `--to`, judge it with `--fs`, `--exec`, `--persisted`. */
export async function runOneState(ctx: CommandContext, log: CrashLog, file: LogFile, opts: CrashesCommandOptions): Promise<number> {
  const crash = await import("@lwlog/crash");
  const io = ctx.io;
  const resolved = crash.resolveStateId(log, opts.state!);
  const size = opts.size !== undefined && opts.size !== "auto" ? opts.size : Math.max(log.extent, log.sectorSize);
  const before = log.markBefore(resolved.state.position - 1);
  const after = log.markAfter(resolved.state.position);
  const marks = { ...(before ? { before } : {}), ...(after ? { after } : {}) };
  let written: string | undefined;
  if (opts.to !== undefined) {
    await writeStateImage(log, file, resolved, opts.to, size, opts.force ?? false);
    written = opts.to;
  }
  let verdict: import("@lwlog/crash").Verdict | undefined;
  if (opts.exec !== undefined || opts.fs !== undefined || opts.persisted !== undefined) {
    const pipeline = await makePipeline(ctx, opts);
    const windows = opts.persisted !== undefined ? crash.persistedWindows(crash.parsePersisted(opts.persisted), log) : undefined;
    const space = await openScratch(opts);
    const abort = new AbortController();
    const unhook = io.onInterrupt?.(() => abort.abort());
    try {
      ({ verdict } = await crash.judgeOneState({
        log,
        file,
        id: resolved.id,
        state: resolved.state,
        durablePath: space.path("durable.img"),
        size,
        views: (base, bytes) => space.view(base, { size: bytes }),
        judge: pipeline.judge,
        ...(windows !== undefined ? { persisted: { windows, expect: pipeline.expect } } : {}),
        signal: abort.signal,
      }));
    } catch (e) {
      if (e instanceof crash.CrashInterruptedError) throw new CommandFailure("interrupted while the judge ran", ExitCode.INTERRUPTED, "LWLOG_INTERRUPTED");
      throw e;
    } finally {
      unhook?.();
      await space.close();
    }
  }
  if (opts.json || opts.ndjson) {
    const doc: Record<string, unknown> = { id: resolved.id, point: resolved.state.position, flush: resolved.flush, dropped: resolved.dropped, torn: resolved.torn, entries: resolved.entries, marks };
    if (written !== undefined) doc.image = written;
    if (verdict !== undefined) doc.verdict = { ...crash.verdictFields(verdict), ...(verdict.ok ? {} : { output: crash.firstLines(verdict.output) }) };
    io.stdout.write((opts.json ? toJson(doc) : JSON.stringify(doc)) + "\n");
  } else {
    const lines = stateLines(resolved, marks);
    if (/^\s*\d+\s*$/.test(opts.state!)) lines.splice(1, 0, `  the prefix state through entry ${opts.state!.trim()} (what lwlog replay --until-entry ${opts.state!.trim()} writes): nothing dropped`);
    if (written !== undefined) lines.push(`  written to ${written} (${size} bytes)`);
    if (verdict !== undefined) {
      lines.push(`  ${verdict.ok ? "passed" : "FAILED"}: ${verdict.judge ?? "judge"} ${verdict.signal ? `killed by ${verdict.signal}` : `exit status ${verdict.exit ?? "none"}`}`);
      if (!verdict.ok) for (const l of crash.firstLines(verdict.output, 20)) lines.push(`    ${l}`);
    }
    io.stdout.write(lines.join("\n") + "\n");
  }
  return verdict !== undefined && !verdict.ok ? ExitCode.FAILED : ExitCode.OK;
}

/**
 * Writes a state to a new image file, atomically (a temporary file renamed over it at the
 * end): an existing regular file only with `force`; never the log, a directory or a device.
 */
async function writeStateImage(log: CrashLog, file: LogFile, resolved: import("@lwlog/crash").ResolvedState, to: string, size: number, force: boolean): Promise<void> {
  const crash = await import("@lwlog/crash");
  const { AtomicOutput, refuseInputs } = await import("@lwlog/convert/core");
  const { ImageTarget } = await import("@lwlog/replay");
  const { LogIoError } = await import("@lwlog/codec/core");
  let st: import("node:fs").Stats | undefined;
  try {
    st = statSync(to);
  } catch {
    // a new file
  }
  if (st !== undefined) {
    refuseInputs(to, [log.path], st);
    if (!st.isFile() && !st.isDirectory()) throw new LogIoError("LWLOG_TARGET_KIND", "is not a regular file: --to writes a new image file (even with --force)", { file: to });
  }
  const output = AtomicOutput.prepare(to, { overwrite: force });
  try {
    const target = ImageTarget.open(output.temp, { size });
    try {
      await crash.writeState(log, file, resolved, target);
    } finally {
      target.close();
    }
    await output.commit();
  } catch (e) {
    output.abort();
    throw output.named(e);
  }
}
