import { existsSync, readFileSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FsModel, defaultFsWorkload, opTouches, persistedLines, recordedLogRecipes, recordedLogs, sha256, sha256File, type FileState, type FsStep } from "./index.js";

/** The files at each mark of `steps` (after mkfs: none), following the model alone. */
function statesOf(steps: readonly FsStep[]): Map<string, FileState>[] {
  const model = new FsModel();
  const states: Map<string, FileState>[] = [new Map()];
  for (const s of steps) {
    for (const o of s.ops) model.apply(o);
    states.push(model.snapshot());
  }
  states.push(model.snapshot()); // umount
  return states;
}

describe("FsModel", () => {
  it("follows writes, appends, truncates, renames (of files and directories, over files) and removals", () => {
    const m = new FsModel();
    m.apply({ op: "write", path: "a/x", size: 10, seed: 1 });
    m.apply({ op: "write", path: "a/y", size: 5, seed: 2 });
    m.apply({ op: "append", path: "a/x", size: 3, seed: 3 });
    expect(m.files.get("a/x")!.length).toBe(13);
    m.apply({ op: "truncate", path: "a/x", size: 4 });
    expect(m.files.get("a/x")!.length).toBe(4);
    m.apply({ op: "truncate", path: "a/y", size: 8 });
    expect([...m.files.get("a/y")!.subarray(5)]).toEqual([0, 0, 0]);
    m.apply({ op: "rename", from: "a", to: "b" });
    expect([...m.files.keys()].sort()).toEqual(["b/x", "b/y"]);
    m.apply({ op: "rename", from: "b/x", to: "b/y" });
    expect([...m.snapshot().entries()]).toEqual([["b/y", { size: 4, sha256: expect.any(String) as string }]]);
    m.apply({ op: "write", path: "c/z", size: 1, seed: 4 });
    m.apply({ op: "remove", path: "b" });
    expect([...m.files.keys()]).toEqual(["c/z"]);
    expect(() => m.apply({ op: "unlink", path: "b/y" })).toThrow(/not a file the workload made/);
    expect(() => m.apply({ op: "rename", from: "nope", to: "x" })).toThrow(/never made/);
  });

  it("hashes what runFsOp writes: randomBytes(size, seed)", () => {
    const m = new FsModel();
    m.apply({ op: "write", path: "f", size: 100, seed: 9 });
    expect(m.snapshot().get("f")!.sha256).toBe(sha256(m.files.get("f")!));
  });
});

describe("persistedLines", () => {
  it("lists at each mark the files the next step leaves alone, and nothing a rename, write or removal touches", () => {
    expect(opTouches({ op: "rename", from: "a", to: "b" }, "a/x")).toBe(true);
    expect(opTouches({ op: "rename", from: "a/x", to: "b/x" }, "b/x")).toBe(true);
    expect(opTouches({ op: "rename", from: "a/x", to: "b/x" }, "a/xy")).toBe(false);
    expect(opTouches({ op: "remove", path: "c" }, "c/d/e")).toBe(true);
    expect(opTouches({ op: "fsync", path: "c/d/e" }, "c/d/e")).toBe(false);
    const steps: FsStep[] = [
      { mark: "one", ops: [{ op: "write", path: "a", size: 1, seed: 1 }, { op: "write", path: "d/b", size: 1, seed: 2 }] },
      { mark: "two", ops: [{ op: "rename", from: "d", to: "e" }, { op: "write", path: "c", size: 1, seed: 3 }] },
      { mark: "three", ops: [{ op: "append", path: "c", size: 1, seed: 4 }] },
    ];
    const lines = persistedLines(["mkfs", "one", "two", "three", "umount"], statesOf(steps), [steps[0]!.ops, steps[1]!.ops, steps[2]!.ops, [], []]);
    expect(lines).toEqual(["one: a", "two: a", "two: e/b", "three: a", "three: c", "three: e/b", "umount: a", "umount: c", "umount: e/b"]);
  });
});

describe("test-data/recorded", () => {
  const logs = recordedLogs();

  it("holds one log per recipe, each as the manifest says (size, sha256), with its --persisted list", () => {
    expect(logs.map((l) => l.name)).toEqual(recordedLogRecipes.map((r) => r.name));
    for (const l of logs) {
      expect(statSync(l.path).size, l.name).toBe(l.logBytes);
      expect(sha256File(l.path), l.name).toBe(l.logSha256);
      expect(existsSync(l.persistedPath), l.name).toBe(true);
      expect(l.marks.map((m) => m.name)).toEqual(["mkfs", ...defaultFsWorkload().map((s) => s.mark), "umount", "lwlog-end"]);
      expect(l.marks.at(-1)!.entry).toBe(l.entries - 1);
      // A loop device offers no FUA: the block layer turns FUA writes into writes and flushes.
      expect([l.loopFua, l.counts.fua]).toEqual(["0", 0]);
    }
  });

  it("was recorded from today's defaultFsWorkload: its files at each mark and its --persisted list follow from the workload", () => {
    const steps = defaultFsWorkload();
    const names = ["mkfs", ...steps.map((s) => s.mark), "umount"];
    const states = statesOf(steps);
    const expected = persistedLines(names, states, [...steps.map((s) => s.ops), [], []]);
    for (const l of logs) {
      expect(readFileSync(l.persistedPath, "utf8"), l.name).toBe(expected.join("\n") + "\n");
      names.forEach((mark, i) => {
        const want = [...states[i]!].map(([path, f]) => ({ path, ...f }));
        expect(l.files[mark], `${l.name} at ${mark}`).toEqual(want);
      });
    }
  });
});
