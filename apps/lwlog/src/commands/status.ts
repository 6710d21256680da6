import type { Command } from "commander";
import type { RecorderStatus } from "@lwlog/driver";
import type { CommandContext } from "../context.js";
import { CommandFailure } from "../errors.js";
import { humanBytes, toJson } from "../format.js";
import { controlPath } from "./mark.js";
import { formatRows, summaryRows } from "./record.js";

/** Options of `lwlog status`. */
export interface StatusOptions {
  control?: string;
  log?: string;
  json?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("status")
    .description("show what a running `lwlog record` has logged: entries, bytes, marks, last flush")
    .option("--control <path>", "the recorder's control socket")
    .option("--log <path>", "the recorder's log (its control socket is LOG.ctl)")
    .option("--json", "print the status as one JSON object (keys in docs/cli.md)")
    .action(ctx.action((opts: StatusOptions) => runStatus(ctx, opts)));
}

/** `lwlog status`: asks the recorder over its control socket. */
export async function runStatus(ctx: CommandContext, opts: StatusOptions): Promise<number> {
  const path = controlPath(ctx, opts);
  const { controlRequest } = await import("@lwlog/driver/control");
  const reply = await controlRequest(path, { op: "status" });
  if (!reply.ok) throw new CommandFailure(`${path}: ${reply.error.message} [${reply.error.code}]`);
  if (!("status" in reply)) throw new CommandFailure(`${path}: the recorder's reply has no status`);
  const s = reply.status as RecorderStatus;
  if (opts.json) {
    ctx.io.stdout.write(toJson(s) + "\n");
    return 0;
  }
  const rows: [string, string][] = [
    ["uri", s.uri],
    ["image", `${s.image} (${humanBytes(s.size)})`],
    ["log", `${s.log} (${s.sectorSize}-byte sectors, superblock declares ${s.declared})`],
    ["clients", String(s.clients)],
    ["since", s.startedAt],
    ...summaryRows(s),
  ];
  if (s.failure) rows.push(["failure", s.failure]);
  ctx.io.stdout.write(formatRows(rows));
  return 0;
}
