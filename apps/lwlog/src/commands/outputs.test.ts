/**
 * Every command that writes an output file (`convert`, `export`, `import`, `plot`, `diff
 * --plot`) with `--force`: the output is never one of its inputs, and a FIFO, a device, a
 * socket, a directory or what a symbolic link points to is written in place or refused,
 * never replaced by a regular file.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { closeSync, existsSync, linkSync, openSync, lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, requireTool, run, sha256File } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import { sampleLog } from "./test-logs.js";

const tmp = makeTempDir("lwlog-outputs-");
afterAll(() => tmp.cleanup());
const p = (name: string) => join(tmp.path, name);

let log: string;
let other: string;
let exported: string;
beforeAll(async () => {
  log = await sampleLog(tmp.path, "in.log");
  other = await sampleLog(tmp.path, "other.log");
  exported = p("in.ndjson");
  expect((await runLwlog(["export", log, "--data", "base64", "-o", exported, "-q"])).code).toBe(0);
});

/** Each writing command, as the argv that writes `out` with --force (its inputs: `log`/`other`, or the export). */
const COMMANDS: Record<string, (out: string) => string[]> = {
  convert: (out) => ["convert", log, "-o", out, "--force", "-q"],
  export: (out) => ["export", log, "-o", out, "--force", "-q"],
  import: (out) => ["import", exported, "-o", out, "--force", "-q"],
  plot: (out) => ["plot", log, "-o", out, "--force"],
  "diff --plot": (out) => ["diff", "--plot", out, "--force", log, other],
};
const OK: Record<string, number> = { convert: 0, export: 0, import: 0, plot: 0, "diff --plot": 0 };

/** What each command writes, from a run onto a new regular file. */
async function expected(name: string): Promise<Buffer> {
  const out = p(`expected-${name.replace(/\W/g, "")}.out`);
  if (!existsSync(out)) expect((await runLwlog(COMMANDS[name]!(out))).code).toBe(OK[name]);
  return readFileSync(out);
}

/** Hashes of the inputs, to check that nothing touched them. */
function inputHashes(): string[] {
  return [log, other, exported].map((f) => sha256File(f));
}

