import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { LogFile, LogFlags, LogIndex } from "@lwlog/codec";
import { buildReplayLog, repoRoot, requireTool, run, runAsync, xfstestsDir, type KernelLog } from "@lwlog/testkit";

// The proof with the peer's own code (replay-log-fstests*.test.ts): xfstests'
// common/dmlogwrites, sourced in bash by test-dmlogwrites.sh, drives lwlog's drop-in (the
// lwlog-replay-log that npm ci links into node_modules/.bin) and then the C replay-log built
// from xfstests' source, on a kernel log: the two must give the same entry numbers,
// byte-identical images and the same $seqres.full, and both must be right (the manifest's
// entries and images at every mark, lwlog's own list of FUA entries, clean file systems).

const script = join(dirname(fileURLToPath(import.meta.url)), "test-dmlogwrites.sh");
const dropIn = join(repoRoot, "node_modules", ".bin", "lwlog-replay-log");

/** The two replay-logs and xfstests' tree, ready in `scratch`. */
export interface Peers {
  xfstests: string;
  /** The C replay-log, built into `scratch`. */
  c: string;
  /** lwlog's drop-in, as npm ci links it. */
  lwlog: string;
  scratch: string;
}

/** Finds xfstests, builds its replay-log into `scratch`, and checks the drop-in is installed and built; throws (failing the tests) otherwise. */
export function setUpPeers(scratch: string): Peers {
  const xfstests = xfstestsDir();
  const c = buildReplayLog(scratch, xfstests);
  requireTool("bash");
  requireTool("e2fsck");
  if (!existsSync(dropIn)) throw new Error(`${dropIn} is missing: npm ci links it (apps/lwlog/package.json "bin"); run npm ci`);
  if (!existsSync(join(repoRoot, "apps/lwlog/dist/replay-log-main.js"))) throw new Error("lwlog is not built: run npm run build");
  return { xfstests, c, lwlog: dropIn, scratch };
}

/** What one run of test-dmlogwrites.sh left. */
export interface Driven {
  stdout: string;
  seqres: string;
  checks: string;
  /** `KEY SHA256` of the image at each mark (with `sha`). */
  sha: string;
  work: string;
}

let runs = 0;

/** Runs test-dmlogwrites.sh on `log` with `program` at fstests' `$here/src/log-writes/replay-log`. */
export async function drive(peers: Peers, log: KernelLog, program: string, options: { marks: string[]; entries: number[]; fscheck: boolean; loopMax: number; fuaChain?: boolean; sha?: boolean }): Promise<Driven> {
  const name = `run-${++runs}`;
  const here = join(peers.scratch, `${name}-here`);
  mkdirSync(join(here, "src", "log-writes"), { recursive: true });
  symlinkSync(program, join(here, "src", "log-writes", "replay-log"));
  const work = join(peers.scratch, `${name}-work`);
  mkdirSync(work);
  const env = {
    ...process.env,
    XFSTESTS: peers.xfstests,
    HERE: here,
    LOG: log.path,
    WORK: work,
    SIZE: String(log.data_device_bytes),
    MARKS: options.marks.join("\n"),
    ENTRIES: options.entries.join(" "),
    // Every FUA from entry 0 for the raw logs; in the others generic/482's loop walks them from mkfs.
    FUACHAIN: (options.fuaChain ?? log.workload === "raw") ? "1" : "0",
    LOOPMAX: String(options.loopMax),
    FSCHECK: options.fscheck && log.workload === "ext4" ? "ext4" : "none",
    SHA: options.sha ? "1" : "0",
  };
  const r = await runAsync("bash", [script], { env, timeoutMs: 900_000 });
  const read = (name: string) => readFileSync(join(work, name), "utf8");
  return { stdout: r.stdout, seqres: read("seqres.full"), checks: read("checks"), sha: read("sha"), work };
}

/**
 * Errors are lwlog's on one side and replay-log's own on the other (they reach $seqres.full
 * through `2>&1`): one placeholder for both. Every other line must match byte for byte.
 */
export function sameErrors(seqres: string): string {
  return seqres
    .split("\n")
    .map((l) => (/^lwlog: error: .* \[LWLOG_[A-Z_]+\]$/.test(l) || /^(Couldn't find entry|Couldn't find starting mark|Invalid entry number)$/.test(l) ? "<replay-log error>" : l))
    .join("\n");
}

