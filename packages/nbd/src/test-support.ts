/**
 * Test helpers of @lwlog/nbd (not part of the published package): a backend that records
 * what reaches it, a server on a temporary file, `nbdsh` scripts, and a raw socket client
 * that speaks the protocol byte by byte for the tests real clients cannot express.
 */
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { makeTempDir, runAsync, type RunResult } from "@lwlog/testkit";
import type { NbdBackend } from "./backend.js";
import { FileBackend } from "./file-backend.js";
import * as P from "./protocol.js";
import { SocketReader } from "./reader.js";
import { NbdServer, type NbdServerOptions } from "./server.js";

/** One backend call as the server made it. */
export interface RecordedCall {
  op: "read" | "write" | "flush" | "trim" | "writeZeroes";
  offset: number;
  length: number;
  fua?: boolean;
  noHole?: boolean;
  fast?: boolean;
}

/**
 * Wraps a backend and records every call. `gate`, when set, is awaited before each call
 * runs (to hold calls in flight); `concurrent`/`maxConcurrent` count calls running at once.
 */
export class RecordingBackend implements NbdBackend {
  readonly calls: RecordedCall[] = [];
  concurrent = 0;
  maxConcurrent = 0;
  gate: ((call: RecordedCall) => Promise<void>) | undefined;
  fail: ((call: RecordedCall) => Error | undefined) | undefined;
  readonly size: number;
  readonly readOnly: boolean | undefined;
  readonly blockSizes: NbdBackend["blockSizes"];
  readonly supports: NbdBackend["supports"];

  constructor(
    readonly inner: NbdBackend,
    overrides: Partial<Pick<NbdBackend, "readOnly" | "blockSizes" | "supports">> = {},
  ) {
    this.size = inner.size;
    this.readOnly = overrides.readOnly ?? inner.readOnly;
    this.blockSizes = overrides.blockSizes ?? inner.blockSizes;
    this.supports = overrides.supports ?? inner.supports;
  }

  private async track<T>(call: RecordedCall, body: () => Promise<T>): Promise<T> {
    this.calls.push(call);
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    try {
      if (this.gate) await this.gate(call);
      const failure = this.fail?.(call);
      if (failure) throw failure;
      return await body();
    } finally {
      this.concurrent--;
    }
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.track({ op: "read", offset, length }, () => this.inner.read(offset, length));
  }
  write(offset: number, data: Uint8Array, o: { fua: boolean }): Promise<void> {
    return this.track({ op: "write", offset, length: data.length, fua: o.fua }, () => this.inner.write(offset, data, o));
  }
  flush(): Promise<void> {
    return this.track({ op: "flush", offset: 0, length: 0 }, () => this.inner.flush());
  }
  trim(offset: number, length: number, o: { fua: boolean }): Promise<void> {
    return this.track({ op: "trim", offset, length, fua: o.fua }, () => this.inner.trim(offset, length, o));
  }
  writeZeroes(offset: number, length: number, o: { fua: boolean; noHole: boolean; fast?: boolean }): Promise<void> {
    const call: RecordedCall = { op: "writeZeroes", offset, length, fua: o.fua, noHole: o.noHole };
    if (o.fast !== undefined) call.fast = o.fast;
    return this.track(call, () => this.inner.writeZeroes(offset, length, o));
  }
}

/** A running server on a temporary file, and how to take it down. */
export interface TestServer {
  server: NbdServer;
  backend: RecordingBackend;
  file: FileBackend;
  dir: string;
  image: string;
  uri: string;
  stop(): Promise<void>;
}

/** Starts a server on a fresh zero-filled image of `size` bytes (TCP unless `unix`). */
export async function startServer(
  options: {
    size?: number;
    unix?: boolean;
    overrides?: ConstructorParameters<typeof RecordingBackend>[1];
    server?: Omit<NbdServerOptions, "backend">;
  } = {},
): Promise<TestServer> {
  const tmp = makeTempDir("lwlog-nbd-");
  const image = join(tmp.path, "disk.img");
  const file = await FileBackend.create(image, options.size ?? 8 * 1024 * 1024);
  const backend = new RecordingBackend(file, options.overrides);
  const server = new NbdServer({ backend, name: "disk", ...options.server });
  await server.listen(options.unix ? { socket: join(tmp.path, "nbd.sock") } : { host: "127.0.0.1", port: 0 });
  return {
    server,
    backend,
    file,
    dir: tmp.path,
    image,
    uri: server.uri,
    async stop() {
      await server.close({ timeoutMs: 2000 });
      await file.close();
      tmp.cleanup();
    },
  };
}

/**
 * Runs a Python script in `nbdsh` (libnbd) with `h` an unconnected handle and `URI` set;
 * returns stdout. `nbd`, `errno` and `os` are imported for the script.
 */
export function nbdsh(uri: string, script: string, options: { check?: boolean } = {}): Promise<RunResult> {
  const prelude = "import errno, os\nURI = os.environ['URI']\n";
  return runAsync("nbdsh", ["-c", prelude + script], {
    // nbdsh runs `python3 -m nbd`: put Debian's python3 (which has the module) first on PATH.
    env: { ...process.env, URI: uri, PATH: `/usr/bin:${process.env.PATH ?? ""}` },
    check: options.check ?? true,
    timeoutMs: 30_000,
  });
}

/**
 * A raw protocol client over a socket, for the bytes real clients never send (garbage,
 * unknown options and commands, floods, disconnects in the middle of a message).
 */
