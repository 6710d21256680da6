import { closeSync, ftruncateSync, openSync, rmSync } from "node:fs";
import type { Command } from "commander";
import type { DeviceStatus, RecorderStatus } from "@lwlog/driver";
import type { CommandContext } from "../context.js";
import { LwlogError } from "@lwlog/codec/core";
import { CommandFailure, ExitCode, UsageError, withHint } from "../errors.js";
import { humanBytes, toJson } from "../format.js";
import { palette } from "../io.js";
import { parseCount, parseSize } from "../options.js";
import { resolvePath } from "../paths.js";

/** Options of `lwlog record`. */
export interface RecordOptions {
  image: string;
  log: string;
  size?: number;
  create?: boolean;
  sectorSize?: number;
  append?: boolean;
  superInterval?: number;
  zeroesAsDiscard?: boolean;
  listen?: { host: string; port: number };
  socket?: string;
  control?: string;
  name?: string;
  json?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("record")
    .description("serve an image over NBD and log every write to a dm-log-writes log, until SIGINT/SIGTERM")
    .requiredOption("--image <path>", "the image clients see: an existing file or block device (or a new file with --create)")
    .requiredOption("--log <path>", "the log to write: a new file (or an existing log with --append)")
    .option("--create", "create the image as a new sparse file of --size bytes (it must not exist)")
    .option("--size <bytes>", "size of the image made by --create (4096, 64M, 1G)", parseSize("--size"))
    .option("--sector-size <bytes>", "log sector size S: a power of two from 32 to 8388608 (default 512; with --append, the log's)", parseSectorSize)
    .option("--append", "append to an existing log (its sector size; entries past its declared count are kept)")
    .option("--super-interval <n>", "also rewrite the superblock after every N entries (0: only at flush, FUA, mark)", parseCount("--super-interval"), 4096)
    .option("--zeroes-as-discard", "log write-zeroes requests as DISCARD entries instead of writes of zeros")
    .option("--listen <host:port>", "TCP address to serve NBD on (default 127.0.0.1:10809; port 0 picks a free one)", parseListen)
    .option("--socket <path>", "serve NBD on this Unix socket instead of TCP")
    .option("--control <path>", "control socket for lwlog mark / lwlog status (default: LOG.ctl)")
    .option("--name <export>", "NBD export name (default: empty)")
    .option("--json", "print a JSON line when ready ({event: \"ready\", uri, …}) and one when stopped ({event: \"stopped\", …})")
    .action(ctx.action((opts: RecordOptions) => runRecord(ctx, opts)));
}

function parseSectorSize(value: string): number {
  const n = parseCount("--sector-size")(value);
  if (n < 32 || n > 8 * 1024 * 1024 || (n & (n - 1)) !== 0) {
    throw new UsageError(`--sector-size must be a power of two from 32 to 8388608, not ${value}`);
  }
  return n;
}

