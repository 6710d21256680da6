/**
 * An ext4 workload recorded live through `lwlog record` (the built CLI, nbdfuse, a loop
 * device, the kernel's ext4), as a user would: what the log holds, and how it is judged.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogFile, LogFlags } from "@lwlog/codec/core";
import { defaultFsWorkload, fsWorkloadLog, makeTempDir, runAsync, sha256File, type FsWorkloadLog } from "@lwlog/testkit";
import { builtCli } from "./test-record.js";

const tmp = makeTempDir("lwlog-proof-ext4-");
afterAll(() => tmp.cleanup());
const lwlogArgv = [process.execPath, builtCli];
const lwlog = (...args: string[]) => runAsync(process.execPath, [builtCli, ...args], { check: false });
const SIZE = 64 << 20;

/** Every process's command line, from /proc. */
function commandLines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

let rec: FsWorkloadLog;
beforeAll(async () => {
  if (!existsSync(builtCli)) throw new Error(`${builtCli} is missing: run npx turbo run build --filter=lwlog... first`);
  const dir = join(tmp.path, "ext4");
  mkdirSync(dir);
  rec = await fsWorkloadLog({ dir, lwlog: lwlogArgv, fs: "ext4", size: SIZE, mountOptions: "noinit_itable", recordOptions: ["--zeroes-as-discard"] });
}, 180_000);

describe("an ext4 workload recorded through lwlog record", () => {
  it("is a valid log with the workload's marks; replayed to each mark it is the served image at that mark", async () => {
    expect(rec.marks.map((m) => m.name)).toEqual(["mkfs", ...defaultFsWorkload().map((s) => s.mark), "umount", "lwlog-end"]);
    expect((await lwlog("check", rec.log)).status).toBe(0);
    const image = join(tmp.path, "marks.img");
    let prev: string | undefined;
    for (const m of rec.marks) {
      const r = await lwlog("replay", rec.log, "--to", image, "--size", String(SIZE), ...(prev ? ["--from-mark", prev] : []), "--until-mark", m.name);
      expect(r.status, r.stderr).toBe(0);
      expect(sha256File(image), `image at mark ${m.name}`).toBe(m.sha256);
      prev = m.name;
    }
    expect(sha256File(rec.image)).toBe(rec.marks.at(-1)!.sha256);
    const fsck = await runAsync("e2fsck", ["-fn", rec.image], { check: false });
    expect(fsck.status, fsck.stdout).toBe(0);
  });

  it("has no FUA entries (a loop device has no FUA: commits are a write between two flushes), and many flushes", () => {
    expect(rec.loopFua).toBe("0");
    const log = LogFile.openSync(rec.log);
    const kinds = { fua: 0, flush: 0, afterMkfs: 0 };
    const mkfs = rec.marks[0]!.entry;
    const c = log.cursor();
    for (let e = c.next(); e; e = c.next()) {
      if ((e.flags & LogFlags.FUA) !== 0n) kinds.fua += 1;
      if ((e.flags & LogFlags.FLUSH) !== 0n) {
        kinds.flush += 1;
        if (e.index > mkfs) kinds.afterMkfs += 1;
      }
    }
    log.close();
    expect(kinds.fua).toBe(0);
    expect(kinds.afterMkfs).toBeGreaterThanOrEqual(20);
  });

  it("lists the files each mark made durable, and they are in the image at that mark", async () => {
    const lines = rec.persisted;
    expect(lines.length).toBeGreaterThan(20);
    expect(lines).toContain("files: big");
    expect(lines).not.toContain("files: a/f0"); // renamed by the next step
    const image = join(tmp.path, "persisted.img");
    const byMark = new Map<string, string[]>();
    for (const l of lines) {
      const [mark, path] = l.split(": ") as [string, string];
      byMark.set(mark, [...(byMark.get(mark) ?? []), path]);
    }
    let prev: string | undefined;
    for (const [mark, paths] of byMark) {
      const leg = await lwlog("replay", rec.log, "--to", image, "--size", String(SIZE), ...(prev ? ["--from-mark", prev] : []), "--until-mark", mark);
      expect(leg.status, leg.stderr).toBe(0);
      prev = mark;
      // One debugfs session dumps every file of the mark.
      const out = join(tmp.path, `dumped-${mark}`);
      mkdirSync(out);
      const script = join(tmp.path, `dump-${mark}.txt`);
      writeFileSync(script, paths.map((p, i) => `dump /${p} ${join(out, String(i))}\n`).join(""));
      await runAsync("debugfs", ["-f", script, image]);
      paths.forEach((path, i) => expect(sha256File(join(out, String(i))), `${path} at ${mark}`).toBe(rec.files.get(mark)!.get(path)!.sha256));
    }
  });

  it("a workload that fails is reported with its step, and leaves no mount, loop device, FUSE mount or process", async () => {
    const dir = join(tmp.path, "failing");
    mkdirSync(dir);
    const steps = [
      { mark: "one", ops: [{ op: "write" as const, path: "x", size: 10, seed: 1 }] },
      { mark: "two", ops: [{ op: "rename" as const, from: "missing", to: "y" }] },
    ];
    await expect(fsWorkloadLog({ dir, lwlog: lwlogArgv, fs: "ext4", size: 32 << 20, steps })).rejects.toThrow(/workload step two: .*rename.*ENOENT/);
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(dir);
    expect((await runAsync("losetup", ["-j", join(dir, "fuse", "nbd")], { check: false })).stdout).toBe("");
    expect(commandLines().filter((c) => c.includes(dir))).toEqual([]);
  });
});
