import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FsModel, persistedLines, runFsOp, type FileState, type FsOp, type FsStep } from "./fs-steps.js";
import { sha256File } from "./files.js";
import { requireTool, runAsync } from "./tools.js";

export * from "./fs-steps.js";

/** Options of `fsWorkloadLog`. */
export interface FsWorkloadOptions {
  /** A fresh directory for the image, the log, the FUSE mount, the mount point and the sockets. */
  dir: string;
  /** The argv that runs the lwlog CLI, e.g. `[process.execPath, "apps/lwlog/dist/main.js"]`. */
  lwlog: readonly string[];
  fs: "ext4" | "xfs";
  /** Size of the recorded image in bytes (a sparse file: only what the workload writes is in the log). */
  size: number;
  /** Options for `mkfs.<fs>` before the device (default `-q`, plus `-F` for ext4 and `-f` for xfs). */
  mkfsOptions?: readonly string[];
  /** Environment added for mkfs (e.g. what lifts mkfs.xfs's 300 MB floor). */
  mkfsEnv?: Record<string, string>;
  /** `mount -o` options, e.g. `barrier=0`. */
  mountOptions?: string;
  /** The workload (default `defaultFsWorkload()`). */
  steps?: readonly FsStep[];
  /** More `lwlog record` options (e.g. `--sector-size 4096`, `--zeroes-as-discard`). */
  recordOptions?: readonly string[];
  /** Time limit for each tool and each step, in ms (default 120 000). */
  timeoutMs?: number;
}

/** A mark of the recorded log. */
export interface RecordedMark {
  name: string;
  entry: number;
  /** sha256 of the whole image right after the mark (nothing was in flight): the ground truth. */
  sha256: string;
}

/** What `fsWorkloadLog` recorded. */
export interface FsWorkloadLog {
  log: string;
  /** The image the recorder served: the disk as the workload left it. */
  image: string;
  /** `mkfs`, each step's mark, `umount`, then the recorder's own `lwlog-end`. */
  marks: RecordedMark[];
  /** The workload's files at each mark (not `lwlog-end`), by path. */
  files: Map<string, Map<string, FileState>>;
  /** `--persisted` lines, `mark: path`: see `persistedLines`. */
  persisted: string[];
  /** The loop device's `queue/fua` while it was attached ("0": FUA became flushes above it). */
  loopFua: string;
  /** What the recorder printed when it stopped (its `--json` summary). */
  summary: Record<string, unknown>;
}

/**
 * Records a filesystem workload through `lwlog record`, the way docs/driver.md says: the
 * recorder serves a sparse image on a Unix socket, `nbdfuse` shows it as a file, `losetup`
 * makes that a block device, then `mkfs`, a device fsync and the mark `mkfs`; `mount` (with
 * `mountOptions`); each step's operations, then `sync -f`, `fsfreeze -f`, the step's mark and
 * `fsfreeze -u` (so the mark is taken with everything written and nothing in flight); `umount`
 * and the mark `umount`; then detach, unmount the FUSE file and stop the recorder with SIGINT.
 * Root, loop devices and /dev/fuse are needed. Whatever fails, the mount, loop device, FUSE
 * mount and processes are undone before this throws.
 */
