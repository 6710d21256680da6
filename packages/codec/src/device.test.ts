import { closeSync, linkSync, openSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachLoop, makeTempDir, type LoopDevice } from "@lwlog/testkit";
import { fallback, native, openAddon } from "@lwlog/native";
import { sharesStorage } from "./device.js";

/** A 4 MiB file with an MBR of two 1 MiB partitions, at 1 MiB and 2 MiB. */
function partitionedImage(path: string): void {
  const b = new Uint8Array(4 << 20);
  const v = new DataView(b.buffer);
  [2048, 4096].forEach((start, i) => {
    const o = 446 + 16 * i;
    b[o + 4] = 0x83;
    v.setUint32(o + 8, start, true);
    v.setUint32(o + 12, 2048, true);
  });
  b[510] = 0x55;
  b[511] = 0xaa;
  writeFileSync(path, b);
}

describe("sharesStorage: loop devices and partitions over a file, with real loop devices", () => {
  const tmp = makeTempDir("lwlog-device-");
  const log = join(tmp.path, "x.log");
  const other = join(tmp.path, "other.img");
  const loops: LoopDevice[] = [];
  const attach = (file: string, o: Parameters<typeof attachLoop>[1] = {}) => {
    const l = attachLoop(file, o);
    loops.push(l);
    return l;
  };
  beforeAll(() => {
    partitionedImage(log);
    writeFileSync(other, new Uint8Array(1 << 20));
  });
  afterAll(() => {
    for (const l of loops.reverse()) l.detach();
    tmp.cleanup();
  });
  const st = (p: string) => statSync(p);

  it("a loop device over the file shares it (both ways), one over another file does not", () => {
    const l = attach(log);
    expect(sharesStorage(st(l.path), st(log))).toBe(true);
    expect(sharesStorage(st(log), st(l.path))).toBe(true);
    expect(sharesStorage(st(attach(other).path), st(log))).toBe(false);
  });

  it("two loop devices over one file share it; a loop over a loop reaches the file", () => {
    const a = attach(log);
    const b = attach(log);
    expect(sharesStorage(st(a.path), st(b.path))).toBe(true);
    const stacked = attach(a.path);
    expect(sharesStorage(st(stacked.path), st(log))).toBe(true);
    expect(sharesStorage(st(stacked.path), st(other))).toBe(false);
  });

  it("windows of one file (--offset, --sizelimit) share it only where they overlap", () => {
    const first = attach(log, { sizeLimit: 1 << 20 });
    const second = attach(log, { offset: 1 << 20, sizeLimit: 1 << 20 });
    const both = attach(log, { offset: 512 << 10, sizeLimit: 1 << 20 });
    expect(sharesStorage(st(first.path), st(second.path))).toBe(false);
    expect(sharesStorage(st(first.path), st(both.path))).toBe(true);
    expect(sharesStorage(st(second.path), st(both.path))).toBe(true);
    expect(sharesStorage(st(second.path), st(log))).toBe(true);
  });

  it("a partition of a loop device over the file shares it; two partitions do not share each other", () => {
    const l = attach(log, { partitions: true });
    expect(l.partitions.length).toBe(2);
    const [p1, p2] = l.partitions as [string, string];
    expect(sharesStorage(st(p1), st(log))).toBe(true);
    expect(sharesStorage(st(p1), st(l.path))).toBe(true);
    expect(sharesStorage(st(p1), st(p2))).toBe(false);
    // A loop over the file's second MiB is partition 1's storage, not partition 2's.
    const window = attach(log, { offset: 1 << 20, sizeLimit: 1 << 20 });
    expect(sharesStorage(st(p1), st(window.path))).toBe(true);
    expect(sharesStorage(st(p2), st(window.path))).toBe(false);
  });

  it("finds the file by device and inode when its name is gone (renamed, or unlinked beside a hard link)", () => {
    const addon = openAddon(); // always built in CI; this project may run lwlog without it
    const name = join(tmp.path, "moving.log");
    writeFileSync(name, new Uint8Array(1 << 20));
    const l = attach(name);
    const renamed = join(tmp.path, "moved.log");
    renameSync(name, renamed);
    const link = join(tmp.path, "link.log");
    linkSync(renamed, link);
    rmSync(renamed);
    const fd = openSync(l.path, "r");
    try {
      expect(addon.loopBacking(fd)?.inode).toBe(statSync(link, { bigint: true }).ino);
      // sysfs keeps the first path, now " (deleted)": the fallback cannot tell (docs/cli.md says so).
      expect(fallback.loopBacking(fd)?.inode).toBeUndefined();
    } finally {
      closeSync(fd);
    }
    expect(sharesStorage(st(l.path), st(link))).toBe(native.available);
  });

  it("a file or device that is not a loop device has no backing", () => {
    for (const io of [native, fallback]) {
      const fd = openSync(log, "r");
      try {
        expect(io.loopBacking(fd)).toBeNull();
      } finally {
        closeSync(fd);
      }
    }
  });
});
