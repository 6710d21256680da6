import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, mountReflinkDir, randomBytes, requireTool, run, sha256File, type MountedDir } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import { builtCli } from "./test-record.js";

const tmp = makeTempDir("lwlog-replay-views-");
let xfs: MountedDir;
beforeAll(() => {
  for (const t of ["e2fsck", "nbdfuse", "nbdinfo", "setpriv"]) requireTool(t);
  xfs = mountReflinkDir(512 << 20, "lwlog-replay-views-xfs-");
});
afterAll(() => {
  xfs?.cleanup();
  tmp.cleanup();
});
let n = 0;
const fresh = (name = "img") => join(tmp.path, `${name}-${++n}.img`);
const kernel = (file: string) => kernelLogs().find((k) => k.file === file)!;

/** Replays `log` up to its mark "mkfs" onto a new image: the state every flush check after mkfs starts from. */
async function afterMkfs(log: string, image: string): Promise<void> {
  const r = await runLwlog(["replay", log, "--to", image, "--size", "auto", "--until-mark", "mkfs", "-q"]);
  expect(r.code, r.stderr).toBe(0);
}

describe("lwlog replay: checkers write only their scratch view", () => {
  it.each(["copy", "overlay", "reflink"] as const)("--view %s: a checker that scribbles over {image} (and mounts and repairs it) leaves the replay image as the log made it", async (view) => {
    const k = kernel("ext4-4k.log");
    const dir = view === "reflink" ? xfs.path : tmp.path;
    const image = join(dir, `scribble-${view}.img`);
    const scratch = join(dir, `scratch-${view}`);
    mkdirSync(scratch);
    await afterMkfs(k.path, image);
    const before = sha256File(image);
    const scribble = "e2fsck -fy {image} >/dev/null 2>&1; dd if=/dev/urandom of={image} bs=4096 count=64 seek=16 conv=notrunc status=none && sync";
    const r = await runLwlog(["replay", k.path, "--to", image, "--from-mark", "mkfs", "--check", "mark,every:40", "--exec", scribble, "--view", view, "--scratch", scratch, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.checkpoints.run).toBeGreaterThanOrEqual(8);
    expect(s.checkpoints.views).toEqual({ [view]: s.checkpoints.run });
    expect(sha256File(image)).not.toBe(before);
    expect(sha256File(image)).toBe(k.marks[k.marks.length - 1]!.sha256);
    expect(readdirSync(scratch)).toEqual([]);
    expect(readFileSync("/proc/self/mountinfo", "utf8").includes(scratch)).toBe(false);
  });

  it("{nbd} serves the view over NBD (LWLOG_NBD too)", async () => {
    const k = kernel("raw-512.log");
    const out = join(tmp.path, "nbd.txt");
    const image = fresh("nbd");
    const r = await runLwlog(["replay", k.path, "--to", image, "--size", "auto", "--until-mark", "direct-small", "--check", "mark", "--exec", `nbdinfo --size {nbd} >> ${out}; test "$LWLOG_NBD" != ""`]);
    expect(r.code, r.stderr).toBe(0);
    const sizes = readFileSync(out, "utf8").trim().split("\n");
    expect(sizes.length).toBe(3);
    for (const size of sizes) expect(Number(size)).toBe(k.data_device_bytes);
  });
});

describe("lwlog replay: a check that checks nothing, and Ctrl-C", () => {
  it("--check that matches no entry fails (exit 1) with the log's own counts and what would match", async () => {
    const log = join(tmp.path, "flushes.log");
    const w = await LogWriter.create(log, { sectorSize: 512 });
    for (let i = 0; i < 3; i++) {
      await w.write(BigInt(i * 8), randomBytes(4096, i + 1));
      await w.flush();
    }
    await w.close();
    const r = await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--check", "fua", "--exec", "true"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("0 checkpoints");
    expect(r.stderr).toBe(
      "lwlog: error: --check fua matched none of the 6 entries replayed (0..5), so nothing was checked: they hold 0 FUA entries, 3 flushes, 0 marks, 0 discards " +
        "(a device without FUA, such as a loop device over a FUSE file, sends flushes instead); try --check flush [LWLOG_CHECK_MATCHED_NOTHING]\n",
    );
    const j = await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--check", "mark", "--fs", "ext4", "--json"]);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout).checkpoints.unmatched).toEqual({ entries: 6, flush: 3, fua: 0, mark: 0, discard: 0 });
    expect(j.stderr).toContain("try --check flush");
    const many = await runLwlog(["replay", log, "--to", fresh(), "--size", "64K", "--check", "every:7", "--exec", "true"]);
    expect(many.stderr).toContain("try --check flush");
  });

  it("Ctrl-C while a checker runs: exit 130, not a failed checkpoint; its process group is killed and the view removed", async () => {
    const k = kernel("ext4-4k.log");
    const pids = join(tmp.path, "pids");
    const scratch = join(tmp.path, "scratch-int");
    mkdirSync(scratch);
    let interrupt: (() => void) | undefined;
    const running = runLwlog(["replay", k.path, "--to", fresh(), "--size", "auto", "--check", "mark", "--exec", `sleep 300 & echo "$$ $!" > ${pids}; wait`, "--scratch", scratch], {
      onInterrupt: (handler) => {
        interrupt = handler;
        return () => undefined;
      },
    });
    for (let i = 0; i < 600 && !(existsSync(pids) && readFileSync(pids, "utf8").includes(" ")); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(pids)).toBe(true);
    interrupt!();
    const r = await running;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted during the checkpoint after entry 38 \(it is not counted\): entries 0\.\.38 have been applied to /);
    expect(r.stderr).not.toContain("checkpoint failed");
    for (const pid of readFileSync(pids, "utf8").trim().split(" ").map(Number)) expect(alive(pid), `process ${pid}`).toBe(false);
    expect(readdirSync(scratch)).toEqual([]);
  });
});

describe("lwlog replay --fs where it cannot judge", () => {
  it("--fs xfs without CAP_SYS_ADMIN: exit 2 before anything is written, saying why (never a verdict)", () => {
    const k = kernel("xfs-4k.log");
    const image = fresh("nocap");
    const drop = "-sys_admin";
    const r = run(requireTool("setpriv"), [`--bounding-set=${drop}`, `--inh-caps=${drop}`, process.execPath, builtCli, "replay", k.path, "--to", image, "--size", "auto", "--check", "flush", "--fs", "xfs"], { check: false });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^lwlog: error: the xfs judge \(log recovery is done by the kernel at mount\) needs to mount the image, and attaching loop devices and mounting need root \(CAP_SYS_ADMIN\)/);
    expect(r.stderr).toContain("[LWLOG_JUDGE_UNAVAILABLE]");
    expect(existsSync(image)).toBe(false);
  });
});

/** Whether a process is running (a zombie waiting for its parent to reap it is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
