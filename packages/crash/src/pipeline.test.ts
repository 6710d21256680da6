import { afterAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@lwlog/testkit";
import type { EngineView, StateViews } from "./judge.js";
import { judgePipeline, type FileFacts, type FsCheck } from "./pipeline.js";
import { fileViews } from "./test-logs.js";
import type { PersistedWindow } from "./persisted.js";

const tmp = makeTempDir("lwlog-crash-pipeline-");
afterAll(() => tmp.cleanup());

/** Views of a 4 KiB base of zeros; records what each judge saw. */
function stateViews(): StateViews & { made: EngineView[] } {
  const base = join(tmp.path, "base.img");
  writeFileSync(base, new Uint8Array(4096));
  const maker = fileViews(tmp.path);
  const made: EngineView[] = [];
  return {
    made,
    fresh: async () => {
      const v = await maker(base, 4096);
      v.write(0, new Uint8Array([7]));
      made.push(v);
      return v;
    },
  };
}

const window: PersistedWindow = { mark: "m", markEntry: 3, until: 9, paths: ["a", "b"] };
const ctx = { id: "cs1-5-x", position: 5, log: "l", ordinal: 0 };

describe("the judge pipeline", () => {
  it("fs first (a failure decides, nothing else runs), then the data judge on the view fs recovered, then --exec on a view of its own", async () => {
    const seen: string[] = [];
    const fs: FsCheck = async ({ image }) => {
      seen.push(`fs ${readFileSync(image)[0]}`);
      writeFileSync(image, new Uint8Array([9]), { flag: "r+" }); // the recovery changes its view
      return { ok: true, fs: "ext4", step: "done", summary: "clean", output: "" };
    };
    const readFiles = async (image: string, _fs: string, paths: readonly string[]): Promise<FileFacts[]> => {
      seen.push(`read ${readFileSync(image)[0]} ${paths.join(",")}`);
      return [
        { path: "/a", exists: true, type: "file", size: 3, sha256: "aa" },
        { path: "/b", exists: false },
      ];
    };
    const exec = async (view: EngineView) => {
      const { image } = await view.expose();
      seen.push(`exec ${readFileSync(image!)[0]}`);
      return { ok: true };
    };
    const p = judgePipeline({ fs, readFiles, exec });
    const views = stateViews();
    const expected = new Map([
      ["a", { kind: "file" as const, size: 3, sha256: "aa" }],
      ["b", { kind: "file" as const, size: 1, sha256: "bb" }],
    ]);
    const v = await p.judge(views, { ...ctx, files: { window, expected } });
    expect(v).toMatchObject({ ok: false, judge: "data", files: [{ path: "b", problem: "missing" }] });
    expect(seen).toEqual(["fs 7", "read 9 a,b"]);
    seen.length = 0;
    const ok = await p.judge(stateViews(), ctx);
    expect(ok.ok).toBe(true);
    expect(seen).toEqual(["fs 7", "exec 7"]);
    const failing = judgePipeline({ fs: async () => ({ ok: false, fs: "ext4", step: "check", summary: "e2fsck -fn: exit status 4", output: "Pass 1\nbad inode", exitCode: 4 }), exec });
    seen.length = 0;
    expect(await failing.judge(stateViews(), ctx)).toEqual({ ok: false, judge: "fs", exit: 4, output: "e2fsck -fn: exit status 4\nPass 1\nbad inode" });
    expect(seen).toEqual([]);
  });

  it("the files at a mark need the state there to pass the fs judge", async () => {
    const bad = judgePipeline({ fs: async () => ({ ok: false, step: "recovery", summary: "journal checksum error", output: "" }), readFiles: async () => [] });
    await expect(bad.expect(stateViews(), window)).rejects.toThrowError(/the state at mark "m" \(entry 3\) does not pass the file-system judge \(journal checksum error\)/);
    const good = judgePipeline({ fs: async () => ({ ok: true, fs: "xfs", step: "done", summary: "", output: "" }), readFiles: async () => [{ path: "/a", exists: true, type: "directory", size: 4096 }, { path: "/b", exists: true, type: "file", size: 2, sha256: "cc" }] });
    const probes = await good.expect(stateViews(), window);
    expect([...probes]).toEqual([
      ["a", { kind: "directory", size: 4096 }],
      ["b", { kind: "file", size: 2, sha256: "cc" }],
    ]);
  });
});