export async function fsWorkloadLog(o: FsWorkloadOptions): Promise<FsWorkloadLog> {
  const tools = ["nbdfuse", "fusermount3", "losetup", "mount", "umount", "fsfreeze", "sync", `mkfs.${o.fs}`];
  for (const t of tools) requireTool(t);
  const timeoutMs = o.timeoutMs ?? 120_000;
  const steps = o.steps ?? defaultFsWorkload();
  const image = join(o.dir, "disk.img");
  const log = join(o.dir, "disk.log");
  const control = join(o.dir, "ctl");
  const fuseDir = join(o.dir, "fuse");
  const mnt = join(o.dir, "mnt");
  mkdirSync(fuseDir, { recursive: true });
  mkdirSync(mnt, { recursive: true });

  // Each thing set up is undone in `finally`, newest first, unless the normal path already did it.
  const undo: (() => Promise<unknown>)[] = [];
  const tool = (cmd: string, args: readonly string[], env?: Record<string, string>) =>
    runAsync(cmd, args, { timeoutMs, ...(env ? { env: { ...process.env, ...env } } : {}) });
  const lwlog = (...args: string[]) => runAsync(o.lwlog[0]!, [...o.lwlog.slice(1), ...args], { timeoutMs });
  const marks: RecordedMark[] = [];
  const mark = async (name: string) => {
    const r = JSON.parse((await lwlog("mark", name, "--control", control, "--json")).stdout) as { name: string; entry: number };
    marks.push({ name: r.name, entry: r.entry, sha256: sha256File(image) });
  };
  const quietly = (cmd: string, args: readonly string[]) => runAsync(cmd, args, { check: false, timeoutMs });

  try {
    const rec = await startRecorder(o, image, log, control, timeoutMs);
    undo.push(() => stopProcess(rec.child, "SIGKILL"));

    const pidFile = join(o.dir, "nbdfuse.pid");
    const fuse = spawn(requireTool("nbdfuse"), ["-P", pidFile, join(fuseDir, "nbd"), rec.uri], { stdio: ["ignore", "ignore", "pipe"] });
    let fuseErr = "";
    fuse.stderr!.setEncoding("utf8").on("data", (d: string) => (fuseErr += d));
    undo.push(async () => {
      if (fuse.exitCode !== null || fuse.signalCode !== null) return;
      if ((await quietly("fusermount3", ["-u", fuseDir])).status !== 0) await quietly("fusermount3", ["-uz", fuseDir]);
      await stopProcess(fuse, "SIGKILL");
    });
    await waitUntil(() => existsSync(pidFile) || fuse.exitCode !== null, timeoutMs, "nbdfuse to serve the image");
    if (fuse.exitCode !== null) throw new Error(`nbdfuse exited ${fuse.exitCode}: ${fuseErr}`);

    const loop = (await tool("losetup", ["-f", "--show", join(fuseDir, "nbd")])).stdout.trim();
    let attached = true;
    undo.push(async () => attached && (await quietly("losetup", ["-d", loop])));
    const loopFua = readFileSync(`/sys/block/${loop.replace(/^\/dev\//, "")}/queue/fua`, "utf8").trim();

    const mkfsOptions = o.mkfsOptions ?? ["-q", o.fs === "xfs" ? "-f" : "-F"];
    await tool(`mkfs.${o.fs}`, [...mkfsOptions, loop], o.mkfsEnv);
    await tool("sync", [loop]); // fsync of the device: a FLUSH, so the mark is a consistent point
    await mark("mkfs");

    await tool("mount", ["-t", o.fs, ...(o.mountOptions ? ["-o", o.mountOptions] : []), loop, mnt]);
    let mounted = true;
    let frozen = false;
    undo.push(async () => {
      if (frozen) await quietly("fsfreeze", ["-u", mnt]);
      if (mounted && (await quietly("umount", [mnt])).status !== 0) await quietly("umount", ["-l", mnt]);
    });
    const model = new FsModel();
    const files = new Map<string, Map<string, FileState>>([["mkfs", new Map()]]);
    for (const step of steps) {
      for (const op of step.ops) {
        const what = `workload step ${step.mark}: ${JSON.stringify(op)}`;
        await withTimeout(runFsOp(mnt, op), timeoutMs, what).catch((e: Error) => {
          throw new Error(`${what}: ${e.message}`);
        });
        model.apply(op);
      }
      await tool("sync", ["-f", mnt]);
      frozen = true;
      await tool("fsfreeze", ["-f", mnt]);
      await mark(step.mark);
      await tool("fsfreeze", ["-u", mnt]);
      frozen = false;
      files.set(step.mark, model.snapshot());
    }
    await tool("umount", [mnt]);
    mounted = false;
    await mark("umount");
    files.set("umount", model.snapshot());

    // Taken down in order with errors reported: a clean stop is part of the recording.
    await tool("losetup", ["-d", loop]);
    attached = false;
    await tool("fusermount3", ["-u", fuseDir]);
    await waitUntil(() => fuse.exitCode !== null || fuse.signalCode !== null, timeoutMs, "nbdfuse to exit");
    rec.child.kill("SIGINT");
    const exit = await exitOf(rec.child, timeoutMs);
    if (exit !== 0) throw new Error(`lwlog record exited ${exit}: ${rec.stderr()}`);
    const summary = JSON.parse(rec.stdout().trim().split("\n").at(-1)!) as Record<string, unknown>;
    marks.push({ name: "lwlog-end", entry: Number(summary.entries) - 1, sha256: sha256File(image) });

    const markNames = ["mkfs", ...steps.map((s) => s.mark), "umount"];
    const next = [steps[0]?.ops ?? [], ...steps.map((_, i) => steps[i + 1]?.ops ?? []), []];
    const persisted = persistedLines(markNames, markNames.map((m) => files.get(m)!), next);
    return { log, image, marks, files, persisted, loopFua, summary };
  } finally {
    for (const u of undo.reverse()) await u().catch(() => undefined);
  }
}

