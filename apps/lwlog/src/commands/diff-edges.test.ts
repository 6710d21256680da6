import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { makeTempDir, randomBytes, requireTool, run } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-diff-edges-");
afterAll(() => tmp.cleanup());
const main = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

/** A log of a few writes (one of 5 MiB: hashed in pieces), a flush and a mark; `variant` changes one write's data. */
async function writesLog(path: string, variant: number): Promise<string> {
  const w = await LogWriter.create(path, { sectorSize: 512 });
  await w.write(0n, randomBytes(4096, 1));
  await w.write(64n, randomBytes(5 << 20, 2));
  await w.flush();
  await w.mark("half");
  await w.write(32768n, randomBytes(4096, 3 + variant));
  await w.write(40000n, randomBytes(512, 4));
  await w.close();
  return path;
}

describe("lwlog diff under an address-space limit (ulimit -v, prlimit --as)", () => {
  it("compares as without the limit, with the addon and without it (no WebAssembly memory to reserve)", async () => {
    requireTool("prlimit");
    expect(existsSync(main), "build lwlog first (turbo builds before testing)").toBe(true);
    const a = await writesLog(join(tmp.path, "as-a.log"), 0);
    const b = await writesLog(join(tmp.path, "as-b.log"), 1);
    const want = await runLwlog(["diff", "--json", "--state", a, b]);
    expect(want.code).toBe(1);
    // 2 GB: far more than lwlog needs, far less than the ~10 GiB one WebAssembly memory reserves.
    for (const env of [{}, { LWLOG_NO_NATIVE: "1" }]) {
      const limited = run("prlimit", ["--as=2000000000", process.execPath, main, "diff", "--json", "--state", a, b], {
        check: false,
        env: { ...process.env, ...env },
      });
      expect(limited.stderr).toBe("");
      expect(limited.status).toBe(1);
      expect(JSON.parse(limited.stdout)).toEqual(JSON.parse(want.stdout));
      const same = run("prlimit", ["--as=2000000000", process.execPath, main, "diff", a, a], { check: false, env: { ...process.env, ...env } });
      expect(same.status, same.stderr).toBe(0);
    }
  });
});
