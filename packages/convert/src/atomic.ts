import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, realpathSync, renameSync, rmSync, statSync, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { ErrorCodes, LogIoError, ioError, sameFile, sharesStorage, sizeOf } from "@lwlog/codec/core";

/** Error codes of `AtomicOutput` beside the codec's (`LWLOG_EXISTS`, `LWLOG_IS_DIRECTORY`, …). */
export const OutputErrorCodes = {
  /** The output is one of the command's inputs (the same inode, the same device, or a loop device or partition over it). */
  TARGET_IS_LOG: "LWLOG_TARGET_IS_LOG",
  /** The output is a kind of file that cannot be written (a socket, a symbolic link to nothing). */
  OUTPUT_KIND: "LWLOG_OUTPUT_KIND",
} as const;

/** Options of `AtomicOutput.prepare`. */
export interface OutputOptions {
  /** Replace (or write into) an existing output; without it an existing output is refused (`LWLOG_EXISTS`). */
  overwrite?: boolean;
  /**
   * The command's inputs, as paths or open file descriptors (0 for stdin): an output that is
   * one of them is refused (`LWLOG_TARGET_IS_LOG`), `overwrite` or not, through hard and
   * symbolic links.
   */
  inputs?: readonly (string | number)[];
}

/** How the finished output reaches its target. */
type Delivery =
  /** Renamed over the target (a new file, or a regular file replaced). */
  | "rename"
  /** Copied into the target from the start, in place (a FIFO, a character or block device). */
  | "stream";

/**
 * An output file written atomically: everything goes to a temporary file, which `commit()`
 * renames over the target (a regular file, or a new one) or, for a target that must not be
 * replaced (a FIFO, a character or block device), copies into it in place. `abort()`
 * removes the temporary file, so an error or an interrupt never leaves a half-written
 * output, and never a byte written into a FIFO or device.
 *
 * `prepare` refuses, before anything is written: an output that is one of the inputs (even
 * with `overwrite`), a directory, a socket, a symbolic link to nothing, and an existing
 * output without `overwrite`. A symbolic link to a regular file is followed: the file it
 * points to is replaced and the link kept.
 */
export class AtomicOutput {
  /** The path the caller asked for. */
  readonly target: string;
  /** The temporary file to write to until `commit()`. */
  readonly temp: string;
  /** Where `commit()` puts the output: the target, or the regular file it links to. */
  private readonly destination: string;
  private readonly delivery: Delivery;
  private readonly kind: "file" | "fifo" | "char" | "block" | "new";
  private settled = false;

  private constructor(target: string, temp: string, destination: string, delivery: Delivery, kind: AtomicOutput["kind"]) {
    this.target = target;
    this.temp = temp;
    this.destination = destination;
    this.delivery = delivery;
    this.kind = kind;
  }

  /**
   * Prepares to write `target`, checking everything that can be checked before the work
   * starts (see the class). The temporary file itself is created by the caller, at `temp`.
   */
  static prepare(target: string, options: OutputOptions = {}): AtomicOutput {
    const stat = outputStat(target);
    if (stat === undefined) {
      const dir = dirname(target);
      if (!isDirectory(dir)) throw new LogIoError(ErrorCodes.NOT_FOUND, "the output's directory does not exist", { file: target });
      return new AtomicOutput(target, tempNextTo(target), target, "rename", "new");
    }
    if (stat.isDirectory()) throw new LogIoError(ErrorCodes.IS_DIRECTORY, "is a directory; give a file name for the output", { file: target });
    refuseInputs(target, options.inputs ?? [], stat);
    if (stat.isSocket()) {
      throw new LogIoError(OutputErrorCodes.OUTPUT_KIND, "is a socket, which cannot be written as a file; give a file name for the output", { file: target });
    }
    const kind = stat.isFile() ? "file" : stat.isFIFO() ? "fifo" : stat.isCharacterDevice() ? "char" : stat.isBlockDevice() ? "block" : undefined;
    if (kind === undefined) throw new LogIoError(OutputErrorCodes.OUTPUT_KIND, "is neither a file, a FIFO nor a device; give a file name for the output", { file: target });
    if (!options.overwrite) {
      const what = kind === "file" ? "pass --force to replace it" : `it is a ${KIND_NAMES[kind]}: pass --force to write into it`;
      throw new LogIoError(ErrorCodes.EXISTS, `already exists (refusing to overwrite it; ${what})`, { file: target });
    }
    if (kind === "file") {
      // Through a symbolic link, the file it points to is replaced (next to it), not the link.
      let real: string;
      try {
        real = realpathSync(target);
      } catch (err) {
        throw ioError(err, target, "resolve the output's path");
      }
      return new AtomicOutput(target, tempNextTo(real), real, "rename", "file");
    }
    if (kind === "block") closeSync(openDevice(target)); // in use (mounted): refused now, not after the work
    // Never renamed over: written in place at the end, from a temporary file where temporary files go.
    return new AtomicOutput(target, join(tmpdir(), `.lwlog-${process.pid}-${randomBytes(4).toString("hex")}.tmp`), target, "stream", kind);
  }

