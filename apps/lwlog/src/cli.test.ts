import { describe, expect, it } from "vitest";
import { createProgram, loadCommands, reportError, runCli } from "./cli.js";
import { commands } from "./commands/index.js";
import type { CommandModule } from "./context.js";
import { ExitCode } from "./errors.js";
import { MemoryStream, runLwlog } from "./testing.js";

const NAMES = ["info", "dump", "marks", "check", "replay", "find", "crashes", "replay-log", "export", "import", "convert", "record", "mark", "status", "diff", "plot"];

/** Runs `argv` on a program with every command registered up front (what `lwlog` did before loading commands lazily). */
async function runEager(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const all = await Promise.all(commands.map((c) => ("load" in c ? c.load() : c)));
  const stdout = new MemoryStream();
  const stderr = new MemoryStream();
  let code: number = ExitCode.OK;
  const io = { stdout, stderr, env: { NO_COLOR: "1" }, cwd: process.cwd() };
  const program = createProgram(io, (c) => (code = c), all);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    code = reportError(err, io); // commander's exit (help, version, usage error)
  }
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Names of the commands a module list registers. */
function registered(modules: CommandModule[]): string[] {
  const program = createProgram({ stdout: new MemoryStream(), stderr: new MemoryStream(), env: {}, cwd: "/" }, () => undefined, modules);
  return program.commands.map((c) => c.name());
}

describe("commands are loaded only when a run needs them", () => {
  it("a run naming a command loads that command alone; --version none; help, no command or a typo all of them", async () => {
    expect(registered(await loadCommands(["info", "x.log"]))).toEqual(["info"]);
    expect(registered(await loadCommands(["-V", "convert", "--help"]))).toEqual(["convert"]);
    expect(registered(await loadCommands(["--version"]))).toEqual([]);
    expect(registered(await loadCommands(["-V"]))).toEqual([]);
    for (const argv of [[], ["--help"], ["-h", "info"], ["help"], ["help", "info"], ["inf"], ["--bogus", "info"]]) {
      expect(registered(await loadCommands(argv)), argv.join(" ")).toEqual(NAMES);
    }
  });

  it("lwlog --help lists every command, in order, as with every command registered up front", async () => {
    const r = await runLwlog(["--help"]);
    expect(r.code).toBe(ExitCode.OK);
    const listed = [...r.stdout.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1]);
    expect(listed).toEqual([...NAMES, "help"]);
    expect(r.stdout).toBe((await runEager(["--help"])).stdout);
  });

  it("every command's --help, help CMD, a typo's suggestion and --version read exactly as before", async () => {
    const runs = [...NAMES.flatMap((n) => [[n, "--help"], ["help", n]]), ["--version"], ["inf"], ["conver", "x"], ["info"], ["info", "--bogus", "x"], []];
    for (const argv of runs) {
      const lazy = await runLwlog(argv);
      const eager = await runEager(argv);
      expect(lazy.stdout, argv.join(" ")).toBe(eager.stdout);
      expect(lazy.stderr, argv.join(" ")).toBe(eager.stderr);
    }
    expect((await runLwlog(["inf"])).stderr).toMatch(/did you mean info\?/);
    expect((await runLwlog(["--version"])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it("the error classes the CLI loads alone are the codec's own (a reader's error is reported as a bad log, not a bug)", async () => {
    const alone = await import("@lwlog/codec/errors");
    const core = await import("@lwlog/codec/core");
    expect(alone.LwlogError).toBe(core.LwlogError);
    expect(alone.LogFormatError).toBe(core.LogFormatError);
    expect(alone.LogIoError).toBe(core.LogIoError);
    const r = await runLwlog(["info", new URL("../../../test-data/bad/bad-magic.log", import.meta.url).pathname]);
    expect(r.code).toBe(ExitCode.FAILED);
    expect(r.stderr).toMatch(/^lwlog: error: .*bad-magic\.log.*\[LWLOG_BAD_MAGIC\]\n$/);
  });

  it("a command module that fails to load is reported as a bug (exit 70), not a crash", async () => {
    const stderr = new MemoryStream();
    const broken = { name: "info", load: () => Promise.reject(new Error("cannot load")) };
    commands.unshift(broken);
    try {
      const code = await runCli(["info", "x.log"], { stdout: new MemoryStream(), stderr, env: {}, cwd: "/" });
      expect(code).toBe(ExitCode.BUG);
      expect(stderr.text).toMatch(/internal error.*\n.*cannot load/s);
    } finally {
      commands.splice(commands.indexOf(broken), 1);
    }
  });
});

describe("the option parser's errors read like every other error", () => {
  const log = new URL("../../../test-data/kernel/ext4-4k.log", import.meta.url).pathname;

  it("one line, lwlog: error: … [LWLOG_USAGE], a suggestion where there is one, exit 2", async () => {
    const cases: [string[], string][] = [
      [["replay", log, "--to", "x.img", "--untill-mark", "files"], "unknown option '--untill-mark'; did you mean --until-mark? (lwlog replay --help shows the usage)"],
      [["replay", log], "required option '--to <target>' not specified (lwlog replay --help shows the usage)"],
      [["dump", log, "--from"], "option '--from <n>' argument missing (lwlog dump --help shows the usage)"],
      [["info"], "missing required argument 'log' (lwlog info --help shows the usage)"],
      [["info", "a", "b", "c"], "too many arguments for 'info': expected 1 argument but got 3 (lwlog info --help shows the usage)"],
      [["infoo", log], "unknown command 'infoo'; did you mean info? (lwlog --help lists the commands)"],
      [["--bogus"], "unknown option '--bogus' (lwlog --help lists the commands)"],
      [["replay", log, "--to", "x.img", "--discard", "zeor"], `--discard is one of zero, skip, not "zeor"; did you mean "zero"?`],
      [["dump", log, "--kind", "write,flsh"], `--kind: unknown value "flsh" (one of write, flush, fua, discard, mark, metadata, none); did you mean "flush"?`],
      [["export", log, "--format", "cvs"], `--format is one of ndjson, json, csv, fio-iolog, not "cvs"; did you mean "csv"?`],
    ];
    for (const [argv, message] of cases) {
      const r = await runLwlog(argv);
      expect([r.code, r.stdout, r.stderr], argv.join(" ")).toEqual([ExitCode.USAGE, "", `lwlog: error: ${message} [LWLOG_USAGE]\n`]);
    }
  });

  it("no command at all shows the help on stderr and exits 2; --help and help exit 0", async () => {
    const bare = await runLwlog([]);
    expect([bare.code, bare.stdout]).toEqual([ExitCode.USAGE, ""]);
    expect(bare.stderr).toMatch(/^Usage: lwlog /);
    for (const argv of [["--help"], ["help"], ["help", "info"], ["info", "--help"]]) {
      const r = await runLwlog(argv);
      expect([r.code, r.stderr], argv.join(" ")).toEqual([ExitCode.OK, ""]);
      expect(r.stdout).toMatch(/^Usage: lwlog /);
    }
  });
});
