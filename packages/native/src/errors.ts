import { getSystemErrorMap } from "node:util";

/**
 * A system call failed (a bad file descriptor, an I/O error, no space…). `code` is
 * `LWLOG_IO`, as on the codec's `LogIoError`; `errno` names the cause (`EBADF`, `EIO`, …)
 * and `syscall` the call that failed. Callers that know the file wrap it with the codec's
 * `ioError(err, file, doing)`.
 */
export class NativeIoError extends Error {
  readonly code = "LWLOG_IO";
  /** The errno name: `EBADF`, `ENOSPC`, … */
  readonly errno: string;
  /** The system call that failed: `mmap`, `copy_file_range`, `fallocate`, … */
  readonly syscall: string;

  constructor(message: string, errno: string, syscall: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NativeIoError";
    this.errno = errno;
    this.syscall = syscall;
  }
}

/**
 * An argument is out of range: a file descriptor, offset or length that is not a safe
 * non-negative integer `number` (a bigint is refused, never truncated), a range past the
 * end of the file for `mapRange`, or a view `unmap` did not come from `mapRange`.
 */
export class NativeRangeError extends RangeError {
  readonly code = "LWLOG_RANGE";

  constructor(message: string) {
    super(message);
    this.name = "NativeRangeError";
  }
}

let errnoNames: Map<number, [string, string]> | undefined;

/** "EBADF (bad file descriptor)" for a positive errno number. */
function describeErrno(errno: number): [string, string] {
  errnoNames ??= getSystemErrorMap();
  const known = errnoNames.get(-errno);
  return known ?? [`E${errno}`, "unknown error"];
}

/**
 * The error `op` should throw for `err`: the addon's `{errno: number, syscall}` errors and
 * Node's fs errors (`code: "EBADF"`) become `NativeIoError`s, the addon's `LWLOG_RANGE`
 * errors `NativeRangeError`s; anything else is returned as it is.
 */
export function toNativeError(err: unknown, op: string): unknown {
  if (err instanceof NativeIoError || err instanceof NativeRangeError || !(err instanceof Error)) return err;
  const e = err as Error & { errno?: unknown; code?: unknown; syscall?: unknown };
  if (e.code === "LWLOG_RANGE") return new NativeRangeError(`${op}: ${e.message}`);
  const syscall = typeof e.syscall === "string" ? e.syscall : op;
  if (typeof e.errno === "number" && e.errno > 0) {
    const [name, text] = describeErrno(e.errno);
    return new NativeIoError(`${op}: ${syscall} failed: ${name} (${text})`, name, syscall, { cause: err });
  }
  if (typeof e.code === "string" && /^E[A-Z0-9]+$/.test(e.code)) {
    const text = typeof e.errno === "number" ? (describeErrno(-e.errno)[1] ?? e.message) : e.message;
    return new NativeIoError(`${op}: ${syscall} failed: ${e.code} (${text})`, e.code, syscall, { cause: err });
  }
  return err;
}
