import { styleText } from "node:util";

/** A stream the CLI writes to: `process.stdout`, or a collector in tests. */
export interface OutStream {
  write(chunk: string | Uint8Array): boolean;
  once?(event: "drain", listener: () => void): unknown;
  isTTY?: boolean;
  columns?: number;
  /**
   * True once nothing more written can reach the reader: it went away (a closed pipe:
   * `lwlog dump LOG | head`), or writing failed (`failure`). Later writes are dropped, and
   * commands that stream stop early; the exit status stays the command's own.
   */
  readonly closed?: boolean;
  /** Why writing failed, when it was not the reader going away (a full disk, EIO): the run then exits 2. */
  readonly failure?: Error | undefined;
}

/**
 * Everything a command touches outside itself, injected so tests run commands
 * in-process: stdout for data, stderr for progress and messages.
 */
export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Called to stop a long-running command (SIGINT in the real CLI); tests trigger it themselves. */
  onInterrupt?: (handler: () => void) => () => void;
}

/**
 * `process.stdout` for the CLI: a write error (EPIPE when the reader of a pipe exits, ENOSPC
 * on a full disk) closes it instead of throwing from an event handler; writes after that are
 * dropped, and whoever waits for `drain` is released (it would never come).
 */
export class ProcessOutStream implements OutStream {
  closed = false;
  failure: NodeJS.ErrnoException | undefined;
  private readonly waiting = new Set<() => void>();

  constructor(private readonly stream: NodeJS.WriteStream) {
    stream.on("error", (err: NodeJS.ErrnoException) => this.close(err));
  }

  get isTTY(): boolean {
    return this.stream.isTTY === true;
  }

  get columns(): number {
    return this.stream.columns;
  }

  write(chunk: string | Uint8Array): boolean {
    if (this.closed) return true;
    return this.stream.write(chunk);
  }

  once(_event: "drain", listener: () => void): this {
    if (this.closed) {
      queueMicrotask(listener);
      return this;
    }
    const done = () => {
      this.stream.off("drain", done);
      this.waiting.delete(done);
      listener();
    };
    this.waiting.add(done);
    this.stream.once("drain", done);
    return this;
  }

  private close(err: NodeJS.ErrnoException): void {
    if (!this.closed) {
      this.closed = true;
      if (err.code !== "EPIPE") this.failure = err;
    }
    for (const done of [...this.waiting]) done();
  }
}

/** The real process's I/O. */
export function processIo(): CliIo {
  // Nothing can be said about a stderr that fails (its reader gone, a full disk): ignore it.
  process.stderr.on("error", () => undefined);
  return {
    stdout: new ProcessOutStream(process.stdout),
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    onInterrupt(handler) {
      process.on("SIGINT", handler);
      process.on("SIGTERM", handler);
      return () => {
        process.off("SIGINT", handler);
        process.off("SIGTERM", handler);
      };
    },
  };
}

/**
 * Writes to a stream with backpressure and batching: text is gathered into ~64 KiB
 * chunks, and `flush`/`line` wait for `drain` when the stream asks for it.
 */
export class Output {
  private parts: string[] = [];
  private size = 0;
  constructor(readonly stream: OutStream) {}

  /** True once the stream is closed (see `OutStream.closed`): a command that streams stops then. */
  get closed(): boolean {
    return this.stream.closed === true;
  }

  /** Queues text; returns a promise only when the batch was written and the stream is full. */
  write(text: string): Promise<void> | undefined {
    if (this.stream.closed === true) return undefined;
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 1 << 16) return this.flush();
    return undefined;
  }

  /** Queues one line. */
  line(text = ""): Promise<void> | undefined {
    return this.write(text + "\n");
  }

  /** Writes everything queued; resolves when the stream can take more. */
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = this.parts.join("");
    this.parts = [];
    this.size = 0;
    if (!this.stream.write(text) && this.stream.once) {
      await new Promise<void>((resolve) => this.stream.once!("drain", resolve));
    }
  }
}

/** True when colour may be used on `stream`: a terminal, and `NO_COLOR` not set (https://no-color.org). */
export function useColor(io: CliIo, stream: OutStream = io.stdout): boolean {
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== "") return false;
  if (io.env.FORCE_COLOR !== undefined && io.env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true;
}

type Style = Parameters<typeof styleText>[0];

/** Colouring functions for a stream; each returns its text unchanged when colour is off. */
export function palette(io: CliIo, stream: OutStream = io.stdout): Record<"red" | "green" | "yellow" | "cyan" | "dim" | "bold", (s: string) => string> {
  const on = useColor(io, stream);
  // `validateStream: false`: whether to colour is decided above, for the injected stream;
  // by default Node 20.20 would look at the real process.stdout instead.
  const mk = (style: Style) => (s: string) => (on ? styleText(style, s, { validateStream: false } as never) : s);
  return { red: mk("red"), green: mk("green"), yellow: mk("yellow"), cyan: mk("cyan"), dim: mk("dim"), bold: mk("bold") };
}
