import { styleText } from "node:util";

/** A stream the CLI writes to: `process.stdout`, or a collector in tests. */
export interface OutStream {
  write(chunk: string | Uint8Array): boolean;
  once?(event: "drain", listener: () => void): unknown;
  isTTY?: boolean;
  columns?: number;
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

/** The real process's I/O. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
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

  /** Queues text; returns a promise only when the batch was written and the stream is full. */
  write(text: string): Promise<void> | undefined {
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
