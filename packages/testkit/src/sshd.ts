import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { requireTool } from "./tools.js";

/** A throwaway OpenSSH server on 127.0.0.1 (see `startSshd`). */
export interface Sshd {
  port: number;
  /** The user it lets in (the one running the test). */
  user: string;
  /** `user@127.0.0.1`. */
  login: string;
  /** The ssh command (program and options, no host) that logs in with the throwaway key and trusts the throwaway host key. */
  ssh: string[];
  /** Stops the server (idempotent). */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.connect(port, "127.0.0.1");
  });
}

/**
 * Starts `sshd` (Debian's openssh-server) in the foreground on 127.0.0.1 and a free port, with a
 * host key, a user key and a configuration made in `dir` (public keys only, no password, no
 * PAM, `StrictModes no` for a temporary directory), letting in the user running the test
 * (root in CI). Waits until a login works. Call `stop()` in `afterAll` (or `finally`); a
 * watchdog stops the daemon too when the test's process ends without it (a crash, a kill).
 */
export async function startSshd(dir: string): Promise<Sshd> {
  const sshd = requireTool("sshd");
  const keygen = requireTool("ssh-keygen");
  const ssh = requireTool("ssh");
  mkdirSync(dir, { recursive: true });
  for (const key of ["host_key", "id"]) {
    const r = spawnSync(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "lwlog-test", "-f", join(dir, key)], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  }
  copyFileSync(join(dir, "id.pub"), join(dir, "authorized_keys"));
  // sshd refuses to start without its privilege separation directory (Debian makes it at boot).
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const user = userInfo().username;
  let child: ChildProcess | undefined;
  let port = 0;
  let log = "";
  for (let attempt = 0; attempt < 5 && child === undefined; attempt++) {
    port = await freePort();
    const config = join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${join(dir, "host_key")}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        `AllowUsers ${user}`,
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "X11Forwarding no",
        "LogLevel ERROR",
        "",
      ].join("\n"),
    );
    // sshd under a small watchdog: it is stopped when this process goes away, however it ends.
    const watchdog = `"$0" -D -e -f "$1" & d=$!; trap 'kill $d 2>/dev/null; wait $d; exit 0' TERM INT; while kill -0 ${process.pid} 2>/dev/null && kill -0 $d 2>/dev/null; do sleep 1; done; kill $d 2>/dev/null; wait $d`;
    const c = spawn("/bin/sh", ["-c", watchdog, sshd, config], { stdio: ["ignore", "ignore", "pipe"] });
    c.stderr!.setEncoding("utf8");
    c.stderr!.on("data", (s: string) => {
      log = (log + s).slice(-4096);
    });
    let exited = false;
    c.once("exit", () => {
      exited = true;
    });
    for (let k = 0; k < 100 && !exited; k++) {
      if (await accepts(port)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!exited && (await accepts(port))) child = c;
    else c.kill("SIGKILL"); // the port was taken meanwhile, or sshd refused its configuration: try again
  }
  if (child === undefined) throw new Error(`sshd did not start: ${log}`);
  const daemon = child;
  const command = [ssh, "-p", String(port), "-i", join(dir, "id"), "-o", "StrictHostKeyChecking=no", "-o", `UserKnownHostsFile=${join(dir, "known_hosts")}`, "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"];
  const stop = async () => {
    if (daemon.exitCode !== null || daemon.signalCode !== null) return;
    const gone = new Promise((r) => daemon.once("exit", r));
    daemon.kill("SIGTERM");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill("SIGKILL");
  };
  const probe = spawnSync(command[0]!, [...command.slice(1), `${user}@127.0.0.1`, "true"], { encoding: "utf8", timeout: 20_000 });
  if (probe.status !== 0) {
    await stop();
    throw new Error(`ssh to the test sshd failed (${probe.status}): ${probe.stderr}\n${log}`);
  }
  return { port, user, login: `${user}@127.0.0.1`, ssh: command, stop };
}
