import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, openSync, closeSync, writeSync, ftruncateSync, mkdirSync } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, mountReflinkDir, randomBytes, requireTool, run, runAsync, sha256, sha256File, sha256FileAsync, type MountedDir } from "@lwlog/testkit";
import { ScratchError } from "./errors.js";
import { loopDevicesOf } from "./loop.js";
import { ScratchSpace } from "./scratch.js";
import type { ScratchView, ViewStrategy } from "./views.js";

const MiB = 1 << 20;
const tmp = makeTempDir("lwlog-scratch-");
let xfs: MountedDir;

beforeAll(() => {
  for (const t of ["nbdfuse", "fusermount3", "mkfs.ext4", "e2fsck", "losetup", "mount"]) requireTool(t);
  xfs = mountReflinkDir(512 * MiB, "lwlog-scratch-xfs-");
});
afterAll(() => {
  xfs?.cleanup();
  tmp.cleanup();
});

/** A sparse 16 MiB base: random data at 1 MiB and 9 MiB, holes elsewhere. Returns its expected bytes. */
function makeBase(path: string): Uint8Array {
  const bytes = new Uint8Array(16 * MiB);
  const fd = openSync(path, "wx");
  try {
    ftruncateSync(fd, bytes.length);
    for (const [at, seed] of [[MiB, 1], [9 * MiB, 2]] as const) {
      const data = randomBytes(MiB, seed);
      writeSync(fd, data, 0, data.length, at);
      bytes.set(data, at);
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/** A scratch space that uses `strategy` for every view (reflink: in the XFS). */
async function spaceFor(strategy: ViewStrategy, name: string): Promise<{ space: ScratchSpace; base: string; bytes: Uint8Array }> {
  const space = await ScratchSpace.open({ strategy, ...(strategy === "reflink" ? { dir: xfs.path } : { dir: tmp.path }) });
  const base = space.path(`${name}.img`);
  return { space, base, bytes: makeBase(base) };
}

function noLeftovers(space: ScratchSpace, view: ScratchView, image: string | undefined): void {
  expect(space.liveViews).toBe(0);
  if (image !== undefined) expect(loopDevicesOf(image)).toEqual([]);
  expect(readdirSync(space.dir).filter((n) => n.startsWith("view-"))).toEqual([]);
  const mounts = readFileSync("/proc/self/mountinfo", "utf8");
  expect(mounts.includes(space.dir)).toBe(false);
  void view;
}

describe.each(["reflink", "overlay", "copy"] as const)("a %s view", (strategy) => {
  it("holds the base plus its own writes and zeros; a checker's writes through the file never reach the base", async () => {
    const { space, base, bytes } = await spaceFor(strategy, "rw");
    const before = sha256File(base);
    const view = await space.view(base);
    expect(view.strategy).toBe(strategy);
    let image: string | undefined;
    try {
      const extra = randomBytes(10_000, 5);
      view.write(MiB + 100, extra);
      view.zero(9 * MiB + 4096, 3 * 4096);
      const expected = Uint8Array.from(bytes);
      expected.set(extra, MiB + 100);
      expected.fill(0, 9 * MiB + 4096, 9 * MiB + 4 * 4096);
      const got = new Uint8Array(expected.length);
      view.readInto(got, 0);
      expect(sha256(got)).toBe(sha256(expected));
      ({ image } = await view.expose());
      expect(image).toBeDefined();
      expect(() => view.write(0, new Uint8Array(1))).toThrow(/exposed/);
      // The file other programs see is the view; a program writing to it changes the view only.
      expect(await sha256FileAsync(image!)).toBe(sha256(expected));
      await runAsync("dd", ["if=/dev/urandom", `of=${image}`, "bs=4096", "count=16", "seek=100", "conv=notrunc,fsync", "status=none"]);
      expect(await sha256FileAsync(image!)).not.toBe(sha256(expected));
      expect(sha256File(base)).toBe(before);
      expect((await stat(image!)).size).toBe(16 * MiB);
    } finally {
      await view.dispose();
    }
    expect(sha256File(base)).toBe(before);
    noLeftovers(space, view, image);
    await space.close();
    expect(existsSync(space.dir)).toBe(false);
  });

  it("can be mounted (ext4 on a loop device) and written by the kernel; the base is unchanged, and a mount left behind is cleaned up", async () => {
    const { space, base } = await spaceFor(strategy, "fs");
    run("mkfs.ext4", ["-q", "-F", "-b", "4096", base]);
    const before = sha256File(base);
    const view = await space.view(base);
    const mnt = join(tmp.path, `mnt-${strategy}`);
    mkdirSync(mnt);
    let image: string | undefined;
    try {
      ({ image } = await view.expose());
      const dev = (await runAsync("losetup", ["--find", "--show", image!])).stdout.trim();
      await runAsync("mount", ["-t", "ext4", dev, mnt]);
      await writeFile(join(mnt, "hello"), "from the checker");
      await runAsync("sync", ["-f", join(mnt, "hello")]);
      // Left mounted on purpose: dispose must unmount and detach what the checker left.
      expect(loopDevicesOf(image!)).toEqual([dev]);
    } finally {
      await view.dispose();
    }
    expect(sha256File(base)).toBe(before);
    expect(run("e2fsck", ["-fn", base], { check: false }).status).toBe(0);
    noLeftovers(space, view, image);
    await space.close();
  });
});

describe("ScratchSpace", () => {
  it("serves a view over NBD too ({nbd}), for every strategy", async () => {
    for (const strategy of ["reflink", "overlay", "copy"] as const) {
      const { space, base, bytes } = await spaceFor(strategy, "nbd");
      const view = await space.view(base);
      try {
        const { nbd, image } = await view.expose({ nbd: true, image: false });
        expect(image).toBeUndefined();
        expect(nbd).toMatch(/^nbd\+unix:\/\/\/view\?socket=\//);
        const out = join(tmp.path, `nbd-${strategy}.img`);
        await runAsync("nbdcopy", [nbd!, out]);
        expect(sha256File(out)).toBe(sha256(bytes));
        await runAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 0 4096", nbd!]);
        const first = new Uint8Array(4096);
        view.readInto(first, 0);
        expect(first.every((b) => b === 0x5a)).toBe(true);
      } finally {
        await view.dispose();
      }
      expect(sha256File(base)).toBe(sha256(bytes));
      await space.close();
    }
  });

  it("auto: reflink where the scratch directory clones, else a copy of a small base and an overlay of a large one", async () => {
    const onXfs = await ScratchSpace.open({ dir: xfs.path });
    expect(onXfs.canClone).toBe(true);
    const b1 = onXfs.path("base.img");
    makeBase(b1);
    expect(onXfs.choose(b1).strategy).toBe("reflink");
    // A base on another file system cannot be cloned into this one.
    const elsewhere = join(tmp.path, "elsewhere.img");
    makeBase(elsewhere);
    expect(onXfs.choose(elsewhere).strategy).toBe("copy");
    await onXfs.close();

    const onExt4 = await ScratchSpace.open({ dir: tmp.path, copyLimit: MiB });
    expect(onExt4.canClone).toBe(false);
    expect(onExt4.choose(elsewhere).strategy).toBe("overlay"); // 2 MiB allocated > 1 MiB
    const small = join(tmp.path, "small.img");
    writeFileSync(small, randomBytes(64 << 10, 3));
    expect(onExt4.choose(small).strategy).toBe("copy");
    await onExt4.close();

    // `near`: the scratch directory goes beside a base whose file system clones.
    const nearBase = join(xfs.path, "near.img");
    makeBase(nearBase);
    const near = await ScratchSpace.open({ near: nearBase });
    expect(near.canClone).toBe(true);
    expect(near.dir.startsWith(join(xfs.path, ".near.img.lwlog-views-"))).toBe(true);
    expect(near.choose(nearBase).strategy).toBe("reflink");
    await near.close();
    const nearExt4 = await ScratchSpace.open({ near: elsewhere });
    expect(nearExt4.canClone).toBe(false);
    expect(readdirSync(tmp.path).some((n) => n.startsWith(".elsewhere.img.lwlog-views-"))).toBe(false);
    await nearExt4.close();
  });

  it("a copy view is sparse: it allocates what the base allocates, not its size", async () => {
    const space = await ScratchSpace.open({ dir: tmp.path, strategy: "copy" });
    const base = join(tmp.path, "sparse-base.img");
    const fd = openSync(base, "wx");
    ftruncateSync(fd, 64 * MiB);
    writeSync(fd, randomBytes(MiB, 9), 0, MiB, 40 * MiB);
    closeSync(fd);
    const view = await space.view(base);
    try {
      const { image } = await view.expose();
      expect((await stat(image!)).size).toBe(64 * MiB);
      expect((await stat(image!)).blocks * 512).toBeLessThanOrEqual(4 * MiB);
      expect(await sha256FileAsync(image!)).toBe(sha256File(base));
    } finally {
      await view.dispose();
    }
    await space.close();
  });

  it("refuses a reflink strategy where files cannot be cloned, saying what would work", async () => {
    const dirs = () => readdirSync(tmp.path).filter((n) => n.startsWith("lwlog-views-")).length;
    const before = dirs();
    const err = await ScratchSpace.open({ dir: tmp.path, strategy: "reflink" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScratchError);
    expect((err as ScratchError).code).toBe("LWLOG_VIEW_UNSUPPORTED");
    expect((err as Error).message).toMatch(/cannot clone files .*xfs .*btrfs.*overlay, copy/);
    expect(dirs()).toBe(before);
  });

  it("refuses a reflink strategy whose scratch directory is on another file system than the base, before any view", async () => {
    const err = await ScratchSpace.open({ dir: xfs.path, near: join(tmp.path, "on-ext4.img"), strategy: "reflink" }).catch((e: unknown) => e);
    expect((err as ScratchError).code).toBe("LWLOG_VIEW_UNSUPPORTED");
    expect((err as Error).message).toMatch(/same file system/);
    const ok = await ScratchSpace.open({ dir: xfs.path, near: join(xfs.path, "on-xfs.img"), strategy: "reflink" });
    await ok.close();
  });

  it("close() disposes the views still alive (an overlay with its FUSE mount included)", async () => {
    const { space, base } = await spaceFor("overlay", "close");
    const view = await space.view(base);
    const { image } = await view.expose();
    expect((await stat(image!)).isFile()).toBe(true);
    await space.close();
    expect(space.liveViews).toBe(0);
    expect(existsSync(space.dir)).toBe(false);
    expect(readFileSync("/proc/self/mountinfo", "utf8").includes(space.dir)).toBe(false);
  });
});
