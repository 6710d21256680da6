import { readFileSync } from "node:fs";
import { join } from "node:path";
import { testDataDir } from "./files.js";

/** One mark of a kernel log, with the sha256 of the data device right after it. */
export interface KernelMark {
  name: string;
  entry_index: number;
  sha256: string;
  requested_name_length?: number;
}

/** One kernel log in `test-data/kernel/manifest.json`. */
export interface KernelLog {
  file: string;
  /** Absolute path of the log file. */
  path: string;
  workload: string;
  description: string;
  data_device_bytes: number;
  logical_sector_size: number;
  entries: number;
  superblock: { version: number; nr_entries: number; sectorsize: number };
  log_file_bytes: number;
  log_file_sha256: string;
  flag_counts: Record<string, number>;
  marks: KernelMark[];
}

/** `test-data/kernel/`: real logs written by Linux 6.1's dm-log-writes (see its README). */
export const kernelLogDir = join(testDataDir, "kernel");

/** The kernel logs and their ground truth, from `test-data/kernel/manifest.json`. */
export function kernelLogs(): KernelLog[] {
  const manifest = JSON.parse(readFileSync(join(kernelLogDir, "manifest.json"), "utf8")) as { logs: Omit<KernelLog, "path">[] };
  return manifest.logs.map((l) => ({ ...l, path: join(kernelLogDir, l.file) }));
}
