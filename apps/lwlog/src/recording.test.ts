import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { blklogwritesOpts, makeTempDir, repoRoot, requireTool } from "@lwlog/testkit";
import { docBlocks, outputDifferences, runDocBlock, type PathMap } from "./test-docs.js";

const doc = readFileSync(join(repoRoot, "docs/recording.md"), "utf8");
const tmp = makeTempDir("lwlog-recording-doc-");
afterAll(() => tmp.cleanup());

describe("docs/recording.md", () => {
  it("the blklogwrites option string is the one the tests drive QEMU with, and the qemu-system line uses it", () => {
    const opts = blklogwritesOpts({ image: "disk.img", log: "disk.log", sectorSize: 512 });
    expect(doc).toContain("```\n" + opts + "\n```");
    const blockdev = /-blockdev (\S+)/.exec(doc)![1]!;
    expect(blockdev.replace("node-name=logged,", "")).toBe(blklogwritesOpts({ image: "disk.img", log: "disk.log", sectorSize: 4096 }));
    expect(doc).toContain("-device virtio-blk-pci,drive=logged");
  });

  it("its qemu-io and qemu-nbd lines run as written (QEMU's blklogwrites), and lwlog reads back what they show", () => {
    for (const tool of ["qemu-io", "qemu-nbd", "nbdcopy"]) requireTool(tool);
    const blocks = docBlocks(doc);
    const commands = blocks.flatMap((b) => b.commands.map((c) => c.command));
    expect(commands.some((c) => c.startsWith("qemu-io "))).toBe(true);
    expect(commands.some((c) => c.startsWith("qemu-nbd "))).toBe(true);
    const env = { ...process.env, PATH: `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}`, NO_COLOR: "1" };
    const paths: PathMap = [[tmp.path, "/tmp/rec"]];
    const failures: string[] = [];
    for (const block of blocks) {
      for (const r of runDocBlock(block, tmp.path, env)) {
        if (r.status !== 0) failures.push(`$ ${r.command.command} (line ${r.command.line}) exited ${r.status}:\n${r.output.join("\n")}`);
        const diff = outputDifferences(r, paths);
        if (diff) failures.push(diff);
      }
    }
    expect(failures.join("\n\n")).toBe("");
  }, 300_000);
});
