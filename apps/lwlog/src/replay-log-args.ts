import type { CheckRule } from "@lwlog/replay";
import { UsageError } from "./errors.js";
import { getoptLong, parseCUnsigned, type LongOption } from "./getopt.js";

/**
 * The command line of `lwlog replay-log`: xfstests' replay-log's options, read as glibc's
 * getopt_long reads its option table (see getopt.ts), with replay-log's defaults.
 */

/** replay-log's option table, in its order (glibc takes the first of equivalent prefix matches), plus `--help`. */
const OPTIONS: readonly LongOption[] = [
  { name: "next-flush", hasArg: false, val: "" },
  { name: "next-fua", hasArg: false, val: "" },
  { name: "start-entry", hasArg: true, val: "" },
  { name: "end-mark", hasArg: true, val: "" },
  { name: "log", hasArg: true, val: "" },
  { name: "replay", hasArg: true, val: "" },
  { name: "limit", hasArg: true, val: "" },
  { name: "verbose", hasArg: false, val: "v" },
  { name: "find", hasArg: false, val: "" },
  { name: "num-entries", hasArg: false, val: "" },
  { name: "no-discard", hasArg: false, val: "" },
  { name: "fsck", hasArg: true, val: "" },
  { name: "check", hasArg: true, val: "" },
  { name: "start-mark", hasArg: true, val: "" },
  { name: "start-sector", hasArg: true, val: "" },
  { name: "end-sector", hasArg: true, val: "" },
  // lwlog's own: no replay-log option starts with "h", so no abbreviation of theirs changes meaning.
  { name: "help", hasArg: false, val: "" },
];

/** The largest u64: --end-sector's default (no upper bound). */
export const U64_MAX = (1n << 64n) - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** What the command line asks, with replay-log's defaults. */
export interface ReplayLogOptions {
  log?: string;
  replay?: string;
  /** 0: no limit. */
  limit: bigint;
  nextFlush: boolean;
  nextFua: boolean;
  endMark?: string;
  startMark?: string;
  startEntry: bigint;
  find: boolean;
  numEntries: boolean;
  noDiscard: boolean;
  fsck?: string;
  check?: CheckRule;
  startSector: bigint;
  endSector: bigint;
  verbose: number;
  help: boolean;
}

export const USAGE = `usage: lwlog replay-log --log LOG [--replay TARGET] [options]
       lwlog-replay-log ...  (the same program; link it as xfstests' src/log-writes/replay-log)

xfstests' replay-log on lwlog's replay engine: the same options, stdout and exit codes
(docs/cli.md, "lwlog replay-log", lists where lwlog differs and why).

  --log LOG               the log to read (required)
  --replay TARGET         replay onto this existing image file or block device; without it,
                          print "Log version=1, sectorsize=S, entries=N"
  --start-entry N         start at entry N (default 0)
  --start-mark NAME       start right after the first mark named NAME
  --end-mark NAME         stop at the first mark named NAME (it must exist)
  --next-flush            stop at the first FLUSH entry from the start point
  --next-fua              stop at the first FUA entry from the start point
  --limit N               stop after N entries from the start point (0: no limit)
  --find                  replay nothing: print ENTRY@SECTOR of the entry the stop options
                          point to (SECTOR: where the next entry starts, in log sectors)
  --num-entries           print the entry count the superblock declares
  --no-discard            ignore discard entries
  --fsck CMD --check WHEN run CMD with sh after an fsync every N entries (WHEN = N), or after
                          each flush, fua or discard entry; stop with exit 1 when it fails
  --start-sector S        replay only the writes that touch sectors S..E (log sector units);
  --end-sector E            discards are applied wherever they are
  -v, --verbose           print each entry replayed; -vv: also those skipped, and the entries
                          walked to the start point or the one found
  --help                  this text

Numbers are read as C's strtoull reads them (42, 0x2a, 052). Long options may be shortened
to any prefix that glibc's getopt_long accepts (--num, --start for --start-entry).
Exit status: 0 done, 1 any failure, 255 --find met a broken entry, 130 interrupted.
`;

/** Parses replay-log's command line. Throws `UsageError` (exit 1 here) at the first problem, as replay-log stops there. */
export function parseReplayLogArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): ReplayLogOptions {
  const o: ReplayLogOptions = {
    limit: 0n,
    nextFlush: false,
    nextFua: false,
    startEntry: 0n,
    find: false,
    numEntries: false,
    noDiscard: false,
    startSector: 0n,
    endSector: U64_MAX,
    verbose: 0,
    help: false,
  };
  for (const item of getoptLong(argv, "v", OPTIONS, env).items) {
    if (item.kind === "error") throw new UsageError(item.message);
    const v = item.value ?? "";
    switch (item.name) {
      case "v":
      case "verbose":
        o.verbose += 1;
        break;
      case "next-flush":
        o.nextFlush = true;
        break;
      case "next-fua":
        o.nextFua = true;
        break;
      case "start-entry":
        o.startEntry = number("--start-entry", v, "an entry number");
        break;
      case "end-mark":
        o.endMark = v;
        break;
      case "log":
        o.log = v;
        break;
      case "replay":
        o.replay = v;
        break;
      case "limit":
        o.limit = number("--limit", v, "a number of entries");
        break;
      case "find":
        o.find = true;
        break;
      case "num-entries":
        o.numEntries = true;
        break;
      case "no-discard":
        o.noDiscard = true;
        break;
      case "fsck":
        o.fsck = v;
        break;
      case "check":
        o.check = v === "flush" || v === "fua" || v === "discard" ? v : { every: checkEvery(v) };
        break;
      case "start-mark":
        o.startMark = v;
        break;
      case "start-sector":
        o.startSector = number("--start-sector", v, "a sector number");
        break;
      case "end-sector":
        o.endSector = number("--end-sector", v, "a sector number");
        break;
      case "help":
        o.help = true;
        return o;
    }
  }
  return o;
}

function number(option: string, text: string, what: string): bigint {
  const n = parseCUnsigned(text);
  if (n === undefined) throw new UsageError(`${option} takes ${what} (read as C's strtoull reads it: 42, 0x2a, 052), not ${JSON.stringify(text)}`);
  return n;
}

function checkEvery(text: string): number {
  const n = parseCUnsigned(text);
  if (n === undefined || n === 0n) throw new UsageError(`--check takes flush, fua, discard or a number of entries ≥ 1, not ${JSON.stringify(text)}`);
  return Number(n > MAX_SAFE ? MAX_SAFE : n);
}

/** A u64 option value as a number for the engine (values past 2^53 mean "never", as they do there). */
export const clamp = (n: bigint): number => Number(n > MAX_SAFE ? MAX_SAFE : n);
