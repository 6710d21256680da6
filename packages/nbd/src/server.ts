import { EventEmitter } from "node:events";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import type { NbdBackend } from "./backend.js";
import {
  NbdConnection,
  type ConnectionHost,
  type ConnectionLimits,
  type NbdCloseInfo,
  type NbdConnectionInfo,
  type NbdLogEvent,
} from "./connection.js";
import { RequestScheduler } from "./scheduler.js";

/** Where the server listens: TCP (`host` defaults to 127.0.0.1, `port` 0 picks a free port) or a Unix socket. */
export type NbdListen = { host?: string; port?: number } | { socket: string };

/**
 * What to do with a second client while one is in the transmission phase:
 * - `refuse` (default): its NBD_OPT_GO fails with NBD_REP_ERR_POLICY and a message saying
 *   another client is connected (NBD_OPT_EXPORT_NAME, which cannot carry an error, is
 *   answered by closing the connection). Handshake-only clients (`nbdinfo`, NBD_OPT_LIST,
 *   NBD_OPT_INFO) are still answered.
 * - `share`: every client is served; all requests from all clients go through one
 *   scheduler, so the ordering rules hold across clients, and NBD_FLAG_CAN_MULTI_CONN is
 *   advertised when the backend allows it.
 */
export type NbdMultiClient = "refuse" | "share";

/** Options of `NbdServer`. */
export interface NbdServerOptions {
  /** What is served. */
  backend: NbdBackend;
  /** The export's name (NBD_OPT_LIST, NBD_INFO_NAME, the URI). The empty name always selects it too. Default "". */
  name?: string;
  /** A human-readable description (NBD_OPT_LIST, NBD_INFO_DESCRIPTION). */
  description?: string;
  /** Default `{ host: "127.0.0.1", port: 0 }`. */
  listen?: NbdListen;
  /** Second-client policy; default `refuse`. */
  multiClient?: NbdMultiClient;
  /** Requests of one connection read ahead and not yet answered; default 64. */
  maxInFlightRequests?: number;
  /** Data bytes (write payloads and read replies) one connection may hold; default 64 MiB. */
  maxInFlightBytes?: number;
  /** Longest option data accepted in the handshake; default 16 KiB. */
  maxOptionLength?: number;
  /** Options accepted in one handshake before the connection is dropped; default 1024. */
  maxOptions?: number;
  /** Time allowed from connect to the transmission phase; default 30 s. */
  handshakeTimeoutMs?: number;
  /** Open connections (in any phase) at once; more are closed at accept. Default 16. */
  maxConnections?: number;
}

/** The events of `NbdServer`. */
export interface NbdServerEvents {
  /** A socket was accepted (handshake starts). */
  connect: [NbdConnectionInfo];
  /** A client entered the transmission phase: it now counts in `clientCount`. */
  open: [NbdConnectionInfo];
  /** A connection is gone and every backend call made for it has settled. */
  close: [NbdConnectionInfo, NbdCloseInfo];
  /** Something worth a line in a log: refusals, protocol violations, backend errors. */
  log: [NbdLogEvent];
}

/** Default maximum block size (and request payload): 32 MiB, what clients assume by default. */
export const DEFAULT_MAX_BLOCK = 32 * 1024 * 1024;

/**
 * An NBD server exporting one `NbdBackend`: fixed newstyle handshake, structured replies,
 * pipelined requests with bounded read-ahead, graceful shutdown. See the package README
 * for the protocol subset, ordering rules and limits.
 *
 * ```ts
 * const server = new NbdServer({ backend: await FileBackend.open("disk.img"), name: "disk" });
 * await server.listen();
 * console.log(server.uri); // nbd://127.0.0.1:40123/disk
 * // …
 * await server.close();
 * ```
 */
