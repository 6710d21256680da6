import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir, run } from "@lwlog/testkit";
import { badLogs } from "./commands/test-logs.js";
import { runLwlog } from "./testing.js";

// A closed stdout (the reader of a pipe exited: `lwlog diff A B | head -1`) stops the output,
// never the verdict: the exit status is the one the command gives with its output read whole.

const tmp = makeTempDir("lwlog-closed-output-");
afterAll(() => tmp.cleanup());
const logs = kernelLogs();
const ext4 = logs.find((l) => l.file === "ext4-512.log")!.path;
const xfs = logs.find((l) => l.file === "xfs-512.log")!.path;
let broken = "";
beforeAll(async () => {
  broken = (await badLogs.dirtyPadding(tmp.path)).path;
});

/** Every command that writes to stdout, on logs that give each of its exit statuses. */
function runs(): string[][] {
  return [
    ["info", ext4],
    ["info", "--json", ext4],
    ["dump", ext4],
    ["dump", "--json", "--data", "sha256", ext4],
    ["dump", "--ndjson", ext4],
    ["dump", "--csv", ext4],
    ["marks", ext4],
    ["marks", "--json", ext4],
    ["check", ext4],
    ["check", broken],
    ["check", "--json", broken],
    ["find", "--mark", "files", ext4],
    ["export", ext4],
    ["export", "--format", "json", ext4],
    ["export", "--format", "csv", "--data", "base64", ext4],
    ["diff", ext4, ext4],
    ["diff", ext4, xfs],
    ["diff", "--json", ext4, xfs],
    ["diff", "--state", "--epochs", ext4, xfs],
    ["diff", "-q", ext4, xfs],
    ["plot", ext4, "-o", "-"],
  ];
}

describe("a closed stdout (a pipe into head)", () => {
  it("cuts the output short, quietly, and leaves every command's exit status as it is", async () => {
    for (const args of runs()) {
      const whole = await runLwlog(args);
      // Closed after the first write, and in the middle of an output larger than that.
      for (const after of whole.stdout.length > 70_000 ? [1, 70_000] : [1]) {
        const cut = await runLwlog(args, { stdoutCloses: after });
        const what = `lwlog ${args.join(" ")} | head -c ${after}`;
        expect(cut.code, what).toBe(whole.code);
        expect(cut.stderr, what).toBe(whole.stderr);
        expect(whole.stdout.startsWith(cut.stdout), what).toBe(true);
      }
    }
  }, 120_000);

  it("a stdout that fails (a full disk) is trouble: exit 2, said on stderr", async () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    for (const args of [["dump", ext4], ["diff", ext4, xfs], ["info", ext4]]) {
      const r = await runLwlog(args, { stdoutCloses: 10, stdoutFailure: enospc });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toBe("lwlog: error: <stdout>: cannot write the output: ENOSPC: no space left on device, write [LWLOG_IO]\n");
    }
  });
});

describe("the built lwlog with a real pipe (set -o pipefail)", () => {
  const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));
  const sh = (cmd: string) => run("bash", ["-c", `set -o pipefail; ${cmd}`], { check: false });

  it("diff A B | head -1 exits 1 as diff A B does; dump | head exits 0; check of a bad log | head exits 1", () => {
    expect(existsSync(main), "build lwlog first (turbo builds before testing)").toBe(true);
    const node = `${process.execPath} ${main}`;
    for (const [cmd, code] of [
      [`diff --json ${ext4} ${xfs}`, 1],
      [`diff ${ext4} ${xfs}`, 1],
      [`diff ${ext4} ${ext4}`, 0],
      [`dump --ndjson --data hex ${ext4}`, 0],
      [`export --data base64 ${ext4}`, 0],
      [`check --max-problems 0 ${broken}`, 1],
    ] as const) {
      const r = sh(`${node} ${cmd} | head -c 10 > /dev/null`);
      expect(r.status, `${cmd}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toBe("");
    }
  });

  it("a full disk on stdout: exit 2 and a message, no stack trace", () => {
    const r = sh(`${process.execPath} ${main} dump ${join(ext4)} > /dev/full`);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("lwlog: error: <stdout>: cannot write the output: ENOSPC: no space left on device, write [LWLOG_IO]\n");
  });
});
