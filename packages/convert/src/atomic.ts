import { randomBytes } from "node:crypto";
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { ErrorCodes, LogIoError, ioError } from "@lwlog/codec/core";

/**
 * An output file written atomically: everything goes to a temporary file in the same
 * directory, which is renamed over the target only by `commit()`. `abort()` removes the
 * temporary file, so an error or an interrupt never leaves a half-written output.
 */
export class AtomicOutput {
  /** The path the caller asked for. */
  readonly target: string;
  /** The temporary file to write to until `commit()`. */
  readonly temp: string;
  private settled = false;

  private constructor(target: string, temp: string) {
    this.target = target;
    this.temp = temp;
  }

  /**
   * Prepares to write `target`. Refuses (`LWLOG_EXISTS`) when it exists and `overwrite`
   * is not set, and when it is a directory; the temporary file itself is created by the caller.
   */
  static prepare(target: string, options: { overwrite?: boolean } = {}): AtomicOutput {
    if (existsSync(target)) {
      if (statSync(target).isDirectory()) {
        throw new LogIoError(ErrorCodes.IS_DIRECTORY, "is a directory; give a file name for the output", { file: target });
      }
      if (!options.overwrite) {
        throw new LogIoError(ErrorCodes.EXISTS, "already exists (refusing to overwrite it; pass --force to replace it)", { file: target });
      }
    }
    const dir = dirname(target);
    if (!existsSync(dir)) throw new LogIoError(ErrorCodes.NOT_FOUND, "the output's directory does not exist", { file: target });
    const temp = join(dir, `.${basename(target)}.lwlog-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
    return new AtomicOutput(target, temp);
  }

  /** Renames the finished temporary file over the target. */
  commit(): void {
    if (this.settled) return;
    try {
      renameSync(this.temp, this.target);
      this.settled = true;
    } catch (err) {
      this.abort();
      throw ioError(err, this.target, "write the output");
    }
  }

  /**
   * `err` as the user should see it: an I/O error about the temporary file (it could not be
   * created or written) names the target instead, the file the user asked for.
   */
  named(err: unknown): unknown {
    if (!(err instanceof LogIoError) || err.file !== this.temp) return err;
    return new LogIoError(err.code, err.message, {
      file: this.target,
      ...(err.entry !== undefined ? { entry: err.entry } : {}),
      ...(err.offset !== undefined ? { offset: err.offset } : {}),
      cause: err.cause ?? err,
    });
  }

  /** Removes the temporary file (if any); the target is left as it was. */
  abort(): void {
    if (this.settled) return;
    this.settled = true;
    rmSync(this.temp, { force: true });
  }
}
