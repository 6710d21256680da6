import { spawn, spawnSync, type SpawnSyncOptions } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { constants as osConstants } from "node:os";
import { delimiter, join } from "node:path";

/** Debian package that provides each system tool the tests use. */
export const TOOL_PACKAGES: Record<string, string> = {
  "qemu-io": "qemu-utils",
  "qemu-img": "qemu-utils",
  "qemu-nbd": "qemu-utils",
  nbdinfo: "libnbd-bin",
  nbdcopy: "libnbd-bin",
  nbdfuse: "libnbd-bin",
  nbdsh: "python3-libnbd",
  "mkfs.ext4": "e2fsprogs",
  "mkfs.ext3": "e2fsprogs",
  "mkfs.ext2": "e2fsprogs",
  "mkfs.btrfs": "btrfs-progs",
  e2fsck: "e2fsprogs",
  debugfs: "e2fsprogs",
  dumpe2fs: "e2fsprogs",
  fuse2fs: "fuse2fs",
  fusermount3: "fuse3",
  fio: "fio",
  losetup: "mount",
  prlimit: "util-linux",
  partx: "util-linux",
  mount: "mount",
  umount: "mount",
  "mkfs.xfs": "xfsprogs",
  xfs_repair: "xfsprogs",
  btrfs: "btrfs-progs",
  script: "bsdutils",
  cmp: "diffutils",
  cc: "gcc",
  nbdkit: "nbdkit",
  git: "git",
  setpriv: "util-linux",
  strace: "strace",
  fsfreeze: "util-linux",
  sync: "coreutils",
  sshd: "openssh-server",
  ssh: "openssh-client",
  "ssh-keygen": "openssh-client",
  parallel: "parallel",
  rsync: "rsync",
  kubectl: "kubernetes-client",
};

const PATH_EXTRA = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/** Full path of a program on PATH (plus the sbin directories), or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), ...PATH_EXTRA];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Full path of a system tool the test needs. Throws (failing the test) when it is
 * missing: tests never pass silently without the real tool.
 */
export function requireTool(name: string): string {
  const found = findTool(name);
  if (found === undefined) {
    const pkg = TOOL_PACKAGES[name];
    throw new Error(
      `${name} is not installed${pkg ? `: install the Debian package ${pkg}` : ""} (.ci/run installs everything the tests need)`,
    );
  }
  return found;
}

/** Result of `run`. */
export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion and returns its status and output. Throws when it cannot
 * start or, with `check` (the default), when it exits non-zero, with its stderr in the message.
 */
export function run(
  cmd: string,
  args: readonly string[],
  options: SpawnSyncOptions & { check?: boolean; input?: string | Uint8Array } = {},
): RunResult {
  const { check = true, ...spawnOptions } = options;
  const exe = cmd.includes("/") ? cmd : requireTool(cmd);
  const r = spawnSync(exe, args, { encoding: "utf8", maxBuffer: 256 << 20, ...spawnOptions });
  if (r.error) throw r.error;
  const result = { status: r.status ?? 128, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
  if (check && result.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${result.status}:\n${result.stderr}${result.stdout}`);
  }
  return result;
}

/**
 * `run` without blocking the event loop: for tests whose server (an NBD recorder, say) runs
 * in the test's own process, where a synchronous child would wait on it forever.
 */
export function runAsync(
  cmd: string,
  args: readonly string[],
  options: { check?: boolean; input?: string | Uint8Array; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const { check = true } = options;
  const exe = cmd.includes("/") ? cmd : requireTool(cmd);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(exe, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = options.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), options.timeoutMs) : undefined;
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const result = { status: code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0), stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
      if (check && result.status !== 0) reject(new Error(`${cmd} ${args.join(" ")} exited ${result.status}${signal ? ` (${signal})` : ""}:\n${result.stderr}${result.stdout}`));
      else resolvePromise(result);
    });
    child.stdin.on("error", () => undefined); // a child that never reads its input closes it early (EPIPE)
    child.stdin.end(options.input ?? "");
  });
}
