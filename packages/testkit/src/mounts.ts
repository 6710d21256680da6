import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "./files.js";
import { requireTool, run } from "./tools.js";

/** A directory on a file system of its own, loop-mounted from an image file (root only). */
export interface MountedDir {
  /** The mounted directory. */
  path: string;
  /** The loop device under it. */
  device: string;
  /** Unmounts, detaches the loop device and removes the image (idempotent). */
  cleanup: () => void;
}

/**
 * An XFS with reflink (`mkfs.xfs -m reflink=1`) of `bytes` bytes, loop-mounted on a fresh
 * directory: a file system where files can be cloned (FICLONE), which /tmp (ext4) cannot.
 * Needs root and loop devices; the loop device is found free at run time, never assumed.
 */
export function mountReflinkDir(bytes = 1 << 30, prefix = "lwlog-xfs-"): MountedDir {
  for (const t of ["mkfs.xfs", "losetup", "mount", "umount"]) requireTool(t);
  const tmp = makeTempDir(prefix);
  const image = join(tmp.path, "xfs.img");
  const path = join(tmp.path, "mnt");
  mkdirSync(path);
  writeFileSync(image, new Uint8Array(0));
  run("truncate", ["-s", String(bytes), image]);
  run("mkfs.xfs", ["-q", "-m", "reflink=1", image]);
  const device = run("losetup", ["--find", "--show", image]).stdout.trim();
  let mounted = false;
  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    if (mounted) run("umount", [path], { check: false });
    run("losetup", ["--detach", device], { check: false });
    rmSync(tmp.path, { recursive: true, force: true });
  };
  try {
    run("mount", ["-t", "xfs", device, path]);
    mounted = true;
  } catch (err) {
    cleanup();
    throw err;
  }
  return { path, device, cleanup };
}