/** The entries with the FUA flag, from lwlog's own index. */
function fuaEntries(log: KernelLog): number[] {
  const f = LogFile.openSync(log.path);
  try {
    const index = LogIndex.build(f, { tail: false });
    const out: number[] = [];
    for (let i = 0; i < index.length; i++) if (index.has(i, LogFlags.FUA)) out.push(i);
    return out;
  } finally {
    f.close();
  }
}

/** A name longer than the 4057 bytes replay-log compares: it cannot find it (a deliberate difference, checked apart). */
export const tooLongForReplayLog = (name: string) => name.length > 4057;

/** The key test-dmlogwrites.sh prints a mark under: its length and first 40 characters. */
export const markKey = (name: string) => `${name.length}:${name.slice(0, 40)}`;

/**
 * Drives both replay-logs through xfstests' functions on `log` and checks they agree and are
 * right. generic/482's loop stops after `loopMax` FUAs (0: at the last one).
 */
export async function proveOnLog(peers: Peers, log: KernelLog, loopMax: number): Promise<void> {
  const marks = log.marks.map((m) => m.name).filter((n) => !tooLongForReplayLog(n));
  const entries = [0, Math.floor(log.entries / 2), log.entries - 1, log.entries + 5];
  const [lw, c] = await Promise.all([
    drive(peers, log, peers.lwlog, { marks, entries, fscheck: true, loopMax, sha: true }),
    drive(peers, log, peers.c, { marks, entries, fscheck: false, loopMax }),
  ]);
  expect(lw.stdout).toBe(c.stdout);
  expect(sameErrors(lw.seqres)).toBe(sameErrors(c.seqres));
  expect(lw.seqres).toMatch(/^replaying \d+@\d+: sector \d+, size \d+, flags 0x[0-9a-f]+\([A-Z|]+\)$/m);

  const lines = lw.stdout.split("\n");
  const shas = lw.sha.split("\n");
  for (const m of log.marks.filter((x) => marks.includes(x.name))) {
    expect(lines).toContain(`mark ${markKey(m.name)} -> ${m.entry_index}`);
    expect(lines.find((l) => l.startsWith(`replay_log ${markKey(m.name)} `))).toMatch(new RegExp(`^replay_log \\S+  \\d+:${log.data_device_bytes}$`));
    expect(shas).toContain(`${markKey(m.name)} ${m.sha256}`);
  }
  expect(lines).toContain("mark nosuch-mark -> ");
  expect(lines.find((l) => l.startsWith("replay_log nosuch-mark"))).toMatch(/^replay_log nosuch-mark _fail: mark 'nosuch-mark' does not exist \d+:\d+$/);
  for (const e of entries) expect(lines.find((l) => l.startsWith(`range ${e} `))).toMatch(new RegExp(`^range ${e}  \\d+:${log.data_device_bytes}$`));
  const fuas = fuaEntries(log);
  const loop = lines.filter((l) => l.startsWith("482 "));
  if (log.workload === "raw") {
    expect(lines.filter((l) => l.startsWith("fua ")).map((l) => Number(l.slice(4)))).toEqual(fuas);
    expect(loop).toEqual(["482 status 1"]);
    expect(lines).toContain("_fail: failed to locate entry mark 'mkfs'");
    return;
  }
  const mkfs = log.marks.find((m) => m.name === "mkfs")!.entry_index;
  const after = fuas.filter((e) => e >= mkfs).slice(0, loopMax > 0 ? loopMax : undefined);
  expect(loop.slice(0, -2).map((l) => Number(l.split(" ")[1]))).toEqual(after);
  expect(loop.slice(-2)).toEqual(["482 done", "482 status 0"]);
  if (log.workload === "ext4") {
    // e2fsck finds every FUA point clean once the journal is recovered.
    expect(lw.checks.trim().split("\n")).toEqual(after.map((e) => `482 ${e} e2fsck 0`));
  } else {
    expect(xfsCleanAfterMount(peers, join(lw.work, "image"))).toBe(0);
  }
}

/**
 * xfs_repair -n on a copy of an XFS image after a loop mount has recovered its log (what
 * generic/482's mount does before its check): its exit status.
 */
function xfsCleanAfterMount(peers: Peers, image: string): number {
  const copy = `${image}.mounted`;
  copyFileSync(image, copy);
  const mnt = join(peers.scratch, `mnt-${++runs}`);
  mkdirSync(mnt);
  run("mount", ["-o", "loop", copy, mnt]);
  run("umount", [mnt]);
  return run(requireTool("xfs_repair"), ["-n", copy], { check: false }).status;
}
