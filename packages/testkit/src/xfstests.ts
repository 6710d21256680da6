import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { repoRoot } from "./files.js";
import { requireTool, run } from "./tools.js";

/**
 * xfstests' own files, for tests that prove lwlog against its peer: `common/dmlogwrites` (the
 * shell functions fstests drives replay-log with) and `src/log-writes/` (replay-log's C
 * source). They are GPL-2.0 and never part of this repository: tests read, build and run
 * them where they lie, from a scratch folder.
 */

/** Files of the xfstests tree the tests use. */
const NEEDED = ["common/dmlogwrites", "src/log-writes/replay-log.c", "src/log-writes/log-writes.c", "src/log-writes/log-writes.h"];

/**
 * The xfstests tree: `$LWLOG_XFSTESTS` when set, else the first `shared/peers/xfstests`
 * beside the checkout or beside one of its parent folders (this project's CI lays its
 * `shared/` folder beside the clone it tests, and its developers' worktrees sit below it).
 * Throws, failing the test, when there is none: a proof against the peer never passes
 * without the peer.
 */
export function xfstestsDir(): string {
  const given = process.env.LWLOG_XFSTESTS;
  const candidates: string[] = [];
  if (given !== undefined && given !== "") candidates.push(resolve(given));
  else {
    for (let dir = dirname(repoRoot); ; dir = dirname(dir)) {
      candidates.push(join(dir, "shared", "peers", "xfstests"));
      if (dirname(dir) === dir) break;
    }
  }
  const found = candidates.find((c) => NEEDED.every((f) => existsSync(join(c, f))));
  if (found !== undefined) return found;
  throw new Error(
    `xfstests' files (${NEEDED.join(", ")}) are not there: looked in ${given ? `LWLOG_XFSTESTS=${given}` : candidates.join(", ")}. ` +
      "Set LWLOG_XFSTESTS to an xfstests (fstests) checkout; this project's CI lays shared/peers/xfstests beside its clone.",
  );
}

/**
 * Builds xfstests' `replay-log` from `xfstests/src/log-writes` with `cc` into `folder` (a
 * scratch folder the caller removes) and returns the program's path.
 */
export function buildReplayLog(folder: string, xfstests: string = xfstestsDir()): string {
  const cc = requireTool("cc");
  const src = join(xfstests, "src", "log-writes");
  const out = join(folder, "replay-log");
  run(cc, ["-O2", "-o", out, join(src, "replay-log.c"), join(src, "log-writes.c")]);
  return out;
}
