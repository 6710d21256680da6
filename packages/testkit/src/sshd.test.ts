import { spawnSync } from "node:child_process";
import { createConnection } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir } from "./files.js";
import { startSshd } from "./sshd.js";

const tmp = makeTempDir("lwlog-sshd-");
afterAll(() => tmp.cleanup());

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

describe("startSshd", () => {
  it("lets the test's user in with the throwaway key, runs a command, and is gone after stop()", async () => {
    const sshd = await startSshd(join(tmp.path, "sshd"));
    try {
      const r = spawnSync(sshd.ssh[0]!, [...sshd.ssh.slice(1), sshd.login, "echo", "hello from $(hostname)"], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^hello from /);
      expect(await listening(sshd.port)).toBe(true);
    } finally {
      await sshd.stop();
    }
    expect(await listening(sshd.port)).toBe(false);
  });
});
