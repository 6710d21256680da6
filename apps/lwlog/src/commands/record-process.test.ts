/**
 * `lwlog record` as a real process (the built CLI: `npx turbo run build --filter=lwlog...`),
 * stopped by real signals, killed mid-load, and used by a real filesystem through nbdfuse.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogFlags } from "@lwlog/codec/core";
import { makeTempDir, randomBytes, requireTool, run, runAsync } from "@lwlog/testkit";
import { builtCli, recordProcess, type ProcessRecorder } from "./test-record.js";

const tmp = makeTempDir("lwlog-record-proc-");
const children = new Set<ProcessRecorder>();
/** Undone in reverse order in afterAll, even when a test fails half-way. */
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const undo of cleanups.reverse()) {
    try {
      undo();
    } catch {
      // best effort: the next cleanup must still run
    }
  }
  for (const c of children) c.child.kill("SIGKILL");
  tmp.cleanup();
});

const lwlog = (...args: string[]) => runAsync(process.execPath, [builtCli, ...args], { check: false });

async function start(args: string[]): Promise<ProcessRecorder> {
  if (!existsSync(builtCli)) throw new Error(`${builtCli} is missing: run npx turbo run build --filter=lwlog... first`);
  const r = await recordProcess(args);
  children.add(r);
  return r;
}

describe("lwlog record as a process", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`stops cleanly on ${signal}: final sync, lwlog-end, summary, exit 0`, async () => {
      const dir = join(tmp.path, signal);
      mkdirSync(dir);
      const r = await start(["--image", join(dir, "img"), "--log", join(dir, "log"), "--create", "--size", "4M", "--listen", "127.0.0.1:0"]);
      await runAsync("qemu-io", ["-f", "raw", "-t", "writeback", r.uri, "-c", "write -P 9 0 8192", "-c", "write -P 8 65536 512"]);
      expect((await lwlog("mark", "between", "--log", join(dir, "log"))).stdout).toBe("3\n");
      r.child.kill(signal);
      expect(await r.exited).toEqual({ code: 0, signal: null });
      children.delete(r);
      expect(r.stdout()).toMatch(/^entries\s+5$/m);
      expect(r.stdout()).toMatch(/^marks\s+2 \(last: lwlog-end at entry 4\)$/m);
      expect(r.stderr()).toMatch(/stopping: finishing requests in flight/);
      expect(existsSync(join(dir, "log.ctl"))).toBe(false);
      const log = LogFile.openSync(join(dir, "log"));
      expect(log.declared).toBe(5);
      log.close();
      expect((await lwlog("check", join(dir, "log"))).status).toBe(0);
    });
  }

  it("SIGKILL in the middle of a write load: the log checks valid, and replayed to its last flush holds every write the client saw flushed", async () => {
    const python = "/usr/bin/python3";
    if (run(python, ["-c", "import nbd"], { check: false }).status !== 0) {
      throw new Error("the crash test's client needs libnbd's Python binding: install the Debian package python3-libnbd");
    }
    const dir = join(tmp.path, "crash");
    mkdirSync(dir);
    const logPath = join(dir, "log");
    const r = await start(["--image", join(dir, "img"), "--log", logPath, "--create", "--size", "16M", "--listen", "127.0.0.1:0"]);
    // A libnbd client: 4 KiB writes, each block i filled with a pattern of i, a flush every 16
    // writes, and a line on stdout once each flush is acknowledged.
    const script = join(dir, "client.py");
    writeFileSync(
      script,
      [
        "import nbd, os, struct, sys",
        "h = nbd.NBD()",
        "h.connect_uri(os.environ['URI'])",
        "for i in range(4096):",
        "    h.pwrite(struct.pack('<I', i) * 1024, i * 4096)",
        "    if i % 16 == 15:",
        "        h.flush()",
        "        print(i, flush=True)",
      ].join("\n"),
    );
    const client = spawn(python, [script], { env: { ...process.env, URI: r.uri }, stdio: ["ignore", "pipe", "pipe"] });
    let flushed = -1;
    const clientExit = new Promise<number | null>((resolve) => client.once("exit", resolve));
    await new Promise<void>((resolve, reject) => {
      client.stdout.setEncoding("utf8").on("data", (d: string) => {
        for (const line of d.trim().split("\n")) flushed = Math.max(flushed, Number(line));
        if (flushed >= 1000) resolve();
      });
      void clientExit.then(() => reject(new Error(`the client stopped before the kill (last flushed block ${flushed})`)));
    });
    r.child.kill("SIGKILL");
    expect((await r.exited).signal).toBe("SIGKILL");
    children.delete(r);
    await clientExit; // it fails once the server is gone
    // Everything the client saw flushed by then, and maybe more.
    const seen = flushed;

    const check = await lwlog("check", logPath);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const log = LogFile.openSync(logPath);
    let lastFlush = -1;
    const cursor = log.cursor();
    for (let e = cursor.next(); e; e = cursor.next()) if ((e.flags & LogFlags.FLUSH) !== 0n) lastFlush = e.index;
    log.close();
    expect(lastFlush).toBeGreaterThan(0);
    const replayed = join(dir, "replayed");
    const replay = await lwlog("replay", logPath, "--to", replayed, "--size", "16M", "--until-entry", String(lastFlush));
    expect(replay.status, replay.stderr).toBe(0);
    const image = readFileSync(replayed);
    for (let i = 0; i <= seen; i++) {
      const block = image.subarray(i * 4096, i * 4096 + 4096);
      expect(block.readUInt32LE(0), `block ${i}`).toBe(i);
      expect(block.readUInt32LE(4092), `block ${i}`).toBe(i);
    }
  });
});

