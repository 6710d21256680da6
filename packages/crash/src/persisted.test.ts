import { describe, expect, it } from "vitest";
import { compareFiles, parsePersisted, windowOf, type Expectations, type PersistedWindow } from "./persisted.js";
import { PersistedSyntaxError } from "./errors.js";

describe("--persisted lists", () => {
  it("MARK: PATH lines, comments and blanks skipped, a leading slash optional, a quoted mark with ': ' in it", () => {
    const list = parsePersisted("l.txt", '# comment\n\nfsynced: dir/a.txt\nfsynced: /b: c.txt\n"x: y": z\r\n');
    expect(list.paths).toEqual([
      { mark: "fsynced", path: "dir/a.txt", line: 3 },
      { mark: "fsynced", path: "b: c.txt", line: 4 },
      { mark: "x: y", path: "z", line: 5 },
    ]);
  });

  it("a line without a mark or a path, a path with .., or an empty list is refused with the line", () => {
    const bad: [string, RegExp][] = [
      ["just-a-path\n", /line 1: expected "MARK: PATH"/],
      ["m: \n", /line 1: no path after the mark "m"/],
      ["m: a/../b\n", /line 1: the path "a\/\.\.\/b" has \. or \.\. in it/],
      ["# nothing\n", /lists no path/],
      ['"m: x\n', /line 1: a quoted mark name must be a JSON string/],
    ];
    for (const [text, re] of bad) {
      expect(() => parsePersisted("l.txt", text)).toThrowError(PersistedSyntaxError);
      expect(() => parsePersisted("l.txt", text)).toThrowError(re);
    }
  });

  it("a window is the crash positions after its mark up to the next mark", () => {
    const w: PersistedWindow[] = [
      { mark: "a", markEntry: 10, until: 20, paths: ["x"] },
      { mark: "b", markEntry: 30, until: 40, paths: ["y"] },
    ];
    expect([10, 11, 20, 21, 30, 31, 40, 41].map((p) => windowOf(w, p)?.mark)).toEqual([undefined, "a", "a", undefined, undefined, "b", "b", undefined]);
  });

  it("findings say which file and how it differs", () => {
    const w: PersistedWindow = { mark: "m", markEntry: 3, until: 9, paths: [] };
    const expected: Expectations = new Map([
      ["gone", { kind: "file", size: 5, sha256: "a".repeat(64) }],
      ["short", { kind: "file", size: 5, sha256: "b".repeat(64) }],
      ["changed", { kind: "file", size: 5, sha256: "c".repeat(64) }],
      ["dir", { kind: "file", size: 5, sha256: "d".repeat(64) }],
      ["same", { kind: "file", size: 5, sha256: "e".repeat(64) }],
    ]);
    const found = new Map([
      ["short", { kind: "file", size: 2, sha256: "f".repeat(64) }],
      ["changed", { kind: "file", size: 5, sha256: "0".repeat(64) }],
      ["dir", { kind: "directory", size: 4096 }],
      ["same", { kind: "file", size: 5, sha256: "e".repeat(64) }],
    ]);
    expect(compareFiles(w, expected, found).map((f) => [f.path, f.problem, f.message])).toEqual([
      ["gone", "missing", 'gone is missing (it was fsynced by mark "m", 5 bytes)'],
      ["short", "size", 'short has 2 bytes, it had 5 at mark "m"'],
      ["changed", "content", `changed differs (sha256 000000000000…, was cccccccccccc… at mark "m")`],
      ["dir", "type", 'dir is a directory, not the regular file of 5 bytes it was at mark "m"'],
    ]);
  });
});
