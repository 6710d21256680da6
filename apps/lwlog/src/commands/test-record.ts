/**
 * Test helpers for `lwlog record`, `mark` and `status` (not part of the CLI): a recorder run
 * in-process and stopped as SIGINT would, the built CLI as a real process, and a raw NBD
 * client for bytes real clients never send.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { controlRequest } from "@lwlog/driver/control";
import type { RecorderStatus } from "@lwlog/driver";
import { repoRoot } from "@lwlog/testkit";
import { runLwlog, type CliRun } from "../testing.js";

/** Polls the control socket until the recorder answers (or `failed` settles first). */
async function waitForRecorder(control: string, failed: Promise<unknown>, ms = 15_000): Promise<RecorderStatus> {
  let over = false;
  void failed.then(() => (over = true));
  const end = Date.now() + ms;
  for (;;) {
    if (over) throw new Error(`the recorder exited before it was ready: ${JSON.stringify(await failed)}`);
    try {
      const reply = await controlRequest(control, { op: "status" }, 2000);
      if (reply.ok && "status" in reply) return reply.status as RecorderStatus;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`no recorder answered on ${control} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `lwlog record` running in this process; `stop()` interrupts it as SIGINT would. */
export interface InProcessRecorder {
  uri: string;
  control: string;
  status: RecorderStatus;
  /** Interrupts the recorder and returns what the command printed and its exit code. */
  stop(): Promise<CliRun>;
  /** Settles when the command returns. */
  done: Promise<CliRun>;
}

/** Starts `lwlog record ARGS` in-process (pass `--control`, or `--log` for LOG.ctl). */
export async function recordInProcess(args: string[], cwd?: string): Promise<InProcessRecorder> {
  let handler: (() => void) | undefined;
  const done = runLwlog(["record", ...args], {
    ...(cwd ? { cwd } : {}),
    onInterrupt: (h) => {
      handler = h;
      return () => {
        handler = undefined;
      };
    },
  });
  const control = controlOf(args);
  const status = await waitForRecorder(control, done);
  return {
    uri: status.uri,
    control,
    status,
    done,
    stop: async () => {
      handler?.();
      return done;
    },
  };
}

function controlOf(args: string[]): string {
  const i = args.indexOf("--control");
  if (i >= 0) return args[i + 1]!;
  const l = args.indexOf("--log");
  return `${args[l + 1]!}.ctl`;
}

/** The built CLI (`apps/lwlog/dist/main.js`): run `npx turbo run build --filter=lwlog...` first. */
export const builtCli = join(repoRoot, "apps/lwlog/dist/main.js");

/** `lwlog record` as a real process, with its output collected. */
export interface ProcessRecorder {
  child: ChildProcess;
  uri: string;
  control: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128+signal) and the output. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the built CLI's `lwlog record ARGS` and waits until it answers on its control socket. */
export async function recordProcess(args: string[]): Promise<ProcessRecorder> {
  const child = spawn(process.execPath, [builtCli, "record", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const control = controlOf(args);
  const status = await waitForRecorder(control, exited.then(() => ({ stderr: err })));
  return { child, uri: status.uri, control, stdout: () => out, stderr: () => err, exited };
}

/**
 * A raw NBD client (fixed newstyle, simple replies) for the bytes real clients never send.
 * Big-endian fields as the protocol says.
 */
export class RawNbd {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.ended = true;
        this.wake?.();
        resolve();
      }),
    );
    socket.on("error", () => undefined);
  }

  static async connect(uri: string): Promise<RawNbd> {
    const u = new URL(uri);
    const socket = u.protocol === "nbd+unix:" ? connect(u.searchParams.get("socket")!) : connect(Number(u.port), u.hostname);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawNbd(socket);
  }

  /** Reads exactly `n` bytes, or throws when the server closes first. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error("connection closed by the server");
      await new Promise<void>((r) => (this.wake = r));
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Greeting, client flags (fixed newstyle, no zeroes). */
  async greet(): Promise<void> {
    const g = await this.read(18);
    if (g.subarray(0, 8).toString("latin1") !== "NBDMAGIC" || g.subarray(8, 16).toString("latin1") !== "IHAVEOPT") throw new Error("bad greeting");
    this.write(Buffer.from([0, 0, 0, 3]));
  }

  sendOption(option: number, data: Uint8Array = new Uint8Array(0)): void {
    const h = Buffer.alloc(16);
    h.write("IHAVEOPT", 0, "latin1");
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([h, data]));
  }

  async readOptionReply(): Promise<{ option: number; type: number; data: Buffer }> {
    const h = await this.read(20);
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: await this.read(h.readUInt32BE(16)) };
  }

  /** NBD_OPT_GO for the default export; returns its size. */
  async go(): Promise<bigint> {
    this.sendOption(7, Buffer.from([0, 0, 0, 0, 0, 0]));
    let size = -1n;
    for (;;) {
      const r = await this.readOptionReply();
      if (r.type === 1) return size;
      if (r.type !== 3) throw new Error(`NBD_OPT_GO failed: 0x${r.type.toString(16)} ${r.data.toString()}`);
      if (r.data.readUInt16BE(0) === 0) size = r.data.readBigUInt64BE(2);
    }
  }

  /** Sends one request: type 0 read, 1 write, 2 disc, 3 flush, 4 trim, 6 write-zeroes. */
  request(type: number, o: { handle?: bigint; offset?: bigint; length?: number; data?: Uint8Array; flags?: number } = {}): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(0x25609513, 0);
    h.writeUInt16BE(o.flags ?? 0, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(o.handle ?? 1n, 8);
    h.writeBigUInt64BE(o.offset ?? 0n, 16);
    h.writeUInt32BE(o.length ?? o.data?.length ?? 0, 24);
    this.write(o.data ? Buffer.concat([h, o.data]) : h);
  }

  /** One simple reply: its error (0 = success) and handle. */
  async reply(): Promise<{ error: number; handle: bigint }> {
    const h = await this.read(16);
    if (h.readUInt32BE(0) !== 0x67446698) throw new Error("not a simple reply");
    return { error: h.readUInt32BE(4), handle: h.readBigUInt64BE(8) };
  }

  destroy(): void {
    this.socket.destroy();
  }
}
