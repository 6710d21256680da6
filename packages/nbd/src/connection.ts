import type { Socket } from "node:net";
import { NbdBackendError, type NbdBackend } from "./backend.js";
import {
  ClientFlag,
  Command,
  CommandFlag,
  ErrorCode,
  HandshakeFlag,
  Info,
  MAX_STRING,
  OPTION_HEADER_SIZE,
  OPTION_MAGIC,
  Option,
  REPLY_FLAG_DONE,
  REQUEST_HEADER_SIZE,
  Reply,
  TransmissionFlag,
  ChunkType,
  commandName,
  decodeRequestHeader,
  encodeChunkHeader,
  encodeErrorChunk,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoString,
  encodeOffsetDataHeader,
  encodeOptionReply,
  encodeServerReply,
  encodeSimpleReply,
  optionName,
  truncateUtf8,
  type ErrnoName,
  type RequestHeader,
} from "./protocol.js";
import { ConnectionEndedError, SocketReader } from "./reader.js";
import type { RequestScheduler } from "./scheduler.js";

/** Why a connection ended. */
export type NbdCloseReason =
  /** The client sent NBD_CMD_DISC (soft disconnect). */
  | "disconnect"
  /** The client sent NBD_OPT_ABORT during the handshake. */
  | "abort"
  /** The client closed the socket (between messages, or in the middle of one). */
  | "eof"
  /** A socket error. */
  | "error"
  /** The client broke the protocol (bad magic, unknown flags, oversized option…): hard disconnect. */
  | "protocol"
  /** The server refused the client (unknown export with EXPORT_NAME, another client connected). */
  | "refused"
  /** The handshake did not finish in time. */
  | "timeout"
  /** The server is shutting down. */
  | "shutdown";

/** How a connection ended: the `close` event's second argument. */
export interface NbdCloseInfo {
  reason: NbdCloseReason;
  /** A sentence for logs. */
  message: string;
  /** Requests answered in the transmission phase. */
  requests: number;
}

/** A snapshot of one connection, as given to the server's events. */
export interface NbdConnectionInfo {
  /** Unique per server, counting from 1. */
  readonly id: number;
  /** `address:port` of a TCP peer, or `unix` for a Unix socket. */
  readonly remote: string;
  /** `handshake` until NBD_OPT_GO / EXPORT_NAME succeeds, then `transmission`. */
  readonly phase: "handshake" | "transmission" | "closed";
  /** The export name the client chose (set once in transmission). */
  readonly exportName: string | undefined;
  /** Whether NBD_OPT_STRUCTURED_REPLY was negotiated. */
  readonly structuredReplies: boolean;
  /** Transmission flags sent to this client (0 until then). */
  readonly transmissionFlags: number;
}

/** One line for a log: what the server has to say about a connection or itself. */
export interface NbdLogEvent {
  level: "info" | "warn" | "error";
  message: string;
  /** The connection concerned, if any. */
  connection?: number;
  /** The underlying error (backend failures, socket errors). */
  error?: unknown;
}

/** Limits and policy a connection works under (resolved server options). */
export interface ConnectionLimits {
  maxInFlightRequests: number;
  maxInFlightBytes: number;
  maxOptionLength: number;
  maxOptions: number;
  handshakeTimeoutMs: number;
}

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly backend: NbdBackend;
  readonly exportName: string;
  readonly description: string | undefined;
  readonly blockSizes: { minimum: number; preferred: number; maximum: number };
  readonly limits: ConnectionLimits;
  readonly scheduler: RequestScheduler;
  readonly multiConn: boolean;
  readonly shuttingDown: boolean;
  /** Claims the right to enter transmission; a refusal message when not allowed. */
  claimClientSlot(conn: NbdConnection): string | undefined;
  opened(conn: NbdConnection): void;
  log(event: NbdLogEvent): void;
}

/** Hard-disconnect conditions during negotiation or transmission. */
class HardDisconnect extends Error {
  constructor(
    readonly reason: NbdCloseReason,
    message: string,
  ) {
    super(message);
  }
}

