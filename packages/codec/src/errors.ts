/**
 * Every error lwlog raises on purpose carries a string `code` (`LWLOG_…`) and, where
 * it applies, the file, the entry index and the byte offset it is about. Anything
 * that is not an `LwlogError` is a bug.
 */
export interface LwlogErrorDetails {
  /** Path of the file the error is about. */
  file?: string;
  /** 0-based index of the entry the error is about. */
  entry?: number;
  /** Byte offset in the file. */
  offset?: number;
  cause?: unknown;
}

/** Base class of every deliberate lwlog error. */
export class LwlogError extends Error {
  readonly code: string;
  readonly file?: string;
  readonly entry?: number;
  readonly offset?: number;

  constructor(code: string, message: string, details: LwlogErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    if (details.file !== undefined) this.file = details.file;
    if (details.entry !== undefined) this.entry = details.entry;
    if (details.offset !== undefined) this.offset = details.offset;
  }

  /**
   * The message with its location: `file: entry N at offset X: message`, on one line, its
   * control characters shown as escapes (`\n`, `\r`, `\u001b`): a message that quotes a
   * file's bytes or name must not break lines, move the cursor or colour the terminal.
   */
  describe(): string {
    const where: string[] = [];
    if (this.file !== undefined) where.push(this.file);
    if (this.entry !== undefined) where.push(`entry ${this.entry}`);
    if (this.offset !== undefined) where.push(`offset ${this.offset}`);
    return printableText(where.length > 0 ? `${where.join(": ")}: ${this.message}` : this.message);
  }
}

/** `text` on one line, its control characters but tab written as escapes (`\n`, `\r`, `\u001b`). */
export function printableText(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (ch) => (ch === "\n" ? "\\n" : ch === "\r" ? "\\r" : `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`));
}

/** The bytes of a log are not a valid dm-log-writes log (bad magic, truncated entry, …). */
export class LogFormatError extends LwlogError {}

/** A file could not be opened, read or written (missing, a directory, no permission, I/O error). */
export class LogIoError extends LwlogError {}

/** A value is out of the range the caller or the format allows. */
export class LogRangeError extends LwlogError {}

/** Format error codes, one per way a log can be wrong. */
export const ErrorCodes = {
  EMPTY_FILE: "LWLOG_EMPTY_FILE",
  TRUNCATED_SUPER: "LWLOG_TRUNCATED_SUPER",
  BAD_MAGIC: "LWLOG_BAD_MAGIC",
  BAD_VERSION: "LWLOG_BAD_VERSION",
  BAD_SECTOR_SIZE: "LWLOG_BAD_SECTOR_SIZE",
  TRUNCATED_HEADER: "LWLOG_TRUNCATED_HEADER",
  MISSING_ENTRIES: "LWLOG_MISSING_ENTRIES",
  DATA_PAST_EOF: "LWLOG_DATA_PAST_EOF",
  EMPTY_ENTRY: "LWLOG_EMPTY_ENTRY",
  MALFORMED_ENTRY: "LWLOG_MALFORMED_ENTRY",
  BAD_MARK: "LWLOG_BAD_MARK",
  BAD_DATA_LEN: "LWLOG_BAD_DATA_LEN",
  UNKNOWN_FLAGS: "LWLOG_UNKNOWN_FLAGS",
  ODD_ENTRY: "LWLOG_ODD_ENTRY",
  MARK_NO_NUL: "LWLOG_MARK_NO_NUL",
  SUPER_PADDING: "LWLOG_SUPER_PADDING",
  NOT_FOUND: "LWLOG_NOT_FOUND",
  IS_DIRECTORY: "LWLOG_IS_DIRECTORY",
  NOT_A_FILE: "LWLOG_NOT_A_FILE",
  PERMISSION: "LWLOG_PERMISSION",
  EXISTS: "LWLOG_EXISTS",
  IO: "LWLOG_IO",
  RANGE: "LWLOG_RANGE",
  ENTRY_TOO_LARGE: "LWLOG_ENTRY_TOO_LARGE",
  NO_SUCH_ENTRY: "LWLOG_NO_SUCH_ENTRY",
} as const;

/**
 * Turns a Node.js file-system error, or an `@lwlog/native` error (its `errno` is the name),
 * into a `LogIoError` that names the file.
 */
export function ioError(err: unknown, file: string, doing: string): LogIoError {
  const e = err as { code?: unknown; errno?: unknown } | undefined;
  const code = typeof e?.errno === "string" ? e.errno : e?.code;
  switch (code) {
    case "ENOENT":
      return new LogIoError(ErrorCodes.NOT_FOUND, `no such file`, { file, cause: err });
    case "EISDIR":
      return new LogIoError(ErrorCodes.IS_DIRECTORY, `is a directory, not a log`, { file, cause: err });
    case "EACCES":
    case "EPERM":
      return new LogIoError(ErrorCodes.PERMISSION, `permission denied while trying to ${doing}`, { file, cause: err });
    case "EEXIST":
      return new LogIoError(ErrorCodes.EXISTS, `already exists (refusing to overwrite it)`, { file, cause: err });
    default: {
      const msg = err instanceof Error ? err.message : String(err);
      return new LogIoError(ErrorCodes.IO, `cannot ${doing}: ${msg}`, { file, cause: err });
    }
  }
}
