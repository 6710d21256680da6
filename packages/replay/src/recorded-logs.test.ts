import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, recordedLogs, sha256File } from "@lwlog/testkit";
import { replayLog } from "./index.js";

const tmp = makeTempDir("lwlog-replay-recorded-");
afterAll(() => tmp.cleanup());

describe("replaying the logs lwlog record wrote under ext4 and xfs reproduces the served image at every mark", () => {
  for (const l of recordedLogs()) {
    it(`${l.name}: all ${l.marks.length} marks, each leg continuing the last on one image`, async () => {
      const image = join(tmp.path, `${l.name}.img`);
      let prev: string | undefined;
      for (const m of l.marks) {
        const from = prev !== undefined ? { from: { mark: prev } } : {};
        const s = await replayLog({ log: l.path, target: image, size: l.imageBytes, ...from, until: { mark: m.name } });
        prev = m.name;
        expect(s.last, `${l.name} mark ${m.name}`).toBe(m.entry);
        expect(sha256File(image), `${l.name} at mark ${m.name} (entry ${m.entry})`).toBe(m.sha256);
      }
    });
  }
});