/** The outcome of checking a request before running it. */
interface Rejection {
  errno: number;
  message: string;
}

/** Bytes charged to every request on top of its data, so floods of tiny requests are bounded too. */
const REQUEST_OVERHEAD = 512;
/** Options longer than the limit but at most this long are read and discarded, then refused. */
const OPTION_DISCARD_LIMIT = 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * One client connection: the fixed newstyle handshake, then the transmission phase.
 *
 * Invariants:
 * - Exactly one read from the socket is pending at a time (`reader`); requests are read
 *   in order, each one only after it has been admitted (`inflight` < the request limit
 *   and `inflightBytes` within the byte limit, or nothing in flight), so the memory a
 *   client can pin is bounded whatever it sends.
 * - A request stays counted in `inflight` until its reply has been handed to the kernel
 *   (the socket's write callback) or the socket is gone.
 * - `calls` holds every request being executed; the connection's `run()` resolves only
 *   after all of them have settled, so no backend call outlives the `close` event.
 */
export class NbdConnection {
  readonly id: number;
  readonly remote: string;
  private phase: NbdConnectionInfo["phase"] = "handshake";
  private structured = false;
  private noZeroes = false;
  private flags = 0;
  private chosenName: string | undefined;
  private readonly reader: SocketReader;
  private inflight = 0;
  private inflightBytes = 0;
  private waiters: Array<() => void> = [];
  private readonly calls = new Set<Promise<void>>();
  private requests = 0;
  private closed = false;
  private stopping: { reason: NbdCloseReason; message: string } | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: ConnectionHost,
    private readonly socket: Socket,
    id: number,
  ) {
    this.id = id;
    this.remote = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : "unix";
    this.reader = new SocketReader(socket);
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    // Errors are reported through the reader (the loop ends); keep them from being thrown.
    socket.on("error", () => {});
  }

  /** A snapshot for events. */
  info(): NbdConnectionInfo {
    return {
      id: this.id,
      remote: this.remote,
      phase: this.phase,
      exportName: this.chosenName,
      structuredReplies: this.structured,
      transmissionFlags: this.flags,
    };
  }

  /** Whether the connection has entered the transmission phase (and is not closed). */
  get inTransmission(): boolean {
    return this.phase === "transmission";
  }

  /**
   * Serves the connection to its end: resolves (never rejects) when the socket is closed
   * and every backend call made for it has settled.
   */
  async run(): Promise<NbdCloseInfo> {
    let outcome: { reason: NbdCloseReason; message: string };
    this.handshakeTimer = setTimeout(() => {
      this.stop("timeout", `handshake not finished within ${this.host.limits.handshakeTimeoutMs} ms`, true);
    }, this.host.limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    try {
      this.socket.write(encodeGreeting(HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES));
      const entered = await this.handshake();
      clearTimeout(this.handshakeTimer);
      if (entered) {
        this.phase = "transmission";
        this.host.opened(this);
        outcome = await this.transmission();
      } else {
        outcome = { reason: "abort", message: "client aborted the handshake (NBD_OPT_ABORT)" };
      }
    } catch (err) {
      outcome = this.classify(err);
    } finally {
      clearTimeout(this.handshakeTimer);
    }
    await this.settle();
    if (outcome.reason === "disconnect" || outcome.reason === "abort") {
      await this.endSocket();
    } else {
      this.reader.stop();
      this.socket.destroy();
    }
    this.phase = "closed";
    return { ...outcome, requests: this.requests };
  }

  /**
   * Starts a graceful shutdown: options are refused with NBD_REP_ERR_SHUTDOWN, new requests
   * answered with ESHUTDOWN; once nothing is in flight the connection is closed.
   */
  beginShutdown(): void {
    void this.settle().then(() => {
      this.stop("shutdown", "server shutting down", false);
    });
  }

  /** Closes the connection now (replies still queued are dropped). */
  destroy(message: string): void {
    this.stop("shutdown", message, true);
  }

  private stop(reason: NbdCloseReason, message: string, hard: boolean): void {
    if (this.stopping === undefined) this.stopping = { reason, message };
    this.reader.stop();
    if (hard) this.socket.destroy();
    this.wake();
  }

  private classify(err: unknown): { reason: NbdCloseReason; message: string } {
    if (this.stopping) return this.stopping;
    if (err instanceof HardDisconnect) {
      this.host.log({ level: "warn", message: `closing connection: ${err.message}`, connection: this.id });
      return { reason: err.reason, message: err.message };
    }
    if (err instanceof ConnectionEndedError) {
      const mid = err.partial > 0 ? ` in the middle of a message (${err.partial} bytes of it received)` : "";
      const reason: NbdCloseReason = err.message.startsWith("connection error") ? "error" : "eof";
      if (mid) this.host.log({ level: "warn", message: `client disconnected${mid}`, connection: this.id });
      return { reason, message: `${err.message}${mid}` };
    }
    this.host.log({ level: "error", message: `connection failed: ${String(err)}`, connection: this.id, error: err });
    return { reason: "error", message: String(err) };
  }

  // ---------------------------------------------------------------- handshake

  /** Option haggling. Resolves true to enter transmission, false after NBD_OPT_ABORT. */
  private async handshake(): Promise<boolean> {
    const flagBytes = await this.reader.read(4);
    const clientFlags = new DataView(flagBytes.buffer, flagBytes.byteOffset, 4).getUint32(0);
    const known = ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES;
    if ((clientFlags & ~known) !== 0) {
      throw new HardDisconnect("protocol", `client sent unknown client flags 0x${clientFlags.toString(16)}`);
    }
    this.noZeroes = (clientFlags & ClientFlag.NO_ZEROES) !== 0;
    let count = 0;
    for (;;) {
      const header = await this.reader.read(OPTION_HEADER_SIZE);
      const v = new DataView(header.buffer, header.byteOffset, header.byteLength);
      if (v.getBigUint64(0) !== OPTION_MAGIC) {
        throw new HardDisconnect("protocol", "expected an option (IHAVEOPT magic), got something else");
      }
      const option = v.getUint32(8);
      const length = v.getUint32(12);
      if (++count > this.host.limits.maxOptions) {
        throw new HardDisconnect("protocol", `more than ${this.host.limits.maxOptions} options in one handshake`);
      }
      if (length > this.host.limits.maxOptionLength) {
        if (length > OPTION_DISCARD_LIMIT || option === Option.EXPORT_NAME) {
          throw new HardDisconnect(
            "protocol",
            `${optionName(option)} of ${length} bytes exceeds the limit of ${this.host.limits.maxOptionLength}`,
          );
        }
        await this.reader.skip(length);
        this.optionReply(
          option,
          Reply.ERR_TOO_BIG,
          `option data of ${length} bytes exceeds the limit of ${this.host.limits.maxOptionLength}`,
        );
        continue;
      }
      const data = await this.reader.read(length);
      if (this.host.shuttingDown && option !== Option.ABORT) {
        if (option === Option.EXPORT_NAME) throw new HardDisconnect("shutdown", "server shutting down");
        this.optionReply(option, Reply.ERR_SHUTDOWN, "server shutting down");
        continue;
      }
      switch (option) {
        case Option.EXPORT_NAME: {
          const name = decodeString(data);
          if (name === undefined || !this.matchesExport(name)) {
            throw new HardDisconnect("refused", `unknown export ${quote(name)} (NBD_OPT_EXPORT_NAME)`);
          }
          const refusal = this.host.claimClientSlot(this);
          if (refusal !== undefined) throw new HardDisconnect("refused", refusal);
          this.chosenName = name;
          this.flags = this.transmissionFlags();
          this.socket.write(encodeExportNameReply(this.host.backend.size, this.flags, this.noZeroes));
          return true;
        }
        case Option.ABORT:
          this.optionReply(option, Reply.ACK);
          return false;
        case Option.LIST:
          if (length !== 0) {
            this.optionReply(option, Reply.ERR_INVALID, "NBD_OPT_LIST takes no data");
          } else {
            this.socket.write(
              encodeOptionReply(option, Reply.SERVER, encodeServerReply(this.host.exportName, this.host.description ?? "")),
            );
            this.optionReply(option, Reply.ACK);
          }
          break;
        case Option.STRUCTURED_REPLY:
          if (length !== 0) {
            this.optionReply(option, Reply.ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data");
          } else {
            this.structured = true;
            this.optionReply(option, Reply.ACK);
          }
          break;
        case Option.INFO:
        case Option.GO:
          if (this.infoOrGo(option, data)) return true;
          break;
        case Option.STARTTLS:
          this.optionReply(option, Reply.ERR_UNSUP, "TLS is not supported by this server");
          break;
        default:
          this.optionReply(option, Reply.ERR_UNSUP, `${optionName(option)} is not supported by this server`);
      }
    }
  }

  /** NBD_OPT_INFO / NBD_OPT_GO. Returns true when GO succeeded (transmission starts). */
  private infoOrGo(option: number, data: Uint8Array): boolean {
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (data.length < 6) {
      this.optionReply(option, Reply.ERR_INVALID, `${optionName(option)} data too short (${data.length} bytes)`);
      return false;
    }
    const nameLength = v.getUint32(0);
    if (nameLength > data.length - 6) {
      this.optionReply(option, Reply.ERR_INVALID, `export name length ${nameLength} runs past the option data`);
      return false;
    }
    const requestCount = v.getUint16(4 + nameLength);
    if (6 + nameLength + 2 * requestCount !== data.length) {
      this.optionReply(
        option,
        Reply.ERR_INVALID,
        `${requestCount} information requests do not match the option length ${data.length}`,
      );
      return false;
    }
    const name = decodeString(data.subarray(4, 4 + nameLength));
    if (name === undefined) {
      this.optionReply(option, Reply.ERR_INVALID, "export name is not valid UTF-8 or is longer than 4096 bytes");
      return false;
    }
    const requested = new Set<number>();
    for (let i = 0; i < requestCount; i++) requested.add(v.getUint16(6 + nameLength + 2 * i));
    if (!this.matchesExport(name)) {
      const message = `unknown export ${quote(name)}; this server exports ${quote(this.host.exportName)}`;
      this.host.log({ level: "warn", message: `refused ${optionName(option)}: ${message}`, connection: this.id });
      this.optionReply(option, Reply.ERR_UNKNOWN, message);
      return false;
    }
    if (option === Option.GO) {
      const refusal = this.host.claimClientSlot(this);
      if (refusal !== undefined) {
        this.host.log({ level: "warn", message: `refused NBD_OPT_GO: ${refusal}`, connection: this.id });
        this.optionReply(option, Reply.ERR_POLICY, refusal);
        return false;
      }
    }
    const flags = this.transmissionFlags();
    const { minimum, preferred, maximum } = this.host.blockSizes;
    this.socket.write(encodeOptionReply(option, Reply.INFO, encodeInfoExport(this.host.backend.size, flags)));
    this.socket.write(encodeOptionReply(option, Reply.INFO, encodeInfoBlockSize(minimum, preferred, maximum)));
    if (requested.has(Info.NAME)) {
      this.socket.write(encodeOptionReply(option, Reply.INFO, encodeInfoString(Info.NAME, this.host.exportName)));
    }
    if (requested.has(Info.DESCRIPTION) && this.host.description !== undefined) {
      this.socket.write(
        encodeOptionReply(option, Reply.INFO, encodeInfoString(Info.DESCRIPTION, this.host.description)),
      );
    }
    this.optionReply(option, Reply.ACK);
    if (option !== Option.GO) return false;
    this.chosenName = name;
    this.flags = flags;
    return true;
  }

  /** The empty name selects the default export, which is the one export. */
  private matchesExport(name: string): boolean {
    return name === "" || name === this.host.exportName;
  }

  private transmissionFlags(): number {
    const b = this.host.backend;
    let f = TransmissionFlag.HAS_FLAGS;
    if (b.supports.flush) f |= TransmissionFlag.SEND_FLUSH;
    if (b.readOnly) {
      f |= TransmissionFlag.READ_ONLY;
    } else {
      if (b.supports.fua) f |= TransmissionFlag.SEND_FUA;
      if (b.supports.trim) f |= TransmissionFlag.SEND_TRIM;
      if (b.supports.writeZeroes) f |= TransmissionFlag.SEND_WRITE_ZEROES | TransmissionFlag.SEND_FAST_ZERO;
    }
    if (this.structured) f |= TransmissionFlag.SEND_DF;
    if (this.host.multiConn) f |= TransmissionFlag.CAN_MULTI_CONN;
    return f;
  }

  private optionReply(option: number, type: number, message?: string): void {
    const data = message === undefined ? undefined : truncateUtf8(message, MAX_STRING);
    this.socket.write(encodeOptionReply(option, type, data));
  }

  // ------------------------------------------------------------- transmission

  private async transmission(): Promise<{ reason: NbdCloseReason; message: string }> {
    for (;;) {
      const bytes = await this.reader.read(REQUEST_HEADER_SIZE);
      const header = decodeRequestHeader(bytes);
      if (header === undefined) {
        throw new HardDisconnect("protocol", "expected a request (NBD_REQUEST_MAGIC), got something else");
      }
      if (header.type === Command.DISC) {
        this.reader.stop();
        return { reason: "disconnect", message: "client disconnected (NBD_CMD_DISC)" };
      }
      const payload = header.type === Command.WRITE ? header.length : 0;
      const rejection = this.check(header);
      const dataBytes = rejection === undefined && (header.type === Command.READ || header.type === Command.WRITE);
      const cost = REQUEST_OVERHEAD + (dataBytes ? header.length : 0);
      await this.admit(cost);
      if (rejection !== undefined) {
        // The payload of a refused write is read and dropped, never held.
        if (payload > 0) await this.reader.skip(payload);
        this.requests++;
        this.sendError(header, rejection.errno, rejection.message, cost);
        continue;
      }
      const data = payload > 0 ? await this.reader.read(payload) : undefined;
      this.requests++;
      if (this.host.shuttingDown) {
        this.sendError(header, ErrorCode.ESHUTDOWN, "server shutting down", cost);
        continue;
      }
      const call = this.execute(header, Number(header.offset), data, cost);
      this.calls.add(call);
      void call.finally(() => this.calls.delete(call));
    }
  }

  /** Validates a request against the spec, the negotiated flags and the export. */
  private check(h: RequestHeader): Rejection | undefined {
    const name = commandName(h.type);
    const flags = this.flags;
    const supported: Record<number, boolean> = {
      [Command.READ]: true,
      [Command.WRITE]: true,
      [Command.FLUSH]: (flags & TransmissionFlag.SEND_FLUSH) !== 0,
      [Command.TRIM]: (flags & TransmissionFlag.SEND_TRIM) !== 0 || this.host.backend.readOnly === true,
      [Command.WRITE_ZEROES]: (flags & TransmissionFlag.SEND_WRITE_ZEROES) !== 0 || this.host.backend.readOnly === true,
    };
    if (supported[h.type] === undefined) return einval(`${name} is not supported by this server`);
    if (!supported[h.type]) return einval(`${name} was not advertised for this export`);
    let allowed = 0;
    if (flags & TransmissionFlag.SEND_FUA) allowed |= CommandFlag.FUA;
    if (h.type === Command.READ && flags & TransmissionFlag.SEND_DF) allowed |= CommandFlag.DF;
    if (h.type === Command.WRITE_ZEROES) allowed |= CommandFlag.NO_HOLE | CommandFlag.FAST_ZERO;
    if ((h.flags & ~allowed) !== 0) {
      return einval(`command flags 0x${h.flags.toString(16)} are not valid for ${name}`);
    }
    const writes = h.type === Command.WRITE || h.type === Command.TRIM || h.type === Command.WRITE_ZEROES;
    if (writes && this.host.backend.readOnly) {
      return { errno: ErrorCode.EPERM, message: `${name} on a read-only export` };
    }
    if (h.type === Command.FLUSH) {
      if (h.offset !== 0n || h.length !== 0) return einval("NBD_CMD_FLUSH must have zero offset and length");
      return undefined;
    }
    const size = BigInt(this.host.backend.size);
    if (h.offset > size || BigInt(h.length) > size - h.offset) {
      const message = `${name} of ${h.length} bytes at offset ${h.offset} is past the end of the export (${size} bytes)`;
      const full = h.type === Command.WRITE || h.type === Command.WRITE_ZEROES;
      return full ? { errno: ErrorCode.ENOSPC, message } : einval(message);
    }
    const { minimum, maximum } = this.host.blockSizes;
    if (minimum > 1 && (Number(h.offset % BigInt(minimum)) !== 0 || h.length % minimum !== 0)) {
      return einval(`${name} at offset ${h.offset}, length ${h.length} is not aligned to ${minimum} bytes`);
    }
    const fast = h.type === Command.WRITE_ZEROES && (h.flags & CommandFlag.FAST_ZERO) !== 0;
    // The maximum block size bounds what carries a payload (a write's data, a read's reply).
    // Trim and write-zeroes carry none: the spec asks clients to keep non-fast write-zeroes
    // within it, but real ones do not (libnbd's nbd_zero, so nbdfuse under a loop device's
    // BLKZEROOUT during mkfs), and the server SHOULD (not MUST) refuse; refusing breaks them
    // while accepting costs nothing, so both run up to the export size.
    const bounded = h.type === Command.READ || h.type === Command.WRITE;
    if (bounded && h.length > maximum) {
      return einval(`${name} of ${h.length} bytes exceeds the maximum block size ${maximum}`);
    }
    if (fast && !this.host.backend.supports.fastZero) {
      return { errno: ErrorCode.ENOTSUP, message: "fast zeroing is not supported by this export" };
    }
    return undefined;
  }

  private async execute(h: RequestHeader, offset: number, data: Uint8Array | undefined, cost: number): Promise<void> {
    const backend = this.host.backend;
    const scheduler = this.host.scheduler;
    const fua = (h.flags & CommandFlag.FUA) !== 0;
    const length = h.length;
    try {
      switch (h.type) {
        case Command.READ: {
          if (length === 0) return this.sendRead(h, offset, new Uint8Array(0), cost);
          const bytes = await scheduler.run("read", offset, length, () => backend.read(offset, length));
          if (bytes.length !== length) {
            throw new Error(`backend read returned ${bytes.length} bytes instead of ${length}`);
          }
          return this.sendRead(h, offset, bytes, cost);
        }
        case Command.WRITE:
          if (length > 0) await scheduler.run("write", offset, length, () => backend.write(offset, data!, { fua }));
          break;
        case Command.FLUSH:
          await scheduler.run("flush", 0, 0, () => backend.flush());
          break;
        case Command.TRIM:
          if (length > 0) await scheduler.run("write", offset, length, () => backend.trim(offset, length, { fua }));
          break;
        case Command.WRITE_ZEROES: {
          const noHole = (h.flags & CommandFlag.NO_HOLE) !== 0;
          const fast = (h.flags & CommandFlag.FAST_ZERO) !== 0;
          const options = fast ? { fua, noHole, fast } : { fua, noHole };
          if (length > 0) {
            await scheduler.run("write", offset, length, () => backend.writeZeroes(offset, length, options));
          }
          break;
        }
      }
      this.sendOk(h, cost);
    } catch (err) {
      const errno = errnoFor(err, h);
      const what = `${commandName(h.type)} at offset ${offset}, length ${length}`;
      const message = err instanceof Error ? err.message : String(err);
      const expected = err instanceof NbdBackendError;
      this.host.log({
        level: expected ? "warn" : "error",
        message: `${what} failed: ${message}`,
        connection: this.id,
        error: err,
      });
      this.sendError(h, errno, `${what} failed: ${message}`, cost);
    }
  }

  private async admit(cost: number): Promise<void> {
    const { maxInFlightRequests, maxInFlightBytes } = this.host.limits;
    while (
      this.inflight > 0 &&
      (this.inflight >= maxInFlightRequests || this.inflightBytes + cost > maxInFlightBytes)
    ) {
      if (this.closed || this.stopping) throw new ConnectionEndedError("connection closed", 0);
      await this.changed();
    }
    this.inflight++;
    this.inflightBytes += cost;
  }

  private release(cost: number): void {
    this.inflight--;
    this.inflightBytes -= cost;
    this.wake();
  }

  /** Resolves at the next release of capacity or close of the socket. */
  private changed(): Promise<void> {
    return new Promise<void>((wake) => this.waiters.push(wake));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private send(parts: Uint8Array[], cost: number): void {
    if (this.socket.destroyed || !this.socket.writable) {
      this.release(cost);
      return;
    }
    this.socket.cork();
    for (let i = 0; i < parts.length - 1; i++) this.socket.write(parts[i]!);
    this.socket.write(parts[parts.length - 1]!, () => this.release(cost));
    this.socket.uncork();
  }

  private sendOk(h: RequestHeader, cost: number): void {
    this.send([encodeSimpleReply(0, h.handle)], cost);
  }

  private sendRead(h: RequestHeader, offset: number, bytes: Uint8Array, cost: number): void {
    if (!this.structured) {
      this.send(bytes.length > 0 ? [encodeSimpleReply(0, h.handle), bytes] : [encodeSimpleReply(0, h.handle)], cost);
    } else if (bytes.length === 0) {
      this.send([encodeChunkHeader(REPLY_FLAG_DONE, ChunkType.NONE, h.handle, 0)], cost);
    } else {
      this.send([encodeOffsetDataHeader(REPLY_FLAG_DONE, h.handle, offset, bytes.length), bytes], cost);
    }
  }

  private sendError(h: RequestHeader, errno: number, message: string, cost: number): void {
    if (this.structured) {
      this.send([encodeErrorChunk(REPLY_FLAG_DONE, h.handle, errno, message)], cost);
    } else {
      this.send([encodeSimpleReply(errno, h.handle)], cost);
    }
  }

  /** Waits until every request has been executed and its reply handed to the kernel. */
  private async settle(): Promise<void> {
    while (this.calls.size > 0) await Promise.allSettled([...this.calls]);
    while (this.inflight > 0 && !this.closed) await this.changed();
  }

  private endSocket(): Promise<void> {
    this.reader.stop();
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.socket.end(() => {
        this.socket.destroy();
        resolve();
      });
      this.socket.once("close", () => resolve());
    });
  }
}

function einval(message: string): Rejection {
  return { errno: ErrorCode.EINVAL, message };
}

function quote(name: string | undefined): string {
  return name === undefined ? "(invalid)" : JSON.stringify(name);
}

/** A string field: undefined when it is not valid UTF-8 or longer than the spec allows. */
function decodeString(bytes: Uint8Array): string | undefined {
  if (bytes.length > MAX_STRING) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The NBD error for a failed backend call, kept to the values the spec allows for the command. */
function errnoFor(err: unknown, h: RequestHeader): number {
  let name: ErrnoName = "EIO";
  if (err instanceof NbdBackendError) {
    name = err.errno;
  } else if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "EDQUOT" || code === "EFBIG") name = "ENOSPC";
    else if (code === "EROFS" || code === "EPERM" || code === "EACCES") name = "EPERM";
  }
  const fastZero = h.type === Command.WRITE_ZEROES && (h.flags & CommandFlag.FAST_ZERO) !== 0;
  if (name === "ENOTSUP" && !fastZero) name = "EINVAL";
  if (name === "EOVERFLOW" && !(h.type === Command.READ && (h.flags & CommandFlag.DF) !== 0)) name = "EINVAL";
  if (name === "ENOMEM") name = "EIO";
  return ErrorCode[name];
}
