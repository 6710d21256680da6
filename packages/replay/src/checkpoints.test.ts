import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ScratchSpace } from "@lwlog/scratch";
import { kernelLogs, makeTempDir, sha256File, sha256FileAsync } from "@lwlog/testkit";
import { execChecker, replayLog, ReplayInterruptedError, sequenceCheckers, type Checkpoint } from "./index.js";

const tmp = makeTempDir("lwlog-replay-checkpoints-");
afterAll(() => tmp.cleanup());
const k = kernelLogs().find((l) => l.file === "raw-512.log")!;
let n = 0;
const fresh = () => join(tmp.path, `t${++n}.img`);

describe("checkpoints on scratch views", () => {
  it("use the scratch space given (left open, every view disposed), one view per checkpoint holding the state", async () => {
    const scratch = await ScratchSpace.open({ dir: tmp.path, strategy: "copy" });
    const seen: { point: Checkpoint; hash: string }[] = [];
    const target = fresh();
    const s = await replayLog({
      log: k.path,
      target,
      size: "auto",
      until: { mark: "scattered-64" },
      check: { rules: ["mark"], scratch, run: async (point) => (seen.push({ point, hash: await sha256FileAsync(point.image) }), { ok: true }) },
    });
    expect(s.checkpoints.run).toBe(7);
    expect(s.checkpoints.views).toEqual({ copy: 7 });
    expect(s.checkpoints.unmatched).toBeUndefined();
    expect(scratch.liveViews).toBe(0);
    for (const { point, hash } of seen) {
      expect(point.view).toBe("copy");
      expect(point.image.startsWith(scratch.dir)).toBe(true);
      expect(hash).toBe(k.marks.find((m) => m.entry_index === point.entry)!.sha256);
    }
    await scratch.view(target).then((v) => v.dispose()); // still open
    await scratch.close();
    expect(sha256File(target)).toBe(k.marks.find((m) => m.name === "scattered-64")!.sha256);
  });

  it("rules that match nothing leave the counts of what the replayed entries hold", async () => {
    const s = await replayLog({ log: k.path, target: fresh(), size: "auto", from: { mark: "fua-8K" }, until: { mark: "direct-2M" }, check: { rules: [{ every: 100 }], run: () => ({ ok: true }) } });
    expect(s.checkpoints.run).toBe(0);
    expect(s.checkpoints.unmatched).toEqual({ entries: 4, flush: 1, fua: 0, mark: 1, discard: 0 });
  });

  it("an interrupt while a checker runs throws ReplayInterruptedError (not a failed checkpoint); sequenceCheckers stops at the first failure", async () => {
    const abort = new AbortController();
    const order: string[] = [];
    const first = async (p: Checkpoint) => (order.push(`a${p.entry}`), { ok: p.entry !== 259 });
    const never = async (p: Checkpoint) => (order.push(`b${p.entry}`), { ok: true });
    const slow = execChecker("sleep 60");
    const err = await replayLog({
      log: k.path,
      target: fresh(),
      size: "auto",
      signal: abort.signal,
      check: {
        rules: ["mark"],
        keepGoing: true,
        run: sequenceCheckers([
          first,
          never,
          async (p, c) => {
            if (p.entry < 265) return { ok: true };
            setTimeout(() => abort.abort(), 200);
            return slow(p, c);
          },
        ]),
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplayInterruptedError);
    expect((err as ReplayInterruptedError).lastApplied).toBe(265);
    expect((err as Error).message).toMatch(/^interrupted during the checkpoint after entry 265 \(it is not counted\)/);
    expect(order).toEqual(["a0", "b0", "a259", "a265", "b265"]);
  });
});