/** Parses `HOST:PORT`, `[IPv6]:PORT` or `PORT`. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):([0-9]+)$/.exec(value) ?? /^()()([0-9]+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new UsageError(`--listen takes HOST:PORT (127.0.0.1:10809, [::1]:10809) or a port, not ${JSON.stringify(value)}`);
  }
  return { host: m[1] || m[2] || "127.0.0.1", port };
}

/** `lwlog record`: serves until interrupted, then stops cleanly and prints a summary. */
export async function runRecord(ctx: CommandContext, opts: RecordOptions): Promise<number> {
  const io = ctx.io;
  if (opts.create && opts.size === undefined) throw new UsageError("--create needs --size (the size of the new image)");
  if (!opts.create && opts.size !== undefined) throw new UsageError("--size only applies with --create (an existing image keeps its size)");
  if (opts.create && opts.size === 0) throw new UsageError("--size must be more than 0");
  if (opts.listen && opts.socket) throw new UsageError("--listen and --socket are alternatives: give one");
  const image = resolvePath(io, opts.image);
  const log = resolvePath(io, opts.log);
  const control = opts.control !== undefined ? resolvePath(io, opts.control) : `${log}.ctl`;
  const err = palette(io, io.stderr);

  if (opts.create) createImage(image, opts.size!);
  const { Recorder } = await import("@lwlog/driver");
  let recorder;
  try {
    recorder = await Recorder.start({
      image,
      log,
      control,
      ...(opts.sectorSize !== undefined ? { sectorSize: opts.sectorSize } : {}),
      append: opts.append ?? false,
      superInterval: opts.superInterval ?? 4096,
      zeroesAsDiscard: opts.zeroesAsDiscard ?? false,
      listen: opts.socket !== undefined ? { socket: resolvePath(io, opts.socket) } : (opts.listen ?? { host: "127.0.0.1", port: 10809 }),
      ...(opts.name !== undefined ? { exportName: opts.name } : {}),
      onMessage: (m) => {
        const tag = m.level === "error" ? err.red("error") : m.level === "warn" ? err.yellow("warning") : "";
        io.stderr.write(`lwlog: ${tag ? `${tag}: ` : ""}${m.text}\n`);
      },
    });
  } catch (e) {
    if (opts.create) rmSync(image, { force: true });
    throw startHint(e, log, opts);
  }

  if (!io.onInterrupt) {
    await recorder.stop();
    throw new Error("lwlog record needs a way to be interrupted (CliIo.onInterrupt)");
  }
  const ready = recorder.status();
  if (opts.json) {
    io.stdout.write(toJson({ event: "ready", ...readyJson(ready) }, 0) + "\n");
  } else {
    io.stdout.write(`${recorder.uri}\n`);
    io.stderr.write(
      `lwlog: recording ${image} (${humanBytes(ready.size)}) to ${log} (${ready.sectorSize}-byte sectors` +
        `${ready.entries > 0 ? `, appending after entry ${ready.entries - 1}` : ""})\n` +
        `lwlog: serving ${recorder.uri}; marks and status: lwlog mark NAME --control ${control}; stop with Ctrl-C\n`,
    );
  }

  // The first signal stops the recorder cleanly; later ones only say that it is stopping
  // (killing it then would leave a valid log, but without its end mark).
  let stopping = false;
  let off: () => void = () => undefined;
  await new Promise<void>((resolve) => {
    off = io.onInterrupt!(() => {
      if (stopping) {
        io.stderr.write("lwlog: already stopping (waiting for requests in flight and the final sync)\n");
        return;
      }
      stopping = true;
      resolve();
    });
  });
  try {
    if (!opts.json) io.stderr.write("lwlog: stopping: finishing requests in flight, syncing image and log\n");
    let summary: DeviceStatus;
    try {
      summary = await recorder.stop();
    } catch (e) {
      // Logging failed while recording (it was said on stderr then): the log holds what it declares.
      if (e instanceof LwlogError) throw new CommandFailure(`logging failed: ${e.describe()} [${e.code}]`, ExitCode.FAILED, e.code);
      throw e;
    }
    if (opts.json) io.stdout.write(toJson({ event: "stopped", ...summary }, 0) + "\n");
    else io.stdout.write(formatRows(summaryRows(summary)));
  } finally {
    off();
  }
  return 0;
}

/** A start-up error with what to do about it: an existing log, a port another server holds. */
function startHint(e: unknown, log: string, opts: RecordOptions): unknown {
  if (!(e instanceof LwlogError)) return e;
  if (e.code === "LWLOG_EXISTS" && e.file === log && !opts.append) {
    return withHint(e, "--append adds to an existing log (or give --log a new file)");
  }
  if (e.code === "LWLOG_LISTEN" && /EADDRINUSE/.test(e.message)) {
    const where = opts.listen === undefined ? "the default NBD port is taken (another lwlog record, qemu-nbd or nbdkit?)" : "the port is taken";
    return withHint(e, `${where}: --listen 127.0.0.1:0 picks a free port, or --socket PATH serves on a Unix socket`);
  }
  return e;
}

/** Creates a sparse image file of `size` bytes; refuses to replace an existing one. */
function createImage(path: string, size: number): void {
  let fd: number;
  try {
    fd = openSync(path, "wx");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new UsageError(`${path}: already exists; --create makes a new image (leave out --create and --size to use it)`);
    throw new UsageError(`${path}: cannot create the image: ${(e as Error).message}`);
  }
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

function readyJson(s: RecorderStatus): Record<string, unknown> {
  return { uri: s.uri, control: s.control, image: s.image, log: s.log, size: s.size, sectorSize: s.sectorSize, entries: s.entries };
}

/** The facts of a recorder's status, one `[label, value]` per line. */
export function summaryRows(s: DeviceStatus): [string, string][] {
  const r = s.requests;
  return [
    ["entries", `${s.entries}${s.entries !== s.newEntries ? ` (${s.newEntries} new)` : ""}`],
    ["log bytes", `${s.logBytes} (${humanBytes(s.logBytes)})`],
    ["marks", `${s.marks}${s.lastMark ? ` (last: ${s.lastMark.name} at entry ${s.lastMark.entry})` : ""}`],
    ["last flush", s.lastFlush ? `entry ${s.lastFlush.entry} at ${s.lastFlush.at}` : "none"],
    ["requests", `${r.writes} writes of ${s.bytesWritten} bytes, ${r.flushes} flushes, ${r.discards} discards, ${r.writeZeroes} write-zeroes of ${s.bytesZeroed} bytes, ${r.reads} reads`],
    // What lwlog info calls "data … written": the log's write data, write-zeroes logged as zeros included.
    ["written", `${s.dataBytes} bytes (${humanBytes(s.dataBytes)}) of data logged, as lwlog info counts it (write-zeroes as zeros)`],
  ];
}

/** Label/value lines, labels padded to one width. */
export function formatRows(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n") + "\n";
}
