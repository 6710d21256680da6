import { lstatSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { LogIoError, LwlogError } from "@lwlog/codec/core";

/**
 * The control channel of a running recorder: a Unix socket speaking one JSON object per
 * line. docs/driver.md documents it for other tools:
 *
 *   → {"op":"mark","name":"after-mkfs"}     ← {"ok":true,"entry":42}
 *   → {"op":"status"}                       ← {"ok":true,"status":{…}}
 *   ← {"ok":false,"error":{"code":"LWLOG_BAD_MARK","message":"…"}}
 *
 * A connection may send several requests; replies come in the same order.
 */
export type ControlRequest = { op: "mark"; name: string } | { op: "status" };

/** A reply on the control channel. */
export type ControlReply =
  | { ok: true; entry: number }
  | { ok: true; status: unknown }
  | { ok: false; error: { code: string; message: string } };

/** Error codes of the control channel. */
export const ControlErrorCodes = {
  /** No recorder listens on the control socket (missing, stale, or not a socket). */
  NO_RECORDER: "LWLOG_NO_RECORDER",
  /** Another recorder already listens on the control socket. */
  IN_USE: "LWLOG_CONTROL_IN_USE",
  /** The request or the reply is not what the protocol says. */
  PROTOCOL: "LWLOG_CONTROL_PROTOCOL",
} as const;

/** Longest request or reply line accepted. */
const MAX_LINE = 64 * 1024;
/** Longest path a Unix socket address holds on Linux (`sun_path` less its NUL). */
const MAX_SOCKET_PATH = 107;

/** Answers one control request (the recorder's side). */
export type ControlHandler = (request: ControlRequest) => Promise<ControlReply>;

/**
 * Reads newline-terminated lines from a socket, at most `MAX_LINE` bytes each.
 * Invariant: `pending` holds the bytes after the last newline seen.
 */
function onLines(socket: Socket, onLine: (line: string) => void, onTooLong: () => void): void {
  let pending = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      onLine(line);
    }
    if (pending.length > MAX_LINE) {
      pending = "";
      onTooLong();
    }
  });
}

/** Checks a parsed request against the protocol. */
function parseRequest(line: string): ControlRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "the request is not JSON";
  }
  if (typeof value !== "object" || value === null) return "the request is not a JSON object";
  const r = value as Record<string, unknown>;
  if (r.op === "status") return { op: "status" };
  if (r.op === "mark") {
    if (typeof r.name !== "string") return 'a mark request needs "name" (a string)';
    return { op: "mark", name: r.name };
  }
  return `unknown op ${JSON.stringify(r.op)} (mark, status)`;
}

function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH) {
    throw new LogIoError(
      ControlErrorCodes.PROTOCOL,
      `the control socket path is ${bytes} bytes, longer than the ${MAX_SOCKET_PATH} a Unix socket allows (choose a shorter --control path)`,
      { file: path },
    );
  }
}

/** The recorder's end of the control channel. */
export class ControlServer {
  readonly path: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private closed = false;

  private constructor(path: string, server: Server) {
    this.path = path;
    this.server = server;
  }

