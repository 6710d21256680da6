import type { Command } from "commander";
import type { CommandContext } from "../context.js";
import { CommandFailure, UsageError } from "../errors.js";
import { toJson } from "../format.js";
import { resolvePath } from "../paths.js";

/** Options of `lwlog mark`. */
export interface MarkOptions {
  control?: string;
  log?: string;
  json?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("mark")
    .description("add a mark to the log of a running `lwlog record` and print its entry index")
    .argument("<name>", "the mark's name (1 to S−33 bytes of UTF-8, no NUL)")
    .option("--control <path>", "the recorder's control socket")
    .option("--log <path>", "the recorder's log (its control socket is LOG.ctl)")
    .option("--json", "print { name, entry }")
    .action(ctx.action((name: string, opts: MarkOptions) => runMark(ctx, name, opts)));
}

/** The control socket named by `--control`, or `--log` + `.ctl`. */
export function controlPath(ctx: CommandContext, opts: { control?: string; log?: string }): string {
  if (opts.control !== undefined && opts.log !== undefined) throw new UsageError("--control and --log are alternatives: give one");
  if (opts.control !== undefined) return resolvePath(ctx.io, opts.control);
  if (opts.log !== undefined) return `${resolvePath(ctx.io, opts.log)}.ctl`;
  throw new UsageError("say which recorder: --control PATH (or --log LOG for LOG.ctl)");
}

/**
 * `lwlog mark`: the mark is in the log (durable, and declared by the superblock) when this
 * returns; it comes after every request the recorder had acknowledged before.
 */
export async function runMark(ctx: CommandContext, name: string, opts: MarkOptions): Promise<number> {
  const path = controlPath(ctx, opts);
  if (name.length === 0) throw new UsageError("a mark needs a name (it is empty)");
  if (name.includes("\0")) throw new UsageError("a mark name cannot contain a NUL byte");
  const { controlRequest } = await import("@lwlog/driver/control");
  const reply = await controlRequest(path, { op: "mark", name });
  if (!reply.ok) {
    // The name is checked against the log's sector size by the recorder: a bad one is the user's mistake.
    if (reply.error.code === "LWLOG_BAD_MARK") throw new UsageError(reply.error.message);
    throw new CommandFailure(`${path}: ${reply.error.message} [${reply.error.code}]`);
  }
  if (!("entry" in reply)) throw new CommandFailure(`${path}: the recorder's reply has no entry index`);
  ctx.io.stdout.write(opts.json ? toJson({ name, entry: reply.entry }) + "\n" : `${reply.entry}\n`);
  return 0;
}
