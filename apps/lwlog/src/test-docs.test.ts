import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir } from "@lwlog/testkit";
import { docBlocks, lineMatches, outputDifferences, runDocBlock } from "./test-docs.js";

const tmp = makeTempDir("lwlog-test-docs-");
afterAll(() => tmp.cleanup());

const doc = [
  "# A document",
  "",
  "```sh",
  "npm ci            # no prompt: not a command",
  "```",
  "",
  "```console",
  "$ echo one; echo two >&2",
  "one",
  "two",
  "$ printf 'a\\nb\\n' | \\",
  "    tr a-z A-Z",
  "A",
  "B",
  "",
  "$ false; echo \"exit $?\"",
  "exit 1",
  "$ echo took 0.42 s at 2026-01-02T03:04:05.678Z",
  "took 0.05 s at 2026-11-25T22:54:19.993Z",
  "$ echo not shown",
  "$ (exit 3)",
  "```",
  "",
  "```json",
  "$ not a shell block",
  "```",
].join("\n");

describe("docBlocks and runDocBlock", () => {
  it("finds the $ commands of console and sh blocks, with continuation lines and the lines shown under them", () => {
    const blocks = docBlocks(doc);
    expect(blocks.map((b) => [b.line, b.lang, b.commands.length])).toEqual([[7, "console", 6]]);
    const [c0, c1, c2] = blocks[0]!.commands;
    expect(c0).toEqual({ line: 8, command: "echo one; echo two >&2", expected: ["one", "two"] });
    expect(c1).toEqual({ line: 11, command: "printf 'a\\nb\\n' | \\\n    tr a-z A-Z", expected: ["A", "B"] });
    expect(c2!.expected).toEqual(["exit 1"]);
  });

  it("runs them in order, stdout and stderr merged, with each exit status; a wrong line is reported, a missing one too", () => {
    const [block] = docBlocks(doc);
    const results = runDocBlock(block!, tmp.path, process.env);
    expect(results.map((r) => [r.status, r.output])).toEqual([
      [0, ["one", "two"]],
      [0, ["A", "B"]],
      [0, ["exit 1"]],
      [0, ["took 0.42 s at 2026-01-02T03:04:05.678Z"]],
      [0, ["not shown"]],
      [3, []],
    ]);
    for (const r of results) expect(outputDifferences(r, [])).toBe("");
    const wrong = { ...results[0]!, command: { ...results[0]!.command, expected: ["one", "three"] } };
    expect(outputDifferences(wrong, [])).toMatch(/line 2:\n {4}shown: {3}three\n {4}printed: two/);
    const short = { ...results[1]!, command: { ...results[1]!.command, expected: ["A"] } };
    expect(outputDifferences(short, [])).toMatch(/line 2:\n {4}shown: {3}\(nothing\)\n {4}printed: B/);
  });

  it("a background job: the next command waits for the lines shown; kill %1 waits for the job to finish", () => {
    const md = [
      "```console",
      `$ (sleep 0.3; echo ready; trap 'echo stopping; exit 0' INT; while :; do sleep 0.1; done) &`,
      "ready",
      "$ echo after",
      "after",
      "$ kill -INT %1",
      "$ echo done",
      "done",
      "```",
    ].join("\n");
    const results = runDocBlock(docBlocks(md)[0]!, tmp.path, process.env);
    expect(results.map((r) => r.output)).toEqual([["ready"], ["after"], [], ["done"]]);
  });

  it("paths are rewritten, … stands for any text, times and timestamps compare equal", () => {
    expect(lineMatches("log /work/main/x.log", "log /home/me/lwlog/x.log", [["/home/me/lwlog", "/work/main"]])).toBe(true);
    expect(lineMatches("long-LLL… (479 characters)", "long-LLLLLLLL (479 characters)", [])).toBe(true);
    expect(lineMatches("replayed in 0.05 s", "replayed in 12.5 s", [])).toBe(true);
    expect(lineMatches("1 MiB, 1 ops; 00.03 sec (33.492 MiB/sec and 33.4917 ops/sec)", "1 MiB, 1 ops; 00.01 sec (70.1 MiB/sec and 70.1 ops/sec)", [])).toBe(true);
    expect(lineMatches("entries 5", "entries 6", [])).toBe(false);
    expect(lineMatches("a … b", "a x c", [])).toBe(false);
  });
});
