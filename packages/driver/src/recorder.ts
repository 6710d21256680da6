import { rmSync } from "node:fs";
import { LogRangeError, LwlogError } from "@lwlog/codec/core";
import { NbdBackendError, NbdServer, type NbdListen } from "@lwlog/nbd";
import { ControlServer, claimSocketPath, type ControlReply, type ControlRequest } from "./control.js";
import { LoggingDevice, type DeviceStatus, type LoggingDeviceOptions } from "./device.js";

/** The mark a recorder appends when it stops (the kernel's is `dm-log-writes-end`). */
export const END_MARK = "lwlog-end";

/** The NBD port clients try when none is given (IANA-registered for NBD). */
export const NBD_PORT = 10809;

/** Options of `Recorder.start`. */
export interface RecorderOptions extends LoggingDeviceOptions {
  /** Where the NBD server listens (default 127.0.0.1:10809). */
  listen?: NbdListen;
  /** The control socket's path (default `<log>.ctl`). */
  control?: string;
  /** The export's name (default ""). */
  exportName?: string;
  /** One line for each thing worth telling the user: clients connecting, errors. */
  onMessage?: (message: { level: "info" | "warn" | "error"; text: string }) => void;
}

/** What `status` reports: the device's status, plus the server's. */
export interface RecorderStatus extends DeviceStatus {
  uri: string;
  control: string;
  /** Clients in the transmission phase now. */
  clients: number;
  /** When recording started (ISO 8601). */
  startedAt: string;
}

/**
 * A running recorder: a `LoggingDevice` served over NBD (`@lwlog/nbd`), and a control socket
 * for marks and status. Clients are served together with one shared order (the device
 * orders every request, and the server's scheduler orders them across connections).
 */
export class Recorder {
  readonly device: LoggingDevice;
  readonly server: NbdServer;
  readonly control: ControlServer;
  readonly startedAt = new Date().toISOString();
  private stopping: Promise<DeviceStatus> | undefined;

  private constructor(device: LoggingDevice, server: NbdServer, control: ControlServer) {
    this.device = device;
    this.server = server;
    this.control = control;
  }

  /**
   * Claims the control socket (refusing a second recorder on it), opens the device, then
   * listens for NBD clients. If listening fails, a log created here is removed again.
   */
  static async start(options: RecorderOptions): Promise<Recorder> {
    const say = options.onMessage ?? (() => undefined);
    let recorder: Recorder | undefined;
    const control = await ControlServer.listen(options.control ?? `${options.log}.ctl`, (request) => {
      if (!recorder) return Promise.resolve({ ok: false, error: { code: "LWLOG_STARTING", message: "the recorder is still starting" } });
      return recorder.answer(request);
    });
    let device: LoggingDevice | undefined;
    try {
      device = await LoggingDevice.open({
        ...options,
        trace: (event) => {
          if (event.type === "failed") say({ level: "error", text: `logging stopped: ${event.error.describe()}; every write now fails with EIO` });
          options.trace?.(event);
        },
      });
      const server = new NbdServer({
        backend: device,
        name: options.exportName ?? "",
        description: `lwlog record: ${options.image}, logged to ${options.log}`,
        listen: options.listen ?? { host: "127.0.0.1", port: NBD_PORT },
        multiClient: "share",
      });
      server.on("open", (c) => say({ level: "info", text: `client ${c.id} connected (${c.remote})` }));
      server.on("close", (c, info) => {
        if (c.phase !== "handshake" || info.reason !== "eof") say({ level: "info", text: `connection ${c.id} closed: ${info.message}` });
      });
      server.on("log", (e) => say({ level: e.level, text: e.connection !== undefined ? `connection ${e.connection}: ${e.message}` : e.message }));
      if (options.listen && "socket" in options.listen) await claimSocketPath(options.listen.socket, "the NBD socket");
      await server.listen();
      recorder = new Recorder(device, server, control);
      return recorder;
    } catch (err) {
      if (device) {
        const created = !options.append && device.status().entries === 0;
        await device.close().catch(() => undefined);
        if (created) rmSync(options.log, { force: true });
      }
      await control.close();
      if (err instanceof LwlogError) throw err;
      const e = err as NodeJS.ErrnoException;
      if (e.code === "EADDRINUSE" || e.code === "EACCES" || e.code === "EADDRNOTAVAIL") {
        throw new LogRangeError("LWLOG_LISTEN", `cannot listen on ${describeListen(options.listen)}: ${e.message}`);
      }
      throw err;
    }
  }

  /** The NBD URI clients connect to. */
  get uri(): string {
    return this.server.uri;
  }

  /** The device's status with the server's. */
  status(): RecorderStatus {
    return { ...this.device.status(), uri: this.uri, control: this.control.path, clients: this.server.clientCount, startedAt: this.startedAt };
  }

  /** Appends a mark (see `LoggingDevice.mark`) and returns its entry index. */
  mark(name: string): Promise<number> {
    return this.device.mark(name);
  }

  /**
   * Stops: the server finishes the requests in flight and closes every connection; then the
   * device makes image and log durable, appends the `lwlog-end` mark and declares every
   * entry; then the control socket is removed. Returns the final status.
   */
  stop(): Promise<DeviceStatus> {
    this.stopping ??= (async () => {
      try {
        await this.server.close();
        return await this.device.close({ endMark: END_MARK });
      } finally {
        await this.control.close();
      }
    })();
    return this.stopping;
  }

  private async answer(request: ControlRequest): Promise<ControlReply> {
    if (request.op === "status") return { ok: true, status: this.status() };
    if (this.stopping) return { ok: false, error: { code: "LWLOG_STOPPING", message: "the recorder is stopping" } };
    try {
      return { ok: true, entry: await this.mark(request.name) };
    } catch (err) {
      if (err instanceof NbdBackendError) {
        const code = err.errno === "ESHUTDOWN" ? "LWLOG_STOPPING" : "LWLOG_RECORDER_FAILED";
        return { ok: false, error: { code, message: err.message } };
      }
      throw err;
    }
  }
}

function describeListen(listen: NbdListen | undefined): string {
  if (listen && "socket" in listen) return listen.socket;
  return `${listen?.host ?? "127.0.0.1"}:${listen?.port ?? NBD_PORT}`;
}
