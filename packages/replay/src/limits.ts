import { closeSync, constants, ftruncateSync, openSync, readFileSync, statfsSync, statSync } from "node:fs";
import { dirname } from "node:path";

/** The largest size a regular file may have, and what sets it. */
export interface FileSizeLimit {
  bytes: number;
  /** `rlimit`: the process's RLIMIT_FSIZE (`ulimit -f`); `filesystem`: the file system's own maximum. */
  by: "rlimit" | "filesystem";
}

/** O_TMPFILE (Linux 3.11+; Node has no constant for it): an unnamed file in a directory. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;
const MAX = Number.MAX_SAFE_INTEGER;
const probed = new Map<string, number | null>();

/**
 * The largest size a regular file at `path` (existing or not) may be given, as far as it
 * can be told without changing anything the user sees: the smaller of RLIMIT_FSIZE (from
 * /proc/self/limits) and the file system's maximum, found by growing an unnamed O_TMPFILE
 * in the same directory (sparse: it costs no blocks, and vanishes on close). `undefined`
 * when neither can be told (no O_TMPFILE on that file system, no /proc): then a size past
 * the limit fails when it is set (EFBIG), and the caller must order its steps so that a
 * failure changes nothing.
 *
 * Probing only where O_TMPFILE works is deliberate: those file systems (ext2/3/4, xfs,
 * btrfs, tmpfs, f2fs…) store files sparsely, so growing the probe allocates nothing; a
 * named probe file on vfat would write zeros.
 */
export function fileSizeLimit(path: string): FileSizeLimit | undefined {
  const rlimit = fsizeRlimit();
  const fs = fileSystemLimit(path, rlimit);
  if (fs !== undefined && (rlimit === undefined || fs < rlimit)) return { bytes: fs, by: "filesystem" };
  if (rlimit !== undefined) return { bytes: rlimit, by: "rlimit" };
  return undefined;
}

/** A sentence naming the limit, for messages. */
export function describeLimit(limit: FileSizeLimit): string {
  return limit.by === "rlimit"
    ? `past the ${limit.bytes}-byte file size limit of this process (RLIMIT_FSIZE, ulimit -f)`
    : `past the largest file its file system can hold (${limit.bytes} bytes)`;
}

/** RLIMIT_FSIZE's soft limit in bytes, `undefined` when unlimited or unknown. */
function fsizeRlimit(): number | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
  const m = /^Max file size\s+(\S+)/m.exec(text);
  if (m === null || !/^[0-9]+$/.test(m[1]!)) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The file system's maximum file size (within 2^53 − 1), by bisection on an O_TMPFILE:
 * one ftruncate when it takes 2^53 − 1 (xfs, btrfs, tmpfs), about 53 on ext4. A limit
 * from RLIMIT_FSIZE would show in the probe too, so the probe stops below it and reports
 * only what the file system allows. Cached by device and file system (its type, block size
 * and size tell a new file system on a reused device apart).
 */
function fileSystemLimit(path: string, rlimit: number | undefined): number | undefined {
  let dir = path;
  let dev: number;
  try {
    const s = statSync(path);
    if (!s.isDirectory()) dir = dirname(path);
    dev = s.isDirectory() ? s.dev : statSync(dir).dev;
  } catch {
    dir = dirname(path);
    try {
      dev = statSync(dir).dev;
    } catch {
      return undefined;
    }
  }
  let key: string;
  try {
    const f = statfsSync(dir);
    key = `${dev}:${f.type}:${f.bsize}:${f.blocks}`;
  } catch {
    return undefined;
  }
  const known = probed.get(key);
  if (known !== undefined) return known ?? undefined;
  let fd: number;
  try {
    fd = openSync(dir, O_TMPFILE | constants.O_RDWR, 0o600);
  } catch {
    return undefined; // no O_TMPFILE here (or no write permission): not cached, it may be a permission matter
  }
  let limit: number | null;
  try {
    const grows = (n: number): boolean => {
      try {
        ftruncateSync(fd, n);
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EFBIG" || code === "EINVAL") return false;
        throw err;
      }
    };
    // Past RLIMIT_FSIZE every size fails: probe below it, and a file system that holds at
    // least that much is not the limit.
    const top = rlimit !== undefined ? Math.min(MAX, rlimit) : MAX;
    if (grows(top)) {
      limit = rlimit !== undefined && top === rlimit ? null : MAX;
    } else {
      let lo = 0; // grows
      let hi = top; // does not
      while (hi - lo > 1) {
        const mid = lo + Math.floor((hi - lo) / 2);
        if (grows(mid)) lo = mid;
        else hi = mid;
      }
      limit = lo;
    }
  } catch {
    limit = null;
  } finally {
    closeSync(fd);
  }
  if (limit === null) return undefined;
  probed.set(key, limit);
  return limit;
}