export class NbdServer extends EventEmitter<NbdServerEvents> {
  readonly backend: NbdBackend;
  readonly name: string;
  readonly description: string | undefined;
  readonly multiClient: NbdMultiClient;
  /** Block size constraints advertised with NBD_INFO_BLOCK_SIZE and enforced on requests. */
  readonly blockSizes: { minimum: number; preferred: number; maximum: number };
  private readonly options: NbdServerOptions;
  private readonly limits: ConnectionLimits;
  private readonly maxConnections: number;
  private readonly scheduler = new RequestScheduler();
  private readonly connections = new Map<NbdConnection, Promise<void>>();
  private readonly clients = new Set<NbdConnection>();
  private server: Server | undefined;
  private bound: { host: string; port: number } | { socket: string } | undefined;
  private closing: Promise<void> | undefined;
  private nextId = 1;
  private readonly host: ConnectionHost;

  constructor(options: NbdServerOptions) {
    super();
    this.options = options;
    this.backend = options.backend;
    this.name = options.name ?? "";
    this.description = options.description;
    this.multiClient = options.multiClient ?? "refuse";
    this.blockSizes = resolveBlockSizes(options.backend);
    checkBackend(options.backend);
    if (new TextEncoder().encode(this.name).length > 4096) throw new RangeError("export name longer than 4096 bytes");
    this.limits = {
      maxInFlightRequests: positive(options.maxInFlightRequests ?? 64, "maxInFlightRequests"),
      maxInFlightBytes: positive(options.maxInFlightBytes ?? 64 * 1024 * 1024, "maxInFlightBytes"),
      maxOptionLength: positive(options.maxOptionLength ?? 16 * 1024, "maxOptionLength"),
      maxOptions: positive(options.maxOptions ?? 1024, "maxOptions"),
      handshakeTimeoutMs: positive(options.handshakeTimeoutMs ?? 30_000, "handshakeTimeoutMs"),
    };
    this.maxConnections = positive(options.maxConnections ?? 16, "maxConnections");
    if (this.limits.maxOptionLength < 4 + 4096 + 2 + 2 * 4) {
      throw new RangeError("maxOptionLength must allow a 4096-byte export name (at least 4110)");
    }
    const self = this;
    this.host = {
      backend: this.backend,
      exportName: this.name,
      description: this.description,
      blockSizes: this.blockSizes,
      limits: this.limits,
      scheduler: this.scheduler,
      multiConn: this.multiClient === "share" && this.backend.supports.multiConn === true,
      get shuttingDown() {
        return self.closing !== undefined;
      },
      claimClientSlot: (conn) => this.claimClientSlot(conn),
      opened: (conn) => this.safeEmit("open", conn.info()),
      log: (event) => this.emitLog(event),
    };
  }

