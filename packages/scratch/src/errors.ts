import { LogIoError, type LwlogErrorDetails } from "@lwlog/codec/core";

/** Error codes of `@lwlog/scratch`. */
export const ScratchErrorCodes = {
  /** The strategy asked for cannot work here (no reflink on the scratch file system, no FUSE). */
  UNSUPPORTED: "LWLOG_VIEW_UNSUPPORTED",
  /** A program the view or mount needs is not installed. */
  TOOL_MISSING: "LWLOG_TOOL_MISSING",
  /** Making, exposing or removing a view failed (a clone, a copy, nbdfuse, a loop device). */
  VIEW_FAILED: "LWLOG_VIEW_FAILED",
  /** A loop device or mount needs privileges this process lacks (root, CAP_SYS_ADMIN). */
  NOT_PERMITTED: "LWLOG_NOT_PERMITTED",
} as const;

/**
 * A scratch view or mount could not be made, exposed or removed: a problem of this machine
 * (tools, privileges, space), not of the image judged, so a `LogIoError` (exit 2 in the CLI).
 */
export class ScratchError extends LogIoError {
  constructor(code: string, message: string, details: LwlogErrorDetails = {}) {
    super(code, message, details);
  }
}
