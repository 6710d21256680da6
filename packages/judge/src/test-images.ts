/**
 * Test helpers of @lwlog/judge (not part of the published package): real file systems made
 * with mkfs, written by the kernel through a loop device, and "crashed": the image copied
 * while still mounted, right after an fsync, as a power cut would have left the disk
 * (journal or log committed, not yet written home).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { randomBytes, requireTool, run } from "@lwlog/testkit";

/** The files every workload writes: name → content. */
export function workloadFiles(): Map<string, Uint8Array> {
  return new Map([
    ["a.txt", new TextEncoder().encode("durable a\n")],
    ["dir/b.bin", randomBytes(300_000, 11)],
    ["dir/name with \"quotes\" and spaces", randomBytes(5000, 12)],
  ]);
}

/**
 * Makes a `bytes`-byte image of `fs` at `path` (mkfs.xfs wants at least 300 MB), mounts it, writes `workloadFiles()` with an
 * fsync each (and a symlink), and copies the image to `crashed` while it is still mounted.
 * The original is then unmounted cleanly. Returns nothing: the files are on disk.
 */
export function makeCrashedImage(fs: "ext4" | "xfs" | "btrfs", path: string, crashed: string, bytes = fs === "xfs" ? 320 << 20 : 128 << 20): void {
  for (const t of [`mkfs.${fs}`, "losetup", "mount", "umount", "python3"]) requireTool(t);
  writeFileSync(path, new Uint8Array(0));
  run("truncate", ["-s", String(bytes), path]);
  run(`mkfs.${fs}`, fs === "ext4" ? ["-q", "-F", path] : ["-q", "-f", path]);
  const mnt = `${path}.mnt`;
  mkdirSync(mnt);
  const dev = run("losetup", ["--find", "--show", path]).stdout.trim();
  try {
    run("mount", ["-t", fs, ...(fs === "xfs" ? ["-o", "nouuid"] : []), dev, mnt]);
    try {
      // One process writes, fsyncs and copies the device's backing file at once, so no
      // background writeback lands between the last fsync and the copy.
      const files = [...workloadFiles()].map(([name, data], i) => {
        const source = `${path}.source-${i}`;
        writeFileSync(source, data);
        return { name, source };
      });
      const script = [
        "import os, shutil, sys",
        `mnt, image, crashed = ${JSON.stringify(mnt)}, ${JSON.stringify(path)}, ${JSON.stringify(crashed)}`,
        `files = ${JSON.stringify(files.map((f) => [f.name, f.source]))}`,
        "os.makedirs(os.path.join(mnt, 'dir'), exist_ok=True)",
        "for name, source in files:",
        "    data = open(source, 'rb').read()",
        "    fd = os.open(os.path.join(mnt, name), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)",
        "    os.write(fd, data)",
        "    os.fsync(fd)",
        "    os.close(fd)",
        "os.symlink('a.txt', os.path.join(mnt, 'link'))",
        "d = os.open(mnt, os.O_RDONLY); os.fsync(d); d2 = os.open(os.path.join(mnt, 'dir'), os.O_RDONLY); os.fsync(d2); os.fsync(d)",
        "shutil.copyfile(image, crashed)",
      ].join("\n");
      run("python3", ["-c", script]);
    } finally {
      run("umount", [mnt]);
    }
  } finally {
    run("losetup", ["--detach", dev]);
  }
}
