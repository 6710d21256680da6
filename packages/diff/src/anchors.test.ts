import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir } from "@lwlog/testkit";
import { diffLogs } from "./diff.js";
import { writeTestLog } from "./test-logs.js";

const tmp = makeTempDir("lwlog-anchors-");
afterAll(() => tmp.cleanup());

describe("diffLogs when only one log has marks", () => {
  it("reports the marks as removed or added entries (no anchors), either way round", async () => {
    const a = join(tmp.path, "marked.log");
    const b = join(tmp.path, "plain.log");
    await writeTestLog(a, 512, [{ w: 0, len: 4096, seed: 1 }, { m: "mkfs" }, { w: 4096, len: 4096, seed: 2 }]);
    await writeTestLog(b, 4096, [{ w: 0, len: 4096, seed: 1 }, { w: 4096, len: 4096, seed: 2 }]);
    const d = await diffLogs(a, b);
    expect(d.anchors).toEqual([]);
    expect(d.hunks.flatMap((h) => [...d.changes(h)])).toEqual([{ type: "removed", a: 1, aPos: 1, bPos: 1 }]);
    const r = await diffLogs(b, a);
    expect(r.hunks.flatMap((h) => [...r.changes(h)])).toEqual([{ type: "added", b: 1, aPos: 1, bPos: 1 }]);
  });
});
