import { ErrorCodes, LogFormatError } from "@lwlog/codec/core";

/**
 * The errors a crashed writer's log gives (declared entries missing or cut short), with
 * `hint` (how to get at the entries that are there) added to the message; other errors as they are.
 */
export function withRepairHint(err: unknown, hint: string): unknown {
  if (
    err instanceof LogFormatError &&
    (err.code === ErrorCodes.MISSING_ENTRIES || err.code === ErrorCodes.TRUNCATED_HEADER || err.code === ErrorCodes.DATA_PAST_EOF || err.code === ErrorCodes.EMPTY_ENTRY)
  ) {
    return new LogFormatError(err.code, `${err.message} (${hint})`, {
      ...(err.file !== undefined ? { file: err.file } : {}),
      ...(err.entry !== undefined ? { entry: err.entry } : {}),
      ...(err.offset !== undefined ? { offset: err.offset } : {}),
    });
  }
  return err;
}
