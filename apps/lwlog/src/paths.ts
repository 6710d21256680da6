import { isAbsolute, resolve, sep } from "node:path";
import type { CliIo } from "./io.js";

/** A path from the command line, resolved against the CLI's working directory. */
export function resolvePath(io: CliIo, p: string): string {
  return isAbsolute(p) ? p : resolve(io.cwd, p);
}

/**
 * Short names for two files that tell them apart: the shortest trailing parts of their paths
 * that differ (`run1/disk.log` and `run2/disk.log`; `disk.log` and `disk2.log` when the base
 * names already differ), whole paths where the tail that differs is the whole of one
 * (`/x/disk.log`, `/y/x/disk.log`). The same file twice gets its base name twice.
 */
export function distinctNames(a: string, b: string): [string, string] {
  const pa = a.split(sep).filter((c) => c !== "");
  const pb = b.split(sep).filter((c) => c !== "");
  const name = (parts: string[], path: string, k: number) => (k >= parts.length ? path : parts.slice(-k).join(sep));
  // The first part, counting from the end, where the paths differ (one of them having run out).
  let k = 1;
  while (k <= Math.max(pa.length, pb.length) && pa[pa.length - k] === pb[pb.length - k]) k++;
  if (k > Math.max(pa.length, pb.length)) k = 1;
  return [name(pa, a, k), name(pb, b, k)];
}
