import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, randomBytes } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-find-");
afterAll(() => tmp.cleanup());

const ext4 = kernelLogs().find((k) => k.file === "ext4-512.log")!;

/** write, FLUSH, FUA write, mark "a", write, FUA, mark "a" again; then two tail entries: a FUA write and mark "t". */
let made: string | undefined;
async function log(): Promise<string> {
  if (made !== undefined) return made;
  const path = join(tmp.path, "find.log");
  const w = await LogWriter.create(path, { sectorSize: 512 });
  await w.write(0n, randomBytes(512, 1)); // 0
  await w.flush(); // 1
  await w.write(1n, randomBytes(512, 2), { flags: 2n }); // 2 FUA
  await w.mark("a"); // 3
  await w.write(2n, randomBytes(512, 3)); // 4
  await w.write(3n, randomBytes(512, 4), { flags: 2n }); // 5 FUA
  await w.mark("a"); // 6
  await w.writeSuper();
  await w.write(4n, randomBytes(512, 5), { flags: 2n }); // 7 (tail)
  await w.mark("t"); // 8 (tail)
  await w.close({ super: false });
  made = path;
  return path;
}

describe("lwlog find", () => {
  it("prints the entry index of a mark, the next FUA or FLUSH, or an entry that exists", async () => {
    const p = await log();
    expect(await runLwlog(["find", p, "--mark", "a"])).toEqual({ code: 0, stdout: "3\n", stderr: "" });
    expect((await runLwlog(["find", p, "--mark", "a", "--from-entry", "4"])).stdout).toBe("6\n");
    expect((await runLwlog(["find", p, "--next-fua"])).stdout).toBe("2\n");
    expect((await runLwlog(["find", p, "--next-fua", "--from-entry", "3"])).stdout).toBe("5\n");
    expect((await runLwlog(["find", p, "--next-fua", "--from-entry", "5"])).stdout).toBe("5\n");
    expect((await runLwlog(["find", p, "--next-flush"])).stdout).toBe("1\n");
    expect((await runLwlog(["find", p, "--entry", "6"])).stdout).toBe("6\n");
  });

  it("on the kernel logs, finds every mark at its manifest index", async () => {
    for (const m of ext4.marks) {
      const r = await runLwlog(["find", ext4.path, "--mark", m.name]);
      expect(r.stdout).toBe(`${m.entry_index}\n`);
    }
  });

  it("--json describes the entry", async () => {
    const r = await runLwlog(["find", await log(), "--mark", "a", "--from-entry", "4", "--json"]);
    expect(JSON.parse(r.stdout)).toEqual({ entry: 6, offset: expect.any(Number), kind: "mark", flags: ["MARK"], tail: false, mark: "a" });
    const f = JSON.parse((await runLwlog(["find", await log(), "--next-fua", "--json"])).stdout);
    expect(f).toEqual({ entry: 2, offset: 512 + 1024 + 512, kind: "write", flags: ["FUA"], tail: false });
  });

  it("exit 1 when there is none, saying so (and when --tail would find it)", async () => {
    const p = await log();
    const none = await runLwlog(["find", p, "--mark", "zzz"]);
    expect(none).toEqual({ code: 1, stdout: "", stderr: `lwlog: error: ${p}: no mark named "zzz" among the 7 entries (the log has 1 mark: "a") [LWLOG_NO_SUCH_MARK]\n` });
    const fua = await runLwlog(["find", p, "--next-fua", "--from-entry", "6"]);
    expect(fua.code).toBe(1);
    expect(fua.stderr).toBe(`lwlog: error: ${p}: no FUA entry at or after entry 6 among the 7 entries (entry 7, past the declared count, has it: add --tail) [LWLOG_POINT_NOT_FOUND]\n`);
    const entry = await runLwlog(["find", p, "--entry", "8"]);
    expect(entry.code).toBe(1);
    expect(entry.stderr).toContain("(entry 8, past the declared count, has it: add --tail)");
    expect((await runLwlog(["find", p, "--mark", "t", "--tail"])).stdout).toBe("8\n");
    expect(JSON.parse((await runLwlog(["find", p, "--entry", "7", "--tail", "--json"])).stdout).tail).toBe(true);
  });

  it("a mark typo: error: and a code, the nearest names and the log's marks; a mark only before --from-entry says so", async () => {
    const k4 = kernelLogs().find((k) => k.file === "ext4-4k.log")!;
    const r = await runLwlog(["find", k4.path, "--mark", "umont"]);
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr: `lwlog: error: ${k4.path}: no mark named "umont" among the 304 entries; did you mean "umount"? (the log has 5 marks: "mkfs", "files", "rm", "umount", "dm-log-writes-end") [LWLOG_NO_SUCH_MARK]\n`,
    });
    const before = await runLwlog(["find", k4.path, "--mark", "mkfs", "--from-entry", "100"]);
    expect(before.code).toBe(1);
    expect(before.stderr).toBe(`lwlog: error: ${k4.path}: no mark named "mkfs" at or after entry 100 among the 304 entries; the first one is at entry 38, before --from-entry [LWLOG_NO_SUCH_MARK]\n`);
    const entry = await runLwlog(["find", k4.path, "--entry", "304"]);
    expect(entry.stderr).toBe(`lwlog: error: ${k4.path}: no entry 304 among the 304 entries [LWLOG_NO_SUCH_ENTRY]\n`);
  });

  it("usage errors: exit 2", async () => {
    const p = await log();
    for (const args of [[], ["--mark", "a", "--next-fua"], ["--entry", "1", "--from-entry", "0"], ["--entry", "x"]]) {
      const r = await runLwlog(["find", p, ...args]);
      expect(r.code, args.join(" ")).toBe(2);
    }
    expect((await runLwlog(["find", join(tmp.path, "missing.log"), "--entry", "0"])).code).toBe(2);
  });
});

describe("lwlog find on a log broken mid-way", () => {
  it("an entry at or past a malformed one is not found (exit 1), as lwlog replay could not reach it; one before it is", async () => {
    const { copyFileSync, openSync, writeSync, closeSync } = await import("node:fs");
    const p = join(tmp.path, "malformed.log");
    copyFileSync(await log(), p);
    // Entry 4's header block (a plain write): a stray byte in its padding.
    const offset = 512 + 1024 + 512 + 1024 + 512;
    const fd = openSync(p, "r+");
    writeSync(fd, new Uint8Array([0x7f]), 0, 1, offset + 100);
    closeSync(fd);
    expect((await runLwlog(["find", p, "--mark", "a"])).stdout).toBe("3\n");
    for (const args of [["--mark", "a", "--from-entry", "4"], ["--next-fua", "--from-entry", "4"], ["--entry", "4"], ["--entry", "6"]]) {
      const r = await runLwlog(["find", p, ...args]);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stdout, args.join(" ")).toBe("");
      expect(r.stderr, args.join(" ")).toContain(`${p}: entry 4: offset ${offset}: malformed entry`);
    }
  });
});