  /** Starts listening (on `options.listen`, or the argument). Resolves once bound. */
  async listen(where: NbdListen = this.options.listen ?? {}): Promise<void> {
    if (this.server) throw new Error("NbdServer is already listening");
    if (this.closing) throw new Error("NbdServer has been closed");
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      // An error while binding (EADDRINUSE) is the caller's, thrown once; later ones are logged.
      const fail = (err: Error) => reject(err);
      server.once("error", fail);
      const done = () => {
        server.off("error", fail);
        server.on("error", (err) => this.emitLog({ level: "error", message: `server error: ${err.message}`, error: err }));
        resolve();
      };
      if ("socket" in where) server.listen(where.socket, done);
      else server.listen(where.port ?? 0, where.host ?? "127.0.0.1", done);
    }).catch((err: unknown) => {
      this.server = undefined;
      throw err;
    });
    if ("socket" in where) {
      this.bound = { socket: where.socket };
    } else {
      const a = server.address() as AddressInfo;
      this.bound = { host: a.address, port: a.port };
    }
  }

  /** Where the server is bound (after `listen`). */
  get address(): { host: string; port: number } | { socket: string } {
    if (!this.bound) throw new Error("NbdServer is not listening");
    return this.bound;
  }

  /**
   * The NBD URI of the export: `nbd://127.0.0.1:PORT/NAME` or
   * `nbd+unix:///NAME?socket=PATH` (as qemu and libnbd accept them).
   */
  get uri(): string {
    const a = this.address;
    const name = encodeURIComponent(this.name);
    if ("socket" in a) return `nbd+unix:///${name}?socket=${encodeURIComponent(a.socket).replace(/%2F/gi, "/")}`;
    const host = a.host.includes(":") ? `[${a.host}]` : a.host;
    return `nbd://${host}:${a.port}/${name}`;
  }

  /** Clients in the transmission phase now. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Open connections in any phase (handshake included). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Snapshots of the open connections. */
  connectionsInfo(): NbdConnectionInfo[] {
    return [...this.connections.keys()].map((c) => c.info());
  }

  /**
   * Graceful shutdown: stops accepting, refuses new options (NBD_REP_ERR_SHUTDOWN) and new
   * requests (ESHUTDOWN), lets requests in flight finish and their replies go out, then
   * closes every connection. After `timeoutMs` (default 10 s) connections still open are
   * closed hard. Resolves when every connection is closed and no backend call is running
   * (a backend call cannot be cancelled: a hung backend keeps `close()` waiting).
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeoutMs ?? 10_000);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const server = this.server;
    const stopped = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    for (const conn of this.connections.keys()) conn.beginShutdown();
    const timer = setTimeout(() => {
      for (const conn of this.connections.keys()) conn.destroy(`shutdown timed out after ${timeoutMs} ms`);
    }, timeoutMs);
    try {
      await Promise.all([...this.connections.values()]);
      await stopped;
      await this.scheduler.idle();
    } finally {
      clearTimeout(timer);
    }
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.maxConnections) {
      this.emitLog({
        level: "warn",
        message: `refused a connection from ${socket.remoteAddress ?? "unix"}: ${this.maxConnections} connections already open`,
      });
      socket.destroy();
      return;
    }
    const conn = new NbdConnection(this.host, socket, this.nextId++);
    const done = conn.run().then((info) => {
      this.connections.delete(conn);
      this.clients.delete(conn);
      this.safeEmit("close", conn.info(), info);
    });
    this.connections.set(conn, done);
    this.safeEmit("connect", conn.info());
  }

  /** Counts `conn` as a client, or says why it may not become one. */
  private claimClientSlot(conn: NbdConnection): string | undefined {
    if (this.multiClient === "refuse") {
      for (const other of this.clients) {
        if (other !== conn) {
          return (
            `export ${JSON.stringify(this.name)} is in use by another client ` +
            `(connection ${other.id} from ${other.remote}); this server serves one client at a time`
          );
        }
      }
    }
    this.clients.add(conn);
    return undefined;
  }

  private safeEmit<K extends keyof NbdServerEvents>(event: K, ...args: NbdServerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: NbdServerEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      // A throwing listener must not take the connection (or the server) down with it.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  private emitLog(event: NbdLogEvent): void {
    this.safeEmit("log", event);
  }
}

function positive(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`${what} must be a positive integer, got ${n}`);
  return n;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** The backend's block sizes, checked against the spec's rules, or the defaults. */
function resolveBlockSizes(backend: NbdBackend): { minimum: number; preferred: number; maximum: number } {
  const b = backend.blockSizes ?? { minimum: 1, preferred: 4096, maximum: DEFAULT_MAX_BLOCK };
  const { minimum, preferred, maximum } = b;
  if (!isPowerOfTwo(minimum) || minimum > 65536) {
    throw new RangeError(`blockSizes.minimum must be a power of two up to 65536, got ${minimum}`);
  }
  if (!isPowerOfTwo(preferred) || preferred < Math.max(minimum, 512)) {
    throw new RangeError(`blockSizes.preferred must be a power of two of at least max(minimum, 512), got ${preferred}`);
  }
  if (!Number.isSafeInteger(maximum) || maximum % minimum !== 0 || maximum < Math.min(preferred, backend.size)) {
    throw new RangeError(
      `blockSizes.maximum must be a multiple of minimum and at least min(preferred, size), got ${maximum}`,
    );
  }
  if (maximum > 256 * 1024 * 1024) {
    throw new RangeError(`blockSizes.maximum above 256 MiB is not supported (got ${maximum})`);
  }
  return { minimum, preferred, maximum };
}

function checkBackend(backend: NbdBackend): void {
  if (!Number.isSafeInteger(backend.size) || backend.size < 0) {
    throw new RangeError(`backend size must be a non-negative safe integer, got ${backend.size}`);
  }
}
