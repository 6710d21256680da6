import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir } from "@lwlog/testkit";
import { drive, markKey, proveOnLog, setUpPeers, tooLongForReplayLog, type Peers } from "./test-fstests.js";

// xfstests' common/dmlogwrites with lwlog-replay-log as its replay-log, against the C
// replay-log, on the kernel's raw-device logs (every mark, discards, a long mark name, the
// last sector): see test-fstests.ts.

const tmp = makeTempDir("lwlog-fstests-raw-");
afterAll(() => tmp.cleanup());
let peers: Peers;
beforeAll(() => {
  peers = setUpPeers(tmp.path);
});

describe("xfstests' dmlogwrites functions on the raw-device logs, lwlog-replay-log against the C replay-log", () => {
  for (const log of kernelLogs().filter((k) => k.workload === "raw")) {
    it(`${log.file}: the same entry numbers, byte-identical images, the same $seqres.full`, async () => {
      await proveOnLog(peers, log, 0);
    }, 1_200_000);
  }

  it("raw-4k.log's 4063-byte mark: lwlog finds and replays it; replay-log compares at most 4057 bytes and cannot", async () => {
    const log = kernelLogs().find((k) => k.file === "raw-4k.log")!;
    const long = log.marks.find((m) => tooLongForReplayLog(m.name))!;
    const options = { marks: [long.name], entries: [], fscheck: false, loopMax: 1, fuaChain: false };
    const [lw, c] = await Promise.all([drive(peers, log, peers.lwlog, { ...options, sha: true }), drive(peers, log, peers.c, options)]);
    expect(lw.stdout).toContain(`mark ${markKey(long.name)} -> ${long.entry_index}\n`);
    expect(lw.stdout).toMatch(new RegExp(`^replay_log ${markKey(long.name)}  \\d+:${log.data_device_bytes}$`, "m"));
    expect(lw.sha).toBe(`${markKey(long.name)} ${long.sha256}\n`);
    expect(c.stdout).toContain(`mark ${markKey(long.name)} -> \n`);
    expect(c.stdout).toContain(`replay_log ${markKey(long.name)} _fail: mark '${long.name}' does not exist`);
  }, 1_200_000);
});
