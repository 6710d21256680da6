import { readFileSync } from "node:fs";
import { join } from "node:path";
import { testDataDir } from "./files.js";
import type { FsWorkloadOptions, RecordedMark } from "./fs-workload.js";

/** How one log of `test-data/recorded/` is made: `fsWorkloadLog` with these options. */
export interface RecordedLogRecipe {
  /** Base name: `NAME.log` and `NAME.persisted`. */
  name: string;
  description: string;
  options: Omit<FsWorkloadOptions, "dir" | "lwlog">;
}

/**
 * mkfs.xfs (6.1) refuses filesystems under 300 MB and logs under 64 MB ("not supported")
 * unless these variables are set, as fstests sets them for its small test filesystems; its
 * log, which mkfs zeroes, is then 857 blocks (with reflink off) instead of 64 MiB.
 */
export const XFS_SMALL_FS_ENV = { TEST_DIR: "/nonexistent", TEST_DEV: "/nonexistent", QA_CHECK_FS: "xfs" };

/**
 * The recipes of `test-data/recorded/` (re-recorded by `scripts/record-fs-logs.mjs`). Every
 * one uses `defaultFsWorkload()` on a 64 MiB image, `lwlog record --zeroes-as-discard` (mkfs
 * zeroes its journal or log with write-zeroes requests: as DISCARD entries they cost no log
 * bytes and replay to the same zeros), and ext4's `noinit_itable` (no background inode-table
 * zeroing, whose writes and flush would land at random points).
 */
export const recordedLogRecipes: readonly RecordedLogRecipe[] = [
  {
    name: "ext4",
    description: "ext4 (mkfs.ext4 defaults: 1 KiB blocks and a 4 MiB journal at this size), mounted with barriers (the default)",
    options: { fs: "ext4", size: 64 << 20, mountOptions: "noinit_itable", recordOptions: ["--zeroes-as-discard"] },
  },
  {
    name: "ext4-nobarrier",
    description: "the same, mounted -o barrier=0: no FLUSH entry after mkfs's, so a crash may keep any subset of the later writes",
    options: { fs: "ext4", size: 64 << 20, mountOptions: "barrier=0,noinit_itable", recordOptions: ["--zeroes-as-discard"] },
  },
  {
    name: "xfs",
    description: "xfs (mkfs.xfs -m reflink=0 under fstests' small-filesystem variables), mounted with defaults",
    options: {
      fs: "xfs",
      size: 64 << 20,
      mkfsOptions: ["-q", "-f", "-m", "reflink=0"],
      mkfsEnv: XFS_SMALL_FS_ENV,
      recordOptions: ["--zeroes-as-discard"],
    },
  },
];

/** A file of the workload at a mark. */
export interface RecordedFile {
  path: string;
  size: number;
  sha256: string;
}

/** One log of `test-data/recorded/manifest.json`. */
export interface RecordedLog {
  name: string;
  /** Absolute paths of the log and of its `--persisted` list. */
  path: string;
  persistedPath: string;
  description: string;
  fs: "ext4" | "xfs";
  imageBytes: number;
  mountOptions: string | null;
  mkfsOptions: string[];
  recordOptions: string[];
  entries: number;
  logBytes: number;
  logSha256: string;
  /** `lwlog info --json`'s counts: write, flush, fua, discard, mark, metadata, none. */
  counts: Record<string, number>;
  /** Every mark, with the sha256 of the image right after it. */
  marks: RecordedMark[];
  /** The workload's files at each mark, by mark name. */
  files: Record<string, RecordedFile[]>;
  /** The loop device's `queue/fua` while recording. */
  loopFua: string;
  recordedWith: { kernel: string; tools: Record<string, string> };
}

/** `test-data/recorded/`: filesystem workloads recorded through `lwlog record` (see its README). */
export const recordedLogDir = join(testDataDir, "recorded");

/** The recorded logs and their ground truth, from `test-data/recorded/manifest.json`. */
export function recordedLogs(): RecordedLog[] {
  const manifest = JSON.parse(readFileSync(join(recordedLogDir, "manifest.json"), "utf8")) as { logs: Omit<RecordedLog, "path" | "persistedPath">[] };
  return manifest.logs.map((l) => ({ ...l, path: join(recordedLogDir, `${l.name}.log`), persistedPath: join(recordedLogDir, `${l.name}.persisted`) }));
}

/** One recorded log by name (throws when the manifest has none). */
export function recordedLog(name: string): RecordedLog {
  const found = recordedLogs().find((l) => l.name === name);
  if (!found) throw new Error(`test-data/recorded has no log named ${name}`);
  return found;
}