  /**
   * Puts the finished temporary file in place: renamed over the target, or (a FIFO, a
   * device) copied into it from the start and then removed. A FIFO's open waits for a
   * reader, as a shell redirection does; a block device must hold the whole output, or
   * nothing is written to it.
   */
  async commit(): Promise<void> {
    if (this.settled) return;
    try {
      if (this.delivery === "rename") renameSync(this.temp, this.destination);
      else await this.streamInto();
      this.settled = true;
    } catch (err) {
      this.abort();
      if (err instanceof LogIoError) throw err;
      throw ioError(err, this.target, "write the output");
    } finally {
      if (this.delivery === "stream") rmSync(this.temp, { force: true });
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

  private async streamInto(): Promise<void> {
    const src = openSync(this.temp, "r");
    let out: FileHandle | undefined;
    try {
      const size = fstatSync(src).size;
      // A FIFO's open blocks until a reader comes: off the main thread, so signals still run.
      out = this.kind === "block" ? await openDeviceHandle(this.target) : await open(this.target, constants.O_WRONLY);
      if (this.kind === "block") {
        const room = sizeOf(await out.stat(), out.fd);
        if (size > room) {
          throw new LogIoError(ErrorCodes.IO, `is a block device of ${room} bytes, too small for the ${size}-byte output: nothing was written to it`, { file: this.target });
        }
      }
      const buf = new Uint8Array(1 << 20);
      for (let done = 0; done < size; ) {
        const n = readSync(src, buf, 0, Math.min(buf.length, size - done), done);
        if (n === 0) break;
        for (let w = 0; w < n; ) w += (await out.write(buf, w, n - w)).bytesWritten;
        done += n;
      }
    } finally {
      await out?.close();
      closeSync(src);
    }
  }
}

const KIND_NAMES = { fifo: "FIFO", char: "character device", block: "block device" } as const;

/** `stat` of the output (following links), `undefined` when nothing is there; a link to nothing is refused. */
function outputStat(target: string): Stats | undefined {
  let link: Stats;
  try {
    link = lstatSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw ioError(err, target, "look at the output");
  }
  if (!link.isSymbolicLink()) return link;
  try {
    return statSync(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new LogIoError(OutputErrorCodes.OUTPUT_KIND, "is a symbolic link to a file that does not exist; give the path of the file itself", { file: target });
    }
    throw ioError(err, target, "look at the output");
  }
}

/**
 * Refuses (`LWLOG_TARGET_IS_LOG`) a file to be written that is one of the inputs, given as
 * paths or open file descriptors: the same inode (through hard and symbolic links), the
 * same device, or storage shared through a loop device or a partition (`sharesStorage`).
 * `stat` is the target's, when the caller has it; a missing target passes.
 */
export function refuseInputs(target: string, inputs: readonly (string | number)[], stat?: Stats): void {
  let st = stat;
  if (st === undefined) {
    try {
      st = statSync(target);
    } catch {
      return; // nothing there (yet): it cannot be an input
    }
  }
  for (const input of inputs) {
    let s: Stats;
    try {
      s = typeof input === "number" ? fstatSync(input) : statSync(input);
    } catch {
      continue; // an input that cannot be looked at is reported when it is read
    }
    if (sharesStorage(st, s)) {
      const name = typeof input === "number" ? (input === 0 ? "the standard input" : `file descriptor ${input}`) : input;
      const what = sameFile(st, s) ? `is the input itself (${name})` : `shares its storage with the input (${name}: a loop device or a partition over it)`;
      throw new LogIoError(OutputErrorCodes.TARGET_IS_LOG, `${what}; writing it would destroy the input: give another output`, { file: target });
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function tempNextTo(path: string): string {
  return join(dirname(path), `.${basename(path)}.lwlog-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
}

/** Opens a block device for writing with `O_EXCL`, so one in use (mounted) is refused. */
function openDevice(path: string): number {
  try {
    return openSync(path, constants.O_WRONLY | constants.O_EXCL);
  } catch (err) {
    throw deviceError(err, path);
  }
}

async function openDeviceHandle(path: string): Promise<FileHandle> {
  try {
    return await open(path, constants.O_WRONLY | constants.O_EXCL);
  } catch (err) {
    throw deviceError(err, path);
  }
}

function deviceError(err: unknown, path: string): LogIoError {
  if ((err as NodeJS.ErrnoException).code === "EBUSY") {
    return new LogIoError(ErrorCodes.IO, "is a block device in use (a mounted file system?); refusing to write the output onto it", { file: path, cause: err });
  }
  return ioError(err, path, "open the output");
}
