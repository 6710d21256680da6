import { createHash } from "node:crypto";
import { mkdir, open, rename, rm, truncate, unlink } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "./files.js";

/**
 * One filesystem operation of a workload, on a path relative to the filesystem's root.
 * File contents are `randomBytes(size, seed)`, so a workload is the same bytes every run.
 */
export type FsOp =
  | { op: "mkdir"; path: string }
  /** Creates or replaces the file's content (`O_TRUNC`); `fsync` then fsyncs it. */
  | { op: "write"; path: string; size: number; seed: number; fsync?: boolean }
  /** Appends to an existing file. */
  | { op: "append"; path: string; size: number; seed: number; fsync?: boolean }
  | { op: "truncate"; path: string; size: number; fsync?: boolean }
  /** rename(2): replaces `to` when it exists; `fsyncDir` then fsyncs the directory of `to`. */
  | { op: "rename"; from: string; to: string; fsyncDir?: boolean }
  | { op: "unlink"; path: string }
  /** `rm -rf`. */
  | { op: "remove"; path: string }
  /** fsync of a file or a directory. */
  | { op: "fsync"; path: string };

/** A step of a workload: its operations, then a sync and the mark `mark`. */
export interface FsStep {
  mark: string;
  ops: FsOp[];
}

/** What a regular file holds at a mark: its size and the sha256 of its content. */
export interface FileState {
  size: number;
  sha256: string;
}

/**
 * The workload's files, followed through its operations. Tracks regular files only
 * (directories exist implicitly), which is all a data check compares.
 */
export class FsModel {
  readonly files = new Map<string, Uint8Array>();

  apply(o: FsOp): void {
    switch (o.op) {
      case "mkdir":
      case "fsync":
        return;
      case "write":
        this.files.set(o.path, randomBytes(o.size, o.seed));
        return;
      case "append": {
        const old = this.need(o.path);
        const add = randomBytes(o.size, o.seed);
        const next = new Uint8Array(old.length + add.length);
        next.set(old);
        next.set(add, old.length);
        this.files.set(o.path, next);
        return;
      }
      case "truncate": {
        const old = this.need(o.path);
        const next = new Uint8Array(o.size);
        next.set(old.subarray(0, Math.min(o.size, old.length)));
        this.files.set(o.path, next);
        return;
      }
      case "rename": {
        const moved = [...this.files.keys()].filter((p) => p === o.from || p.startsWith(`${o.from}/`));
        if (moved.length === 0) throw new Error(`workload: rename of ${o.from}, which the workload never made`);
        for (const p of moved) {
          const bytes = this.files.get(p)!;
          this.files.delete(p);
          this.files.set(o.to + p.slice(o.from.length), bytes);
        }
        return;
      }
      case "unlink":
        this.need(o.path);
        this.files.delete(o.path);
        return;
      case "remove":
        for (const p of [...this.files.keys()]) if (p === o.path || p.startsWith(`${o.path}/`)) this.files.delete(p);
        return;
    }
  }

  /** Every file's size and hash, by path, sorted. */
  snapshot(): Map<string, FileState> {
    const out = new Map<string, FileState>();
    for (const p of [...this.files.keys()].sort()) {
      const bytes = this.files.get(p)!;
      out.set(p, { size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") });
    }
    return out;
  }

  private need(path: string): Uint8Array {
    const bytes = this.files.get(path);
    if (bytes === undefined) throw new Error(`workload: ${path} is not a file the workload made`);
    return bytes;
  }
}

/** Whether `op` may change or remove the file at `path` (directly, or through a directory above it). */
export function opTouches(o: FsOp, path: string): boolean {
  const under = (p: string) => path === p || path.startsWith(`${p}/`);
  switch (o.op) {
    case "mkdir":
    case "fsync":
      return false;
    case "write":
    case "append":
    case "truncate":
    case "unlink":
    case "remove":
      return under(o.path);
    case "rename":
      return under(o.from) || under(o.to);
  }
}

/**
 * The files each mark made durable, as `--persisted` lines (`mark: path`): every file the
 * workload holds at the mark (each mark follows a sync) that the operations up to the next
 * mark leave alone, so it must be intact in any crash state between the two marks.
 * `marks` are the steps' marks in order; `states[i]` the files at `marks[i]`; `next[i]` the
 * operations between `marks[i]` and the mark after it (none after the last).
 */
export function persistedLines(marks: readonly string[], states: readonly Map<string, FileState>[], next: readonly (readonly FsOp[])[]): string[] {
  const lines: string[] = [];
  marks.forEach((mark, i) => {
    for (const path of states[i]!.keys()) {
      if (!(next[i] ?? []).some((o) => opTouches(o, path))) lines.push(`${mark}: ${path}`);
    }
  });
  return lines;
}

/** Runs one operation under the mount point `root`. */
export async function runFsOp(root: string, o: FsOp): Promise<void> {
  const at = (p: string) => join(root, p);
  const writeWith = async (path: string, flags: string, bytes: Uint8Array | undefined, size: number | undefined, sync: boolean | undefined) => {
    const fh = await open(path, flags, 0o644);
    try {
      if (bytes !== undefined) await fh.writeFile(bytes);
      if (size !== undefined) await fh.truncate(size);
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
  };
  switch (o.op) {
    case "mkdir":
      return void (await mkdir(at(o.path), { recursive: true }));
    case "write":
      return writeWith(at(o.path), "w", randomBytes(o.size, o.seed), undefined, o.fsync);
    case "append":
      return writeWith(at(o.path), "a", randomBytes(o.size, o.seed), undefined, o.fsync);
    case "truncate":
      if (!o.fsync) return truncate(at(o.path), o.size);
      return writeWith(at(o.path), "r+", undefined, o.size, true);
    case "rename":
      await rename(at(o.from), at(o.to));
      if (o.fsyncDir) await runFsOp(root, { op: "fsync", path: o.to.includes("/") ? o.to.slice(0, o.to.lastIndexOf("/")) : "." });
      return;
    case "unlink":
      return unlink(at(o.path));
    case "remove":
      return rm(at(o.path), { recursive: true, force: true });
    case "fsync": {
      const fh = await open(at(o.path), "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }
}
