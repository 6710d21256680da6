import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import { LwlogError } from "@lwlog/codec/core";
import { describeExit, findProgram, runProcess, toolEnv } from "@lwlog/scratch";
import { loopMount, requireMount } from "./mount.js";
import { JudgeErrorCodes, JudgeUnavailableError, type FsKind } from "./verdict.js";

/** What an image holds at a path. */
export interface FileFacts {
  /** The path asked about (absolute inside the file system, `/` first). */
  path: string;
  exists: boolean;
  type?: "file" | "directory" | "symlink" | "other";
  /** Bytes (of a file, or a symlink's target length, as `stat` says). */
  size?: number;
  /** sha256 of a regular file's content, in hex. */
  sha256?: string;
  /** A symlink's target. */
  target?: string;
}

/** A file could not be read from the image for a reason its own state does not explain (a tool failed, the file system would not mount read-only). */
export class FileReadError extends LwlogError {
  constructor(message: string, details: { file?: string; cause?: unknown } = {}) {
    super(JudgeErrorCodes.READ_FAILED, message, details);
  }
}

/**
 * Reads what `image` holds at each of `paths`: whether it exists, its type, size and (for a
 * regular file) the sha256 of its content. The image is read as it is: give it a view on
 * which the judge has already done the kernel's recovery (a journal not yet replayed is not
 * looked at).
 *
 * ext4 is read without a mount and without root (`debugfs -R stat`, `debugfs -R cat`); xfs
 * and btrfs through a read-only loop mount (root; `norecovery`/`rescue=nologreplay`, so
 * nothing is written), as xfs_db and btrfs restore cannot name a file's content by path as simply.
 */
export async function readFiles(image: string, fs: FsKind, paths: readonly string[], options: { signal?: AbortSignal } = {}): Promise<FileFacts[]> {
  const wanted = paths.map(normalize);
  if (fs === "ext4") {
    const out: FileFacts[] = [];
    for (const p of wanted) out.push(await debugfsFacts(image, p, options.signal));
    return out;
  }
  requireMount(`reading files from ${fs}`, fs === "btrfs" ? "; btrfs restore could read them without a mount, but lwlog does not use it" : "");
  const signal = options.signal ? { signal: options.signal } : {};
  let m = await loopMount(image, { type: fs, readOnly: true, options: fs === "xfs" ? ["norecovery", "nouuid"] : ["rescue=nologreplay"], ...signal });
  // Kernels before 5.11 spell btrfs's option without `rescue=`.
  if (!m.ok && fs === "btrfs") m = await loopMount(image, { type: fs, readOnly: true, options: ["nologreplay"], ...signal });
  if (!m.ok) throw new FileReadError(`cannot mount ${image} read-only to read its files: ${m.output.split("\n")[0]}`, { file: image });
  try {
    const out: FileFacts[] = [];
    for (const p of wanted) out.push(await mountedFacts(m.mount.dir, p));
    return out;
  } finally {
    await m.mount.release();
  }
}

function normalize(path: string): string {
  if (path.includes("\n") || path.includes("\0")) throw new RangeError(`a path with a newline or NUL cannot be looked up: ${JSON.stringify(path)}`);
  const parts = path.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.includes("..")) throw new RangeError(`a path with "..": ${JSON.stringify(path)} (give it from the file system's root)`);
  return "/" + parts.join("/");
}

/** `debugfs -R 'stat "PATH"'` then, for a regular file, `cat` hashed as it streams. */
async function debugfsFacts(image: string, path: string, signal: AbortSignal | undefined): Promise<FileFacts> {
  const debugfs = findProgram("debugfs");
  if (debugfs === undefined) throw new JudgeUnavailableError("reading files from ext4 needs debugfs: install e2fsprogs (Debian: apt-get install e2fsprogs)");
  const quoted = `"${path.replaceAll('"', '""')}"`;
  let stdout = "";
  const stat = await runProcess(debugfs, ["-R", `stat ${quoted}`, image], {
    env: toolEnv(),
    onStdout: (b) => (stdout += b.toString("utf8")),
    ...(signal ? { signal } : {}),
  });
  if (stat.aborted) throw new FileReadError("interrupted", { file: image });
  if (stat.code !== 0) throw new FileReadError(`debugfs stat ${path}: ${describeExit(stat)}: ${stat.output.trim()}`, { file: image });
  if (/File not found by ext2_lookup/.test(stat.output) || stdout.trim() === "") {
    if (/not found|ext2_lookup/i.test(stat.output)) return { path, exists: false };
    throw new FileReadError(`debugfs stat ${path} said nothing: ${stat.output.trim()}`, { file: image });
  }
  const type = /Type: (\S+)/.exec(stdout)?.[1];
  const size = /^User:.*\bSize: (\d+)/m.exec(stdout)?.[1];
  const facts: FileFacts = { path, exists: true, type: type === "regular" ? "file" : type === "directory" ? "directory" : type === "symlink" ? "symlink" : "other" };
  if (size !== undefined) facts.size = Number(size);
  if (facts.type === "symlink") {
    const fast = /Fast link dest: "(.*)"/.exec(stdout)?.[1];
    if (fast !== undefined) facts.target = fast;
  }
  if (facts.type !== "file") return facts;
  const hash = createHash("sha256");
  let bytes = 0;
  const cat = await runProcess(debugfs, ["-R", `cat ${quoted}`, image], {
    env: toolEnv(),
    onStdout: (b) => {
      hash.update(b);
      bytes += b.length;
    },
    ...(signal ? { signal } : {}),
  });
  if (cat.aborted) throw new FileReadError("interrupted", { file: image });
  if (cat.code !== 0) throw new FileReadError(`debugfs cat ${path}: ${describeExit(cat)}: ${cat.output.trim()}`, { file: image });
  if (facts.size !== undefined && bytes !== facts.size) {
    throw new FileReadError(`debugfs cat ${path} gave ${bytes} bytes where its inode says ${facts.size}: ${cat.output.trim()}`, { file: image });
  }
  facts.sha256 = hash.digest("hex");
  return facts;
}

/** lstat and hash through a mounted file system (asynchronously: the image may be a view this process serves). */
async function mountedFacts(root: string, path: string): Promise<FileFacts> {
  const full = join(root, path);
  let st;
  try {
    st = await lstat(full);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { path, exists: false };
    throw new FileReadError(`cannot stat ${path}: ${(err as Error).message}`, { cause: err });
  }
  const facts: FileFacts = { path, exists: true, type: st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "other", size: st.size };
  if (st.isSymbolicLink()) facts.target = await readlink(full);
  if (st.isFile()) {
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(full, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    facts.sha256 = hash.digest("hex");
  }
  return facts;
}
