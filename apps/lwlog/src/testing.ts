import { runCli } from "./cli.js";
import type { CliIo, OutStream } from "./io.js";

/** A stream that keeps what is written to it. */
export class MemoryStream implements OutStream {
  chunks: string[] = [];
  isTTY: boolean;
  columns = 120;
  constructor(isTTY = false) {
    this.isTTY = isTTY;
  }
  write(chunk: string | Uint8Array): boolean {
    this.chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
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

/** Runs `lwlog` in-process with captured output (not a TTY unless asked, NO_COLOR set). */
export async function runLwlog(
  argv: readonly string[],
  options: { tty?: boolean; env?: Record<string, string | undefined>; cwd?: string; onInterrupt?: CliIo["onInterrupt"] } = {},
): Promise<CliRun> {
  const stdout = new MemoryStream(options.tty ?? false);
  const stderr = new MemoryStream(options.tty ?? false);
  const io: CliIo = { stdout, stderr, env: { NO_COLOR: "1", ...options.env }, cwd: options.cwd ?? process.cwd() };
  if (options.onInterrupt) io.onInterrupt = options.onInterrupt;
  const code = await runCli(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}
