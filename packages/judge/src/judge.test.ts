import { copyFileSync, openSync, closeSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, requireTool, run, sha256 } from "@lwlog/testkit";
import { detectFileSystems } from "./detect.js";
import { judgeExt4 } from "./ext4.js";
import { readFiles } from "./files.js";
import { fsJudge } from "./judge.js";
import { makeCrashedImage, workloadFiles } from "./test-images.js";

const tmp = makeTempDir("lwlog-judge-");
afterAll(() => tmp.cleanup());
const crashed = (fs: string) => join(tmp.path, `${fs}-crashed.img`);

beforeAll(() => {
  for (const t of ["e2fsck", "debugfs", "dumpe2fs", "xfs_repair", "btrfs", "mkfs.btrfs", "mkfs.xfs"]) requireTool(t);
  for (const fs of ["ext4", "xfs", "btrfs"] as const) makeCrashedImage(fs, join(tmp.path, `${fs}.img`), crashed(fs));
}, 120_000);

/** A copy of `image` to judge (judges write: recovery replays the journal into the image). */
function view(image: string, name: string): string {
  const v = join(tmp.path, `${name}.view`);
  copyFileSync(image, v);
  return v;
}

function overwrite(file: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** ext4 journal geometry of a crashed image: block size, the journal's first block, and its transactions' block ranges (journal-relative). */
function journal(image: string): { blockSize: number; start: number; transactions: { descriptor: number; commit: number }[] } {
  const blockSize = Number(/Block size:\s+(\d+)/.exec(run("dumpe2fs", ["-h", image], { check: false }).stdout)![1]);
  const start = Number(run("debugfs", ["-c", "-R", "bmap <8> 0", image]).stdout.trim());
  const dump = run("debugfs", ["-c", "-R", "logdump", image]).stdout;
  const transactions: { descriptor: number; commit: number }[] = [];
  let descriptor = -1;
  for (const m of dump.matchAll(/type (\d) \((descriptor|commit) block\) at block (\d+)/g)) {
    if (m[2] === "descriptor") descriptor = Number(m[3]);
    else if (descriptor >= 0) transactions.push({ descriptor, commit: Number(m[3]) });
  }
  return { blockSize, start, transactions };
}

describe.each(["kernel", "e2fsck"] as const)("the ext4 judge, journal recovered by %s", (recovery) => {
  it("passes a crashed state whose journal holds committed, unreplayed transactions (which e2fsck -fn alone does not recover)", async () => {
    const image = crashed("ext4");
    expect(run("dumpe2fs", ["-h", image], { check: false }).stdout).toMatch(/needs_recovery/);
    expect(journal(image).transactions.length).toBeGreaterThan(0);
    const v = await fsJudge("ext4", { ext4Recovery: recovery })({ image: view(image, `ext4-ok-${recovery}`) });
    expect(v).toMatchObject({ ok: true, fs: "ext4", step: "done" });
    expect(v.summary).toContain(recovery === "kernel" ? "journal recovered by the kernel (mount, umount)" : "journal recovered by e2fsck -E journal_only");
  });

  it("fails an image with a corrupted inode table (the check finds it)", async () => {
    const image = view(crashed("ext4"), `ext4-bad-${recovery}`);
    // Garbage over the first inode table block (its location from the group descriptor).
    const table = Number(/Inode table at (\d+)/.exec(run("dumpe2fs", [image], { check: false }).stdout)![1]);
    const bs = journal(image).blockSize;
    overwrite(image, table * bs + 256, new Uint8Array(4096).fill(0xa5));
    const v = await judgeExt4({ image }, { recovery });
    expect(v.ok).toBe(false);
    expect(v.step === "check" || v.step === "recovery").toBe(true);
  });

  it("fails a journal whose data block lost its content under a kept commit block (the kernel refuses to mount it); e2fsck -f would have passed it", async () => {
    const image = crashed("ext4");
    const j = journal(image);
    const t = j.transactions.find((x) => x.commit - x.descriptor >= 2)!;
    const bad = view(image, `ext4-jdata-${recovery}`);
    overwrite(bad, (j.start + t.descriptor + 1) * j.blockSize, new Uint8Array(j.blockSize).fill(0x5a));
    const forced = view(bad, `ext4-jdata-forced-${recovery}`);
    const v = await judgeExt4({ image: bad }, { recovery });
    expect(v).toMatchObject({ ok: false, step: "recovery" });
    if (recovery === "kernel") {
      expect(v.summary).toMatch(/^the kernel cannot mount it \(journal recovery\)/);
      expect(v.output).toMatch(/journal/i);
    } else {
      expect(v.summary).toMatch(/checksum/i);
    }
    // The trap the judge avoids: with -f, journal_only turns into a full repairing check, after which -fn is clean.
    run("e2fsck", ["-f", "-y", "-E", "journal_only", forced], { check: false });
    expect(run("e2fsck", ["-fn", forced], { check: false }).status).toBe(0);
  });

  it("fails a state whose superblock says the file system has errors", async () => {
    const image = view(join(tmp.path, "ext4.img"), `ext4-errors-${recovery}`);
    run("debugfs", ["-w", "-R", "ssv state 3", image]);
    expect(run("e2fsck", ["-fn", image], { check: false }).status).toBe(0); // e2fsck -fn alone passes it
    const v = await judgeExt4({ image }, { recovery });
    expect(v).toMatchObject({ ok: false, step: "recovery" });
    expect(v.summary).toMatch(/EXT2_ERROR_FS/);
  });
});

describe("the ext4 judge's e2fsck recovery", () => {
  it("fails a journal whose last commit block has a corrupt header (e2fsck drops the transaction and flags the file system)", async () => {
    const image = crashed("ext4");
    const j = journal(image);
    const last = j.transactions[j.transactions.length - 1]!;
    const bad = view(image, "ext4-jcommit");
    overwrite(bad, (j.start + last.commit) * j.blockSize + 40, new Uint8Array(8).fill(0x77));
    const v = await judgeExt4({ image: bad }, { recovery: "e2fsck" });
    expect(v).toMatchObject({ ok: false, step: "recovery" });
    expect(v.output).toMatch(/corrupt/);
  });
});

describe.each(["xfs", "btrfs"] as const)("the %s judge", (fs) => {
  it("passes a crashed state after the kernel's recovery (mount, umount), which the read-only check alone may not", async () => {
    if (fs === "xfs") expect(run("xfs_repair", ["-n", view(crashed(fs), "xfs-raw")], { check: false }).status).not.toBe(0);
    if (fs === "btrfs") expect(run("btrfs", ["inspect-internal", "dump-super", crashed(fs)]).stdout).toMatch(/^log_root\s+[1-9]/m);
    const v = await fsJudge(fs)({ image: view(crashed(fs), `${fs}-ok`) });
    expect(v).toMatchObject({ ok: true, fs, step: "done" });
  });

  it("fails a state with corrupted metadata", async () => {
    const image = view(join(tmp.path, `${fs}.img`), `${fs}-bad`);
    // xfs: the AG 0 free space and inode headers (sectors 1-3); btrfs: the root tree's node,
    // in every copy (metadata is DUP: one bad copy is healed from the other).
    if (fs === "xfs") overwrite(image, 512, new Uint8Array(3 * 512).fill(0x33));
    else {
      const root = Number(/^root\s+(\d+)/m.exec(run("btrfs", ["inspect-internal", "dump-super", image]).stdout)![1]);
      for (const physical of btrfsPhysical(image, root)) overwrite(image, physical + 200, new Uint8Array(1000).fill(0x44));
    }
    const v = await fsJudge(fs)({ image });
    expect(v.ok).toBe(false);
    expect(v.fs).toBe(fs);
    expect(v.summary).toMatch(/^the kernel cannot mount it|^xfs_repair -n after log recovery|^btrfs check --readonly after log tree replay/);
    if (v.step === "recovery") expect(v.output).toMatch(/mount/);
  });
});

/** The physical offsets of every copy of a btrfs logical address, from the chunk tree (dump-tree's text). */
function btrfsPhysical(image: string, logical: number): number[] {
  const dump = run("btrfs", ["inspect-internal", "dump-tree", "-t", "chunk", image]).stdout;
  for (const item of dump.split(/(?=\titem \d+ key)/)) {
    const m = /key \(FIRST_CHUNK_TREE CHUNK_ITEM (\d+)\)[\s\S]*?length (\d+)/.exec(item);
    if (m === null) continue;
    const start = Number(m[1]);
    if (logical < start || logical >= start + Number(m[2])) continue;
    return [...item.matchAll(/stripe \d+ devid \d+ offset (\d+)/g)].map((s) => Number(s[1]) + (logical - start));
  }
  throw new Error(`no chunk maps logical ${logical}`);
}

describe("detectFileSystems and fsJudge auto", () => {
  it("finds each file system from its superblock magic, and nothing in zeros", async () => {
    for (const fs of ["ext4", "xfs", "btrfs"] as const) expect(await detectFileSystems(crashed(fs))).toEqual([fs]);
    const zeros = join(tmp.path, "zeros.img");
    run("truncate", ["-s", "1M", zeros]);
    expect(await detectFileSystems(zeros)).toEqual([]);
    const v = await fsJudge("auto")({ image: zeros });
    expect(v).toMatchObject({ ok: false, step: "detect" });
    expect(v.summary).toMatch(/no ext4, xfs or btrfs superblock/);
    for (const fs of ["ext4", "xfs", "btrfs"] as const) expect(await fsJudge("auto")({ image: view(crashed(fs), `${fs}-auto`) })).toMatchObject({ ok: true, fs });
  });
});

describe("readFiles", () => {
  it.each(["ext4", "xfs", "btrfs"] as const)("reads what fsync made durable from a recovered %s state: existence, type, size, content hash", async (fs) => {
    const image = view(crashed(fs), `${fs}-files`);
    expect((await fsJudge(fs)({ image })).ok).toBe(true);
    const files = workloadFiles();
    const facts = await readFiles(image, fs, [...files.keys(), "link", "dir", "missing/file", "/a.txt"]);
    const byPath = new Map(facts.map((f) => [f.path, f]));
    for (const [name, data] of files) {
      const f = byPath.get(`/${name}`)!;
      expect({ ...f, content: undefined }).toEqual({ path: `/${name}`, exists: true, type: "file", size: data.length, sha256: sha256(data), content: undefined });
      expect(Buffer.from(f.content!).equals(Buffer.from(data))).toBe(true);
    }
    expect(byPath.get("/link")).toMatchObject({ exists: true, type: "symlink", target: "a.txt" });
    expect(byPath.get("/dir")).toMatchObject({ exists: true, type: "directory" });
    expect(byPath.get("/missing/file")).toEqual({ path: "/missing/file", exists: false });
    expect(facts[facts.length - 1]).toMatchObject({ path: "/a.txt", exists: true });
  });

  it("reads ext4 files in one debugfs session: a path through a file is missing, an image it cannot open is an error, not a verdict", async () => {
    const image = view(crashed("ext4"), "ext4-files-edges");
    expect((await fsJudge("ext4")({ image })).ok).toBe(true);
    const facts = await readFiles(image, "ext4", ["a.txt/x", "dir/b.bin", "nothing", "dir/b.bin"]);
    expect(facts.map((f) => [f.path, f.exists, f.size])).toEqual([
      ["/a.txt/x", false, undefined],
      ["/dir/b.bin", true, 300_000],
      ["/nothing", false, undefined],
      ["/dir/b.bin", true, 300_000],
    ]);
    const zeros = join(tmp.path, "zeros-files.img");
    run("truncate", ["-s", "4M", zeros]);
    await expect(readFiles(zeros, "ext4", ["a.txt"])).rejects.toThrow(/debugfs stat \/a.txt said nothing: .*Bad magic number/s);
  });

  it("refuses paths it cannot name (newline, ..)", async () => {
    await expect(readFiles(crashed("ext4"), "ext4", ["a\nb"])).rejects.toThrow(/newline/);
    await expect(readFiles(crashed("ext4"), "ext4", ["../etc"])).rejects.toThrow(/"\.\."/);
  });
});
