import { existsSync, statSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { buildReplayLog, findTool, kernelLogs, makeTempDir, qemuLog, randomBytes, requireTool, run, sha256, sha256File, xfstestsDir } from "./index.js";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

describe("tools", () => {
  it("finds installed tools and refuses missing ones with the Debian package to install", () => {
    expect(findTool("sh")).toBeDefined();
    expect(() => requireTool("definitely-not-a-tool-lwlog")).toThrow(/not installed/);
    expect(() => requireTool("fio-not-here")).toThrow(/\.ci\/run/);
  });

  it("run() reports a failing command with its stderr", () => {
    expect(() => run("sh", ["-c", "echo oops >&2; exit 3"])).toThrow(/exited 3:\noops/);
    expect(run("sh", ["-c", "exit 3"], { check: false }).status).toBe(3);
  });
});

describe("files", () => {
  it("randomBytes is deterministic per seed and not constant", () => {
    expect(sha256(randomBytes(4096, 7))).toBe(sha256(randomBytes(4096, 7)));
    expect(sha256(randomBytes(4096, 7))).not.toBe(sha256(randomBytes(4096, 8)));
    expect(new Set(randomBytes(4096, 7)).size).toBeGreaterThan(200);
  });

  it("kernelLogs() lists the six kernel logs, and their sha256 matches the manifest", () => {
    const logs = kernelLogs();
    expect(logs.map((l) => l.file).sort()).toEqual(["ext4-4k.log", "ext4-512.log", "raw-4k.log", "raw-512.log", "xfs-4k.log", "xfs-512.log"]);
    for (const l of logs) {
      expect(statSync(l.path).size).toBe(l.log_file_bytes);
      expect(sha256File(l.path)).toBe(l.log_file_sha256);
    }
  });
});

describe("qemuLog", () => {
  it("has QEMU's blklogwrites write a log of the commands", () => {
    const r = qemuLog({ dir: tmp.path, sectorSize: 4096, superInterval: 1, commands: ["write -P 0x5a 8192 4096", "flush"] });
    expect(existsSync(r.image)).toBe(true);
    // One 4096-byte superblock, then a write (header + 4096 bytes) and a flush (header):
    // the codec's own tests read such logs; here it is enough that QEMU wrote them.
    const bytes = readFileSync(r.log);
    expect(bytes.subarray(0, 8).toString("latin1")).toBe("rhswfsj\0");
    expect(bytes.length).toBeGreaterThanOrEqual(4 * 4096);
    expect(bytes.subarray(2 * 4096, 3 * 4096).every((b) => b === 0x5a)).toBe(true);
  });

  it("throws when qemu-io rejects the options", () => {
    expect(() => qemuLog({ dir: tmp.path, log: "bad.log", sectorSize: 3000, commands: ["flush"] })).toThrow();
  });
});

describe("xfstests", () => {
  it("xfstestsDir() fails, naming LWLOG_XFSTESTS, when the tree is not where it is said to be", () => {
    const saved = process.env.LWLOG_XFSTESTS;
    process.env.LWLOG_XFSTESTS = tmp.path;
    try {
      expect(() => xfstestsDir()).toThrow(/xfstests' files \(common\/dmlogwrites, src\/log-writes\/replay-log\.c, .*\) are not there: looked in LWLOG_XFSTESTS=.*Set LWLOG_XFSTESTS/);
    } finally {
      if (saved === undefined) delete process.env.LWLOG_XFSTESTS;
      else process.env.LWLOG_XFSTESTS = saved;
    }
  });

  it("buildReplayLog() builds xfstests' replay-log into a scratch folder: it runs (without --log it exits 1)", () => {
    const bin = buildReplayLog(tmp.path);
    const r = run(bin, [], { check: false });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("--log");
  });
});
