import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdtemp, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
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
  /** A regular file's bytes, when it has at most `FILE_CONTENT_LIMIT` of them. */
  content?: Uint8Array;
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
 * ext4 is read without a mount and without root, in one `debugfs` session for all paths; xfs
 * and btrfs through a read-only loop mount (root; `norecovery`/`rescue=nologreplay`, so
 * nothing is written), as xfs_db and btrfs restore cannot name a file's content by path as simply.
 */
export async function readFiles(image: string, fs: FsKind, paths: readonly string[], options: { signal?: AbortSignal } = {}): Promise<FileFacts[]> {
  const wanted = paths.map(normalize);
  if (fs === "ext4") return debugfsFacts(image, wanted, options.signal);
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

/** Regular files up to this size come back with their bytes, so a difference can be placed. */
export const FILE_CONTENT_LIMIT = 1 << 20;

/**
 * One `debugfs -f CMDFILE` session for all of `paths`: for each, `stat "PATH"` then
 * `dump "PATH" "DIR/i"` into a private temporary directory (binary-safe: the bytes never pass
 * through a pipe shared with text), then each regular file's dump is hashed and removed.
 *
 * debugfs echoes each command it runs as `debugfs: COMMAND` on standard output, and a stat
 * prints nothing there when the lookup fails. Path i's stat output is what lies between the
 * echo of `stat` i and the echo of `dump` i; the latter names the temporary directory, which
 * nothing in the image can know, so no file name or symlink target can fake a boundary. A
 * failed lookup is told apart from any other failure by debugfs's own line on standard error,
 * which names the path: `PATH: File not found by ext2_lookup` (or `Ext2 inode is not a
 * directory`, for a path through a regular file).
 */
async function debugfsFacts(image: string, paths: readonly string[], signal: AbortSignal | undefined): Promise<FileFacts[]> {
  const debugfs = findProgram("debugfs");
  if (debugfs === undefined) throw new JudgeUnavailableError("reading files from ext4 needs debugfs: install e2fsprogs (Debian: apt-get install e2fsprogs)");
  if (paths.length === 0) return [];
  const dir = await mkdtemp(join(tmpdir(), "lwlog-debugfs-"));
  try {
    const quote = (p: string) => `"${p.replaceAll('"', '""')}"`;
    const stats = paths.map((p) => `stat ${quote(p)}`);
    const dumps = paths.map((p, i) => `dump ${quote(p)} ${quote(join(dir, String(i)))}`);
    const commands = paths.flatMap((_, i) => [stats[i]!, dumps[i]!]);
    await writeFile(join(dir, "commands"), commands.join("\n") + "\n");
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const r = await runProcess(debugfs, ["-f", join(dir, "commands"), image], {
      env: toolEnv(),
      onStdout: (b) => stdout.push(b),
      onOutput: (b, stream) => stream === "stderr" && stderr.push(Buffer.from(b)),
      ...(signal ? { signal } : {}),
    });
    if (r.aborted) throw new FileReadError("interrupted", { file: image });
    const errors = Buffer.concat(stderr).toString("utf8");
    if (r.code !== 0) throw new FileReadError(`debugfs on ${image}: ${describeExit(r)}: ${errors.trim()}`, { file: image });
    const out = Buffer.concat(stdout);
    const errorLines = new Set(errors.split("\n").map((l) => l.trimEnd()));
    const facts: FileFacts[] = [];
    let at = 0;
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i]!;
      const statEcho = Buffer.from(`debugfs: ${stats[i]}\n`, "utf8");
      const dumpEcho = Buffer.from(`debugfs: ${dumps[i]}\n`, "utf8");
      const from = out.indexOf(statEcho, at);
      const to = from < 0 ? -1 : out.indexOf(dumpEcho, from + statEcho.length);
      if (to < 0) throw new FileReadError(`debugfs on ${image} did not run stat and dump of ${path} (${errors.trim().split("\n").at(-1) ?? "no message"})`, { file: image });
      at = to + dumpEcho.length;
      const text = out.subarray(from + statEcho.length, to).toString("utf8");
      facts.push(await statFacts(path, text, errorLines, join(dir, String(i)), image, errors));
    }
    return facts;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A path's facts from its `stat` output and, for a regular file, its dump. */
async function statFacts(path: string, text: string, errorLines: Set<string>, dump: string, image: string, errors: string): Promise<FileFacts> {
  if (text.trim() === "") {
    if (errorLines.has(`${path}: File not found by ext2_lookup`) || errorLines.has(`${path}: Ext2 inode is not a directory`)) return { path, exists: false };
    throw new FileReadError(`debugfs stat ${path} said nothing: ${errors.trim()}`, { file: image });
  }
  const type = /Type: (\S+)/.exec(text)?.[1];
  const size = /^User:.*\bSize: (\d+)/m.exec(text)?.[1];
  const facts: FileFacts = { path, exists: true, type: type === "regular" ? "file" : type === "directory" ? "directory" : type === "symlink" ? "symlink" : "other" };
  if (size !== undefined) facts.size = Number(size);
  if (facts.type === "symlink") {
    const fast = /Fast link dest: "(.*)"/.exec(text)?.[1];
    if (fast !== undefined) facts.target = fast;
  }
  if (facts.type !== "file") return facts;
  const { sha256, bytes, content } = await hashFile(dump).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw new FileReadError(`debugfs dump ${path} wrote nothing: ${errors.trim()}`, { file: image });
    throw err;
  });
  if (facts.size !== undefined && bytes !== facts.size) {
    throw new FileReadError(`debugfs dump ${path} gave ${bytes} bytes where its inode says ${facts.size}: ${errors.trim()}`, { file: image });
  }
  facts.sha256 = sha256;
  if (content !== undefined) facts.content = content;
  return facts;
}

/** sha256 and length of a file, and its bytes when it is at most `FILE_CONTENT_LIMIT`. */
async function hashFile(path: string): Promise<{ sha256: string; bytes: number; content?: Uint8Array }> {
  const hash = createHash("sha256");
  const kept: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer;
    hash.update(b);
    bytes += b.length;
    if (bytes <= FILE_CONTENT_LIMIT) kept.push(b);
  }
  const out: { sha256: string; bytes: number; content?: Uint8Array } = { sha256: hash.digest("hex"), bytes };
  if (bytes <= FILE_CONTENT_LIMIT) out.content = new Uint8Array(Buffer.concat(kept));
  return out;
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
    const { sha256, content } = await hashFile(full);
    facts.sha256 = sha256;
    if (content !== undefined) facts.content = content;
  }
  return facts;
}
