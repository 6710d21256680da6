import { createRequire } from "node:module";
import type { CliIo } from "./io.js";
import { humanBytes } from "./format.js";

/** A progress display; every method is a no-op when stderr is not a terminal. */
export interface Progress {
  update(done: number, payload?: Record<string, unknown>): void;
  /** Changes the total (a count first estimated, then known). */
  setTotal(total: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, setTotal() {}, stop() {} };

// cli-progress (~50 ms to load) is loaded only when a bar is drawn on a terminal.
const require = createRequire(import.meta.url);
let cliProgress: typeof import("cli-progress") | undefined;

/**
 * A progress bar on stderr, drawn only when stderr is a terminal (never in pipes, CI
 * logs or `--json` runs), so stdout stays clean data.
 */
export function startProgress(io: CliIo, options: { total: number; label: string; bytes?: boolean; quiet?: boolean }): Progress {
  if (options.quiet || io.stderr.isTTY !== true) return NONE;
  cliProgress ??= require("cli-progress") as typeof import("cli-progress");
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr as NodeJS.WritableStream,
      format: `${options.label} [{bar}] {percentage}% | {value}/{total}{extra}`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      formatValue: (v: number, _o: unknown, type: string) => (options.bytes && (type === "value" || type === "total") ? humanBytes(v) : String(v)),
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(options.total, 0, { extra: "" });
  return {
    update(done, payload) {
      bar.update(done, payload ?? {});
    },
    setTotal(total) {
      bar.setTotal(total);
    },
    stop() {
      bar.stop();
    },
  };
}