export class RawClient {
  readonly reader: SocketReader;
  private closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.reader = new SocketReader(socket, 64 * 1024 * 1024);
    this.closedPromise = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => {});
  }

  /** Connects to a server's TCP or Unix address. */
  static async connect(server: NbdServer): Promise<RawClient> {
    const a = server.address;
    const socket = "socket" in a ? connect(a.socket) : connect(a.port, a.host);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawClient(socket);
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  read(n: number): Promise<Buffer> {
    return this.reader.read(n);
  }

  /** Resolves when the server has closed the connection. */
  closed(): Promise<void> {
    return this.closedPromise;
  }

  /** Reads the greeting and answers with client flags (fixed newstyle + no zeroes by default). */
  async greet(clientFlags = P.ClientFlag.FIXED_NEWSTYLE | P.ClientFlag.NO_ZEROES): Promise<number> {
    const g = await this.read(18);
    const v = new DataView(g.buffer, g.byteOffset, 18);
    if (v.getBigUint64(0) !== P.INIT_MAGIC || v.getBigUint64(8) !== P.OPTION_MAGIC) throw new Error("bad greeting");
    const flags = new Uint8Array(4);
    new DataView(flags.buffer).setUint32(0, clientFlags);
    this.write(flags);
    return v.getUint16(16);
  }

  /** Sends one option. */
  sendOption(option: number, data: Uint8Array = new Uint8Array(0), declaredLength = data.length): void {
    const h = new Uint8Array(16);
    const v = new DataView(h.buffer);
    v.setBigUint64(0, P.OPTION_MAGIC);
    v.setUint32(8, option);
    v.setUint32(12, declaredLength);
    this.write(h);
    if (data.length > 0) this.write(data);
  }

  /** Reads one option reply. */
  async readOptionReply(): Promise<{ option: number; type: number; data: Buffer }> {
    const h = await this.read(20);
    const v = new DataView(h.buffer, h.byteOffset, 20);
    if (v.getBigUint64(0) !== P.OPTION_REPLY_MAGIC) throw new Error("bad option reply magic");
    const length = v.getUint32(16);
    return { option: v.getUint32(8), type: v.getUint32(12), data: await this.read(length) };
  }

  /** NBD_OPT_GO data for `name` with the given information requests. */
  static goData(name: string, infos: number[] = []): Uint8Array {
    const n = new TextEncoder().encode(name);
    const out = new Uint8Array(4 + n.length + 2 + 2 * infos.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, n.length);
    out.set(n, 4);
    v.setUint16(4 + n.length, infos.length);
    infos.forEach((info, i) => v.setUint16(6 + n.length + 2 * i, info));
    return out;
  }

  /**
   * Greets, optionally negotiates structured replies, then NBD_OPT_GO. Returns the export
   * size and transmission flags.
   */
  async handshake(options: { name?: string; structured?: boolean } = {}): Promise<{ size: bigint; flags: number }> {
    await this.greet();
    if (options.structured) {
      this.sendOption(P.Option.STRUCTURED_REPLY);
      const r = await this.readOptionReply();
      if (r.type !== P.Reply.ACK) throw new Error(`structured replies refused: ${r.type}`);
    }
    this.sendOption(P.Option.GO, RawClient.goData(options.name ?? "disk", [P.Info.BLOCK_SIZE]));
    let size = -1n;
    let flags = 0;
    for (;;) {
      const r = await this.readOptionReply();
      if (r.type === P.Reply.ACK) break;
      if (r.type !== P.Reply.INFO) throw new Error(`GO failed: 0x${r.type.toString(16)} ${r.data.toString()}`);
      const v = new DataView(r.data.buffer, r.data.byteOffset, r.data.length);
      if (v.getUint16(0) === P.Info.EXPORT) {
        size = v.getBigUint64(2);
        flags = v.getUint16(10);
      }
    }
    return { size, flags };
  }

  /** Sends one request header (and payload, if given). */
  request(type: number, o: { flags?: number; handle?: bigint; offset?: bigint | number; length?: number; data?: Uint8Array } = {}): void {
    const h = new Uint8Array(28);
    const v = new DataView(h.buffer);
    v.setUint32(0, P.REQUEST_MAGIC);
    v.setUint16(4, o.flags ?? 0);
    v.setUint16(6, type);
    v.setBigUint64(8, o.handle ?? 1n);
    v.setBigUint64(16, BigInt(o.offset ?? 0));
    v.setUint32(24, o.length ?? o.data?.length ?? 0);
    this.write(h);
    if (o.data) this.write(o.data);
  }

  /** Reads one simple reply header: error and handle (a read's data is left to the caller). */
  async readSimpleReply(): Promise<{ error: number; handle: bigint }> {
    const h = await this.read(16);
    const v = new DataView(h.buffer, h.byteOffset, 16);
    if (v.getUint32(0) !== P.SIMPLE_REPLY_MAGIC) throw new Error(`not a simple reply: 0x${v.getUint32(0).toString(16)}`);
    return { error: v.getUint32(4), handle: v.getBigUint64(8) };
  }

  /** Reads one structured reply chunk with its payload. */
  async readChunk(): Promise<{ flags: number; type: number; handle: bigint; payload: Buffer }> {
    const h = await this.read(20);
    const v = new DataView(h.buffer, h.byteOffset, 20);
    if (v.getUint32(0) !== P.STRUCTURED_REPLY_MAGIC) throw new Error(`not a chunk: 0x${v.getUint32(0).toString(16)}`);
    const length = v.getUint32(16);
    return { flags: v.getUint16(4), type: v.getUint16(6), handle: v.getBigUint64(8), payload: await this.read(length) };
  }

  /** Closes the socket abruptly. */
  destroy(): void {
    this.socket.destroy();
  }
}

/** Waits until `predicate` holds (polling), failing after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