describe("--force never writes over an input", () => {
  for (const name of Object.keys(COMMANDS)) {
    it(`${name}: the output is an input itself, a hard link to it or a symbolic link to it: exit 2, LWLOG_TARGET_IS_LOG, the input intact`, async () => {
      const input = name === "import" ? exported : name === "diff --plot" ? other : log;
      const hard = p(`hard-${name.replace(/\W/g, "")}`);
      const soft = p(`soft-${name.replace(/\W/g, "")}`);
      linkSync(input, hard);
      symlinkSync(input, soft);
      const before = inputHashes();
      for (const out of [input, hard, soft]) {
        const r = await runLwlog(COMMANDS[name]!(out));
        expect(r.code, `${name} -o ${out}`).toBe(2);
        expect(r.stderr, out).toMatch(new RegExp(`^lwlog: (error: )?${out}: is the input itself \\(${input}\\); writing it would destroy the input: give another output \\[LWLOG_TARGET_IS_LOG\\]\\n$`));
        expect(r.stdout).toBe("");
      }
      expect(inputHashes()).toEqual(before);
      expect(lstatSync(soft).isSymbolicLink()).toBe(true);
      // No temporary file is left behind.
      expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
    });
  }

  it("import from stdin refuses an output that is its standard input", async () => {
    const before = sha256File(exported);
    const { code, stderr } = await spawnLwlog(["import", "-", "--format", "ndjson", "-o", exported, "--force"], exported);
    expect(code).toBe(2);
    expect(stderr).toContain(`${exported}: is the input itself (the standard input)`);
    expect(sha256File(exported)).toBe(before);
  });

  it("export --format fio-iolog refuses a --target that is the log (fio would write over it)", async () => {
    const r = await runLwlog(["export", log, "--format", "fio-iolog", "--target", log, "-o", p("fio.iolog")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${log}: is the input itself (${log})`);
    expect(existsSync(p("fio.iolog"))).toBe(false);
  });
});

describe("--force never replaces what is not a regular file", () => {
  for (const name of Object.keys(COMMANDS)) {
    it(`${name}: a character device is written into, never replaced`, async () => {
      const node = p(`null-${name.replace(/\W/g, "")}`);
      run("mknod", [node, "c", "1", "3"]); // /dev/null's numbers: root only, as the tests run
      const rdev = statSync(node).rdev;
      const r = await runLwlog(COMMANDS[name]!(node));
      expect(r.code, r.stderr).toBe(OK[name]);
      const after = lstatSync(node);
      expect(after.isCharacterDevice()).toBe(true);
      expect(after.rdev).toBe(rdev);
      // Without --force an existing device is refused, and the message says what it is.
      const args = COMMANDS[name]!(node).filter((a) => a !== "--force");
      const refused = await runLwlog(args);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`${node}: already exists (refusing to overwrite it; it is a character device: pass --force to write into it) [LWLOG_EXISTS]`);
    });

    it(`${name}: a FIFO is streamed into (a reader gets exactly the output), never replaced`, async () => {
      const fifo = p(`fifo-${name.replace(/\W/g, "")}`);
      run("mkfifo", [fifo]);
      const reader = readAll(fifo);
      try {
        const r = await runLwlog(COMMANDS[name]!(fifo));
        expect(r.code, r.stderr).toBe(OK[name]);
        // Replaced by a file, the FIFO would never see a writer: the reader would wait forever.
        expect(lstatSync(fifo).isFIFO()).toBe(true);
        expect((await reader.output).equals(await expected(name))).toBe(true);
      } finally {
        reader.stop();
      }
    });

    it(`${name}: a socket, a directory and a symbolic link to nothing are refused; a link to a file keeps the link`, async () => {
      const sock = p(`sock-${name.replace(/\W/g, "")}`);
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(sock, resolve));
      try {
        const r = await runLwlog(COMMANDS[name]!(sock));
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`${sock}: is a socket, which cannot be written as a file; give a file name for the output [LWLOG_OUTPUT_KIND]`);
        expect(lstatSync(sock).isSocket()).toBe(true);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
      const dangling = p(`dangling-${name.replace(/\W/g, "")}`);
      symlinkSync(p("nowhere"), dangling);
      const d = await runLwlog(COMMANDS[name]!(dangling));
      expect(d.code).toBe(2);
      expect(d.stderr).toContain(`${dangling}: is a symbolic link to a file that does not exist; give the path of the file itself [LWLOG_OUTPUT_KIND]`);
      expect(existsSync(p("nowhere"))).toBe(false);
      const dir = p(`dir-${name.replace(/\W/g, "")}`);
      run("mkdir", [dir]);
      const dr = await runLwlog(COMMANDS[name]!(dir));
      expect(dr.code).toBe(2);
      expect(dr.stderr).toContain(`${dir}: is a directory; give a file name for the output [LWLOG_IS_DIRECTORY]`);
      expect(readdirSync(dir)).toEqual([]);
      // A link to a regular file: the file is replaced, the link stays a link to it.
      const file = p(`file-${name.replace(/\W/g, "")}`);
      writeFileSync(file, "old");
      const link = p(`link-${name.replace(/\W/g, "")}`);
      symlinkSync(file, link);
      const l = await runLwlog(COMMANDS[name]!(link));
      expect(l.code, l.stderr).toBe(OK[name]);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readFileSync(file).equals(await expected(name))).toBe(true);
    });
  }

  it("a block device (a loop device) is written in place when the output fits, refused untouched when not", async () => {
    requireTool("losetup");
    const backing = p("loop-backing.img");
    writeFileSync(backing, Buffer.alloc(1 << 20, 0x5a));
    const dev = run("losetup", ["-f", "--show", backing]).stdout.trim();
    const small = p("loop-small.img");
    writeFileSync(small, Buffer.alloc(4096, 0x5a));
    const smallDev = run("losetup", ["-f", "--show", small]).stdout.trim();
    try {
      const want = await expected("convert");
      const r = await runLwlog(COMMANDS.convert!(dev));
      expect(r.code, r.stderr).toBe(0);
      expect(statSync(dev).isBlockDevice()).toBe(true);
      const head = Buffer.alloc(want.length);
      const got = readFileSync(dev).subarray(0, want.length);
      head.set(got);
      expect(head.equals(want)).toBe(true);
      // The rest of the device is left as it was.
      expect(readFileSync(dev).subarray(want.length).every((b) => b === 0x5a)).toBe(true);
      const t = await runLwlog(COMMANDS.convert!(smallDev));
      expect(t.code).toBe(2);
      expect(t.stderr).toContain(`${smallDev}: is a block device of 4096 bytes, too small for the ${want.length}-byte output: nothing was written to it`);
      expect(readFileSync(smallDev).every((b) => b === 0x5a)).toBe(true);
    } finally {
      run("losetup", ["-d", dev], { check: false });
      run("losetup", ["-d", smallDev], { check: false });
    }
  });
});

/** Reads a FIFO to its end in a child process (`cat`), so the command under test finds a reader; `stop()` ends it if it still waits. */
function readAll(fifo: string): { output: Promise<Buffer>; stop: () => void } {
  const cat = spawn(requireTool("cat"), [fifo], { stdio: ["ignore", "pipe", "inherit"] });
  const chunks: Buffer[] = [];
  cat.stdout.on("data", (c: Buffer) => chunks.push(c));
  const output = new Promise<Buffer>((resolve, reject) => {
    cat.on("error", reject);
    cat.on("close", () => resolve(Buffer.concat(chunks)));
  });
  return { output, stop: () => (cat.exitCode === null && cat.signalCode === null ? void cat.kill() : undefined) };
}

/** Runs the built CLI (`npm run build` first) with a file as its standard input. */
function spawnLwlog(args: string[], stdin: string): Promise<{ code: number | null; stderr: string }> {
  const main = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
  const fd = openSync(stdin, "r");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], { stdio: [fd, "ignore", "pipe"] });
    closeSync(fd);
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}
