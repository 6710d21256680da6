import { afterAll, beforeAll, describe, it } from "vitest";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { proveOnLog, setUpPeers, type Peers } from "./test-fstests.js";

// xfstests' common/dmlogwrites with lwlog-replay-log as its replay-log, against the C
// replay-log, on the kernel's ext4 and xfs logs (test-fstests.ts says what is compared).
// generic/482's loop runs to the last FUA on ext4-4k.log (e2fsck at each one) and over the first
// FUAs on the others: each FUA costs two runs of each replay-log, and a Node.js start is
// tenths of a second where the C program's is a millisecond.

const tmp = makeTempDir("lwlog-fstests-");
afterAll(() => tmp.cleanup());
let peers: Peers;
beforeAll(() => {
  peers = setUpPeers(tmp.path);
});

const LOOP: Record<string, number> = { "ext4-4k.log": 0, "xfs-512.log": 10, "ext4-512.log": 4, "xfs-4k.log": 4 };

describe("xfstests' dmlogwrites functions and generic/482's loop, lwlog-replay-log against the C replay-log", () => {
  for (const log of kernelLogs().filter((k) => k.workload !== "raw")) {
    const loopMax = LOOP[log.file] ?? 4;
    it(`${log.file}: the same entry numbers, byte-identical images, the same $seqres.full; generic/482's loop ${loopMax === 0 ? "to the last FUA" : `over ${loopMax} FUAs`}`, async () => {
      await proveOnLog(peers, log, loopMax);
    }, 1_200_000);
  }
});
