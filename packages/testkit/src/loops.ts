import { existsSync } from "node:fs";
import { basename } from "node:path";
import { requireTool, run } from "./tools.js";

/** A loop device attached by `attachLoop`: its node, its partitions' nodes, and `detach`. */
export interface LoopDevice {
  path: string;
  /** `/dev/loopNpK` of each partition its partition table holds (with `partitions: true`). */
  partitions: string[];
  /** Detaches the device (idempotent); call it in `finally`/`afterAll`. */
  detach: () => void;
}

/**
 * Attaches `file` (a file or a block device) to a free loop device (found at run time, never
 * assumed), optionally a window of it (`offset`, `sizeLimit` in bytes) and with its
 * partitions scanned. Needs root.
 */
export function attachLoop(file: string, options: { offset?: number; sizeLimit?: number; partitions?: boolean } = {}): LoopDevice {
  requireTool("losetup");
  const args = ["--find", "--show"];
  if (options.offset !== undefined) args.push("--offset", String(options.offset));
  if (options.sizeLimit !== undefined) args.push("--sizelimit", String(options.sizeLimit));
  if (options.partitions) args.push("--partscan");
  const path = run("losetup", [...args, file]).stdout.trim();
  let attached = true;
  const detach = () => {
    if (!attached) return;
    attached = false;
    run("losetup", ["--detach", path], { check: false });
  };
  const partitions: string[] = [];
  if (options.partitions) {
    try {
      // The kernel's scan may lag behind losetup, and without udev nothing retries: ask partx.
      const name = basename(path);
      if (!existsSync(`/sys/block/${name}/${name}p1`)) run("partx", ["--add", path], { check: false });
      for (let k = 1; existsSync(`/sys/block/${name}/${name}p${k}`); k++) partitions.push(`${path}p${k}`);
    } catch (err) {
      detach();
      throw err;
    }
  }
  return { path, partitions, detach };
}
