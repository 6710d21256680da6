import { runCli } from "./cli.js";
import type { CliIo, OutStream } from "./io.js";

/** A stream that keeps what is written to it. */
export class MemoryStream implements OutStream {
  chunks: string[] = [];
  isTTY: boolean;
  columns = 120;
  closed = false;
  failure: Error | undefined;
  /** Characters written (kept or not). */
  written = 0;
  /**
   * @param closeAfter like a pipe whose reader exits (`| head -c N`), or a disk that fills
   *   (with `failure`): the stream keeps this many characters, then closes; the write that
   *   crosses the limit is kept whole (as a pipe's buffer would take it).
   */
  constructor(
    isTTY = false,
    private readonly closeAfter = Infinity,
    private readonly failWith?: Error,
  ) {
    this.isTTY = isTTY;
  }
  write(chunk: string | Uint8Array): boolean {
    if (this.closed) return true;
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    this.chunks.push(text);
    this.written += text.length;
    if (this.written >= this.closeAfter) {
      this.closed = true;
      this.failure = this.failWith;
    }
    return true;
  }
  get text(): string {
    return this.chunks.join("");
  }
}

/** What `runLwlog` returns. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `lwlog` in-process with captured output (not a TTY unless asked, NO_COLOR set).
 * `stdoutCloses` makes stdout close after that many characters, as a pipe into `head` does
 * (or fail then with `stdoutFailure`, as a full disk does).
 */
export async function runLwlog(
  argv: readonly string[],
  options: {
    tty?: boolean;
    env?: Record<string, string | undefined>;
    cwd?: string;
    onInterrupt?: CliIo["onInterrupt"];
    stdoutCloses?: number;
    stdoutFailure?: Error;
  } = {},
): Promise<CliRun> {
  const stdout = new MemoryStream(options.tty ?? false, options.stdoutCloses, options.stdoutFailure);
  const stderr = new MemoryStream(options.tty ?? false);
  const io: CliIo = { stdout, stderr, env: { NO_COLOR: "1", ...options.env }, cwd: options.cwd ?? process.cwd() };
  if (options.onInterrupt) io.onInterrupt = options.onInterrupt;
  const code = await runCli(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}