  /**
   * Listens on `path`. A socket file left by a recorder that died is replaced; a live
   * recorder there, or a file that is not a socket, is refused (`LWLOG_CONTROL_IN_USE`).
   */
  static async listen(path: string, handler: ControlHandler): Promise<ControlServer> {
    checkSocketPath(path);
    await claimSocketPath(path, "the control socket");
    const server = createServer((socket) => control.serve(socket, handler));
    const control = new ControlServer(path, server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "EADDRINUSE") reject(new LogIoError(ControlErrorCodes.IN_USE, "another process is listening on the control socket", { file: path }));
        else reject(new LogIoError(ControlErrorCodes.PROTOCOL, `cannot listen on the control socket: ${err.message}`, { file: path, cause: err }));
      });
      server.listen(path, () => resolve());
    });
    return control;
  }

  /** Stops listening, drops open control connections and removes the socket file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone (server.close removes it on some platforms).
    }
  }

  private serve(socket: Socket, handler: ControlHandler): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    // Replies go out in request order even when a mark takes longer than a status.
    let queue: Promise<void> = Promise.resolve();
    const send = (reply: ControlReply): void => {
      if (!socket.destroyed) socket.write(JSON.stringify(reply) + "\n");
    };
    onLines(
      socket,
      (line) => {
        if (line.trim() === "") return;
        const request = parseRequest(line);
        queue = queue.then(async () => {
          if (typeof request === "string") return send({ ok: false, error: { code: ControlErrorCodes.PROTOCOL, message: request } });
          try {
            send(await handler(request));
          } catch (err) {
            const code = err instanceof LwlogError ? err.code : ControlErrorCodes.PROTOCOL;
            const message = err instanceof LwlogError ? err.message : err instanceof Error ? err.message : String(err);
            send({ ok: false, error: { code, message } });
          }
        });
      },
      () => {
        send({ ok: false, error: { code: ControlErrorCodes.PROTOCOL, message: `request longer than ${MAX_LINE} bytes` } });
        socket.end();
      },
    );
  }
}

/**
 * Makes `path` free for a Unix socket server: a socket file nobody listens on (left by a
 * process that died) is removed; a live socket, or a file that is not a socket, is refused
 * with `LWLOG_CONTROL_IN_USE`.
 */
export async function claimSocketPath(path: string, what: string): Promise<void> {
  let kind: "none" | "socket" | "other";
  try {
    kind = lstatSync(path).isSocket() ? "socket" : "other";
  } catch {
    kind = "none";
  }
  if (kind === "other") {
    throw new LogIoError(ControlErrorCodes.IN_USE, `exists and is not a socket: refusing to replace it with ${what}`, { file: path });
  }
  if (kind === "socket") {
    if (await isAlive(path)) throw new LogIoError(ControlErrorCodes.IN_USE, `another process is listening on ${what}`, { file: path });
    unlinkSync(path);
  }
}

/** True when something accepts connections on the Unix socket `path`. */
function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * Sends one request to the recorder listening on `path` and returns its reply. Throws
 * `LogIoError` (`LWLOG_NO_RECORDER`) when no recorder answers there.
 */
export function controlRequest(path: string, request: ControlRequest, timeoutMs = 30_000): Promise<ControlReply> {
  checkSocketPath(path);
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let settled = false;
    const finish = (err: Error | undefined, reply?: ControlReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(
      () => finish(new LogIoError(ControlErrorCodes.NO_RECORDER, `the recorder did not answer within ${timeoutMs / 1000} s`, { file: path })),
      timeoutMs,
    );
    socket.once("error", (err: NodeJS.ErrnoException) => {
      const why =
        err.code === "ENOENT"
          ? "no recorder is running here (no such control socket)"
          : err.code === "ECONNREFUSED"
            ? "no recorder is running here (the control socket is stale)"
            : err.code === "ENOTSOCK"
              ? "not a control socket"
              : `cannot reach the recorder: ${err.message}`;
      finish(new LogIoError(ControlErrorCodes.NO_RECORDER, why, { file: path, cause: err }));
    });
    socket.once("connect", () => socket.write(JSON.stringify(request) + "\n"));
    onLines(
      socket,
      (line) => {
        try {
          const reply = JSON.parse(line) as ControlReply;
          if (typeof reply !== "object" || reply === null || typeof reply.ok !== "boolean") throw new Error("not a reply");
          finish(undefined, reply);
        } catch {
          finish(new LogIoError(ControlErrorCodes.PROTOCOL, "the control socket answered something that is not a recorder's reply", { file: path }));
        }
      },
      () => finish(new LogIoError(ControlErrorCodes.PROTOCOL, "the control socket's reply is too long", { file: path })),
    );
    socket.once("end", () => finish(new LogIoError(ControlErrorCodes.PROTOCOL, "the recorder closed the control connection without answering", { file: path })));
  });
}