interface StartedRecorder {
  child: ChildProcess;
  uri: string;
  stdout(): string;
  stderr(): string;
}

async function startRecorder(o: FsWorkloadOptions, image: string, log: string, control: string, timeoutMs: number): Promise<StartedRecorder> {
  const args = [...o.lwlog.slice(1), "record", "--image", image, "--log", log, "--create", "--size", String(o.size)];
  args.push("--socket", join(o.dir, "nbd.sock"), "--control", control, "--json", ...(o.recordOptions ?? []));
  const child = spawn(o.lwlog[0]!, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  try {
    await waitUntil(() => out.includes("\n") || child.exitCode !== null, timeoutMs, "lwlog record to be ready");
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  if (child.exitCode !== null) throw new Error(`lwlog record exited ${child.exitCode}: ${err}`);
  const ready = JSON.parse(out.split("\n")[0]!) as { uri: string };
  return { child, uri: ready.uri, stdout: () => out, stderr: () => err };
}

/**
 * A workload with metadata churn: directories, files of many sizes (some fsynced), a
 * larger file, renames (one over an existing file), deletes, a truncate, appends, a
 * directory removed, files rewritten in place and a burst of small fsynced creates. Each
 * fsync is a journal commit, so the log has many flushes between the marks.
 */
export function defaultFsWorkload(scale = 1): FsStep[] {
  const n = Math.max(4, Math.round(12 * scale));
  const size = (i: number) => (i * 7919) % 48_000;
  const files: FsOp[] = [{ op: "mkdir", path: "a" }, { op: "mkdir", path: "b" }, { op: "mkdir", path: "c/d" }];
  for (let i = 0; i < n; i++) files.push({ op: "write", path: `${i % 2 ? "b" : "a"}/f${i}`, size: size(i), seed: 100 + i, fsync: i % 3 === 0 });
  files.push({ op: "write", path: "big", size: 256 * 1024, seed: 7, fsync: true });

  const renamed: FsOp[] = [];
  for (let i = 0; i < n / 4; i += 2) renamed.push({ op: "rename", from: `a/f${i}`, to: `c/d/r${i}`, fsyncDir: i % 4 === 0 });
  renamed.push({ op: "rename", from: "b/f1", to: "a/f2", fsyncDir: true }); // over an existing file
  for (let i = 0; i < n / 4; i++) renamed.push({ op: "write", path: `c/n${i}`, size: 3000 + i * 1500, seed: 300 + i, fsync: true });

  const deleted: FsOp[] = [];
  for (let i = 3; i < n; i += 4) deleted.push({ op: "unlink", path: `b/f${i}` });
  deleted.push({ op: "truncate", path: "big", size: 40_000, fsync: true });
  deleted.push({ op: "append", path: "c/n0", size: 5000, seed: 400, fsync: true });
  deleted.push({ op: "remove", path: "b" });

  const rewritten: FsOp[] = [];
  for (let i = 4; i < n; i += 4) rewritten.push({ op: "write", path: `a/f${i}`, size: 9000 + i * 100, seed: 500 + i, fsync: true });
  for (let i = 0; i < n / 2; i++) rewritten.push({ op: "write", path: `c/d/s${i}`, size: 700, seed: 600 + i, fsync: true });
  return [
    { mark: "files", ops: files },
    { mark: "renamed", ops: renamed },
    { mark: "deleted", ops: deleted },
    { mark: "rewritten", ops: rewritten },
  ];
}

async function waitUntil(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function exitOf(p: ChildProcess, ms: number): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return withTimeout(new Promise((resolve) => p.once("exit", (code) => resolve(code))), ms, "a process to exit");
}

async function stopProcess(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill(signal);
  await exitOf(p, 10_000).catch(() => undefined);
}
