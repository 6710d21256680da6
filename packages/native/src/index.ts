/**
 * `@lwlog/native`: the Linux file and block I/O primitives Node.js 20 lacks (mmap,
 * copy_file_range, fallocate, BLKZEROOUT/BLKDISCARD/BLKGETSIZE64), from a small Node-API
 * addon, with a pure-JS fallback for every function so lwlog works (more slowly) where the
 * addon cannot be built.
 *
 * `native` is what lwlog uses: the addon when `build/Release/lwlog_native.node` loads, else
 * the fallbacks, and `native.available` says which (`native.reason` why not). Read once, at
 * load: `LWLOG_NO_NATIVE=1` forces the fallbacks. Mapping is opt-in, `LWLOG_MMAP=1`: measured on
 * the logs of bench/, mapped windows were no faster than 128 KiB reads (page-table setup and
 * cold cache lines cost what the copy saves), and a mapped file that another process truncates
 * raises SIGBUS. Without it, `mapRange` reads a copy (`maps` false). `LWLOG_NO_MMAP=1` wins over
 * `LWLOG_MMAP`. `LWLOG_NO_IO_URING=1` keeps `copyRanges` off io_uring (one system call a read and
 * a write, as where the kernel refuses io_uring).
 */
import { openAddon } from "./addon.js";
import { fallbackIo } from "./fallback.js";
import type { LinuxIo } from "./io.js";

export { NativeIoError, NativeRangeError } from "./errors.js";
export { MAX_MAP_LENGTH, type LinuxIo, type CopyState, type LoopBacking } from "./io.js";
export { addonPath, openAddon } from "./addon.js";

/** True when the environment variable is set to anything but "" or "0". */
function flag(name: string): boolean {
  const v = process.env[name];
  return v !== undefined && v !== "" && v !== "0";
}

function chooseIo(): LinuxIo {
  if (flag("LWLOG_NO_NATIVE")) return fallbackIo("LWLOG_NO_NATIVE is set");
  try {
    return openAddon({ mmap: flag("LWLOG_MMAP") && !flag("LWLOG_NO_MMAP"), ioUring: !flag("LWLOG_NO_IO_URING") });
  } catch (err) {
    return fallbackIo(err instanceof Error ? err.message : String(err));
  }
}

/** The primitives lwlog uses: the addon's, or the pure-JS fallbacks (see `available`). */
export const native: LinuxIo = chooseIo();

/** The pure-JS implementations, always (for tests, and to compare with the addon). */
export const fallback: LinuxIo = fallbackIo("the pure-JS fallbacks were asked for");