describe("lwlog record under a real filesystem", () => {
  it("ext4 through nbdfuse: marks between steps, replay to each mark passes e2fsck -fn, the last holds the files", async () => {
    for (const tool of ["nbdfuse", "fusermount3", "mkfs.ext4", "e2fsck", "debugfs", "losetup", "mount", "umount", "fsfreeze"]) requireTool(tool);
    const dir = join(tmp.path, "fs");
    const fuseDir = join(dir, "fuse");
    const mnt = join(dir, "mnt");
    mkdirSync(fuseDir, { recursive: true });
    mkdirSync(mnt);
    const logPath = join(dir, "log");
    const r = await start(["--image", join(dir, "img"), "--log", logPath, "--create", "--size", "64M", "--listen", "127.0.0.1:0"]);
    const mark = async (name: string) => {
      const m = await lwlog("mark", name, "--log", logPath);
      expect(m.status, m.stderr).toBe(0);
    };

    const pidFile = join(dir, "nbdfuse.pid");
    const fuse = spawn(requireTool("nbdfuse"), ["-P", pidFile, join(fuseDir, "nbd"), r.uri], { stdio: "ignore" });
    cleanups.push(() => {
      run("fusermount3", ["-u", fuseDir], { check: false });
      fuse.kill("SIGKILL");
    });
    for (let i = 0; !existsSync(pidFile); i++) {
      if (i > 500) throw new Error("nbdfuse did not come up");
      await new Promise((res) => setTimeout(res, 20));
    }
    const file = join(fuseDir, "nbd");

    await runAsync("mkfs.ext4", ["-q", "-F", file]);
    await mark("mkfs");
    const files = new Map<string, Uint8Array>();
    let workload: string;
    const loop = (await runAsync("losetup", ["-f", "--show", file], { check: false })).stdout.trim();
    const mounted = loop !== "" && (await runAsync("mount", ["-t", "ext4", loop, mnt], { check: false })).status === 0;
    if (mounted) {
      workload = "kernel ext4 on a loop device over the nbdfuse file";
      cleanups.push(() => {
        run("umount", [mnt], { check: false });
        run("losetup", ["-d", loop], { check: false });
      });
      for (let step = 1; step <= 3; step++) {
        for (let k = 0; k < 4; k++) {
          const name = `step${step}-file${k}`;
          const data = randomBytes(20_000 + 7919 * k + step, step * 10 + k);
          files.set(name, data);
          writeFileSync(join(mnt, name), data);
        }
        // fsync the files, then freeze: the filesystem on the device is consistent at the mark.
        await runAsync("sync", ["-f", join(mnt, `step${step}-file0`)]);
        await runAsync("fsfreeze", ["-f", mnt]);
        await mark(`step${step}`);
        await runAsync("fsfreeze", ["-u", mnt]);
      }
      await runAsync("umount", [mnt]);
      await runAsync("losetup", ["-d", loop]);
    } else {
      // Mounting is not permitted here: debugfs writes the files through the FUSE file instead.
      workload = "debugfs -w on the nbdfuse file (mounting not permitted)";
      if (loop !== "") await runAsync("losetup", ["-d", loop], { check: false });
      for (let step = 1; step <= 3; step++) {
        for (let k = 0; k < 4; k++) {
          const name = `step${step}-file${k}`;
          const data = randomBytes(20_000 + 7919 * k + step, step * 10 + k);
          files.set(name, data);
          const local = join(dir, name);
          writeFileSync(local, data);
          await runAsync("debugfs", ["-w", "-R", `write ${local} ${name}`, file]);
        }
        await mark(`step${step}`);
      }
    }
    console.info(`filesystem workload: ${workload}`);
    await runAsync("fusermount3", ["-u", fuseDir]);
    r.child.kill("SIGINT");
    expect((await r.exited).code).toBe(0);
    children.delete(r);

    const marks = ["mkfs", "step1", "step2", "step3"];
    for (const m of marks) {
      const img = join(dir, `replay-${m}`);
      const replay = await lwlog("replay", logPath, "--to", img, "--size", "64M", "--until-mark", m);
      expect(replay.status, replay.stderr).toBe(0);
      const fsck = await runAsync("e2fsck", ["-fn", img], { check: false });
      expect(fsck.status, `e2fsck at mark ${m}:\n${fsck.stdout}${fsck.stderr}`).toBe(0);
      if (m === "step3") {
        for (const [name, data] of files) {
          const out = join(dir, `out-${name}`);
          await runAsync("debugfs", ["-R", `dump /${name} ${out}`, img]);
          expect(Buffer.compare(readFileSync(out), Buffer.from(data)), name).toBe(0);
        }
      }
      if (m === "step1") {
        const ls = (await runAsync("debugfs", ["-R", "ls -l /", img])).stdout;
        expect(ls).toMatch(/step1-file3/);
        expect(ls).not.toMatch(/step2-file0/);
      }
    }
  });
});
