import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { kernelLogs, makeTempDir, randomBytes } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-crashes-cli-");
afterAll(() => tmp.cleanup());

const S = 512;
let log = "";
let jBin = "";
let cBin = "";
/**
 * A journal block J (sector 0) and its commit block C (sector 1) with no flush between them
 * (the missing-flush bug), a home write H (sectors 2-3), a flush, a mark, then the same done
 * right elsewhere, and a last flush.
 */
beforeAll(async () => {
  log = join(tmp.path, "jc.log");
  const w = await LogWriter.create(log, { sectorSize: S });
  await w.mark("start"); // 0
  await w.write(0n, randomBytes(S, 1)); // 1 J
  await w.write(1n, randomBytes(S, 2)); // 2 C
  await w.write(2n, randomBytes(2 * S, 3)); // 3 H
  await w.flush(); // 4
  await w.mark("next"); // 5
  await w.write(8n, randomBytes(S, 4)); // 6 J2
  await w.flush(); // 7
  await w.write(9n, randomBytes(S, 5), { flags: 2n }); // 8 C2 (FUA)
  await w.write(16n, randomBytes(S, 6)); // 9
  await w.flush(); // 10
  await w.close();
  jBin = join(tmp.path, "j.bin");
  cBin = join(tmp.path, "c.bin");
  writeFileSync(jBin, randomBytes(S, 1));
  writeFileSync(cBin, randomBytes(S, 2));
});

/** Fails (exit 3) when the commit block is on the disk and its journal block is not. */
const checker = () => `if cmp -s -i 512:0 -n 512 {image} ${cBin} && ! cmp -s -n 512 {image} ${jBin}; then echo "commit without journal in $LWLOG_STATE at $LWLOG_ENTRY after $LWLOG_MARK"; exit 3; fi`;

describe("lwlog crashes", () => {
  it("judges every state, fails on the dropped journal block, minimises, and says how to reproduce", async () => {
    const r = await runLwlog(["crashes", log, "--exec", checker()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("crash points: 3 (before each FLUSH, and the end)");
    expect(r.stderr).toContain("states: 12 (3 points with every state; at most 1024 a point); torn writes off");
    expect(r.stdout).toMatch(/^12 states: 10 passed, 2 failed; 1 minimal failing state, [0-9.]+ s/);
    expect(r.stdout).toMatch(/FAILED cs1-4-[0-9a-z]+: crash before entry 4 \(flush\), after mark "start" \(entry 0\), before mark "next" \(entry 5\)/);
    expect(r.stdout).toContain("  drops 1 entry (1)");
    expect(r.stdout).toContain("  exec: exit status 3");
    expect(r.stdout).toMatch(/    commit without journal in cs1-4-[0-9a-z]+ at 4 after start/);
    expect(r.stdout).toMatch(/minimal failing states:\n  cs1-4-[0-9a-z]+  crash before entry 4 \(after mark "start"\): drop entry 1 \(write sectors 0\.\.0\)  \[2 failures\]/);
    expect(r.stdout).toMatch(/reproduce one: lwlog crashes \S+jc\.log --state cs1-4-[0-9a-z]+ --to state\.img/);
  });

  it("--json: states, passed, failed, failures with id, point, dropped, torn, exit, output and minimal", async () => {
    const r = await runLwlog(["crashes", log, "--exec", checker(), "--json"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ states: 12, passed: 10, failed: 2, planned: 12, missing: [], interrupted: false, points: 3, sectorSize: 512 });
    expect(doc.failures).toHaveLength(2);
    for (const f of doc.failures) {
      expect(f).toMatchObject({ point: 4, torn: [], exit: 3, judge: "exec" });
      expect(f.dropped).toContain(1);
      expect(f.output[0]).toMatch(/^commit without journal in cs1-4-/);
      expect(f.minimal).toMatchObject({ dropped: [1], torn: [], complete: true });
      expect(f.minimal.id).toMatch(/^cs1-4-/);
    }
    expect(r.stderr).toBe("");
  });

  it("--ndjson: one record a state; --state ID --to IMG writes exactly that state, and the judge fails on it again", async () => {
    const r = await runLwlog(["crashes", log, "--exec", checker(), "--ndjson"]);
    expect(r.code).toBe(1);
    const records = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(records).toHaveLength(12);
    expect(records.map((x) => x.ordinal)).toEqual([...Array(12).keys()]);
    const failed = records.find((x) => x.verdict === "failed")!;
    const img = join(tmp.path, "state.img");
    const w = await runLwlog(["crashes", log, "--state", failed.minimal.id, "--to", img]);
    expect(w.code).toBe(0);
    expect(w.stdout).toContain(`state ${failed.minimal.id}: crash before entry 4, after mark "start" (entry 0), before mark "next" (entry 5)`);
    expect(w.stdout).toContain("drop entry 1 (write sectors 0..0)");
    const bytes = readFileSync(img);
    expect(bytes.length).toBe(17 * S);
    expect(bytes.subarray(0, S).every((b) => b === 0)).toBe(true); // J dropped
    expect(bytes.subarray(S, 2 * S)).toEqual(Buffer.from(randomBytes(S, 2))); // C kept
    expect(bytes.subarray(2 * S, 4 * S)).toEqual(Buffer.from(randomBytes(2 * S, 3))); // H kept
    expect(bytes.subarray(8 * S).every((b) => b === 0)).toBe(true); // nothing after the point
    // The same id judged alone fails the same way; the prefix state passes.
    const again = await runLwlog(["crashes", log, "--state", failed.minimal.id, "--exec", checker(), "--json"]);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: failed.minimal.id, point: 4, dropped: [1], verdict: { verdict: "failed", exit: 3 } });
    const prefix = records.find((x) => x.point === 4 && x.source === "prefix")!;
    expect((await runLwlog(["crashes", log, "--state", prefix.id, "--exec", checker()])).code).toBe(0);
    // An existing image is not replaced without --force, and never the log.
    const refused = await runLwlog(["crashes", log, "--state", prefix.id, "--to", img]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/lwlog: error: .*state\.img: already exists \(refusing to overwrite it; pass --force to replace it\) \[LWLOG_EXISTS\]/);
    expect((await runLwlog(["crashes", log, "--state", prefix.id, "--to", img, "--force"])).code).toBe(0);
    expect(readFileSync(img).subarray(0, S)).toEqual(Buffer.from(randomBytes(S, 1)));
    const self = await runLwlog(["crashes", log, "--state", prefix.id, "--to", log, "--force"]);
    expect(self.code).toBe(2);
    expect(self.stderr).toContain("[LWLOG_TARGET_IS_LOG]");
    expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  });

  it("--state N, a replay checkpoint's LWLOG_STATE, writes the prefix state through entry N: the bytes replay --until-entry N writes", async () => {
    const dir = join(tmp.path, "prefix-states");
    mkdirSync(dir);
    for (let n = 0; n <= 10; n++) {
      const replayed = join(dir, `replay-${n}.img`);
      const state = join(dir, `state-${n}.img`);
      expect((await runLwlog(["replay", log, "--to", replayed, "--size", "auto", "--until-entry", String(n)])).code).toBe(0);
      const w = await runLwlog(["crashes", log, "--state", String(n), "--to", state, "--json"]);
      expect(w.code, w.stderr).toBe(0);
      expect(JSON.parse(w.stdout)).toMatchObject({ id: expect.stringMatching(new RegExp(`^cs1-${n + 1}-`)), point: n + 1, dropped: [], torn: [] });
      expect(readFileSync(state).equals(readFileSync(replayed)), `entry ${n}`).toBe(true);
    }
    // What a replay checker saw at each checkpoint, by the LWLOG_STATE it was given.
    const seen = join(dir, "seen");
    mkdirSync(seen);
    const r = await runLwlog(["replay", log, "--to", join(dir, "target.img"), "--size", "auto", "--check", "flush,mark", "--exec", `cp {image} ${seen}/$LWLOG_STATE.img`]);
    expect(r.code, r.stderr).toBe(0);
    const states = readdirSync(seen).map((f) => f.replace(/\.img$/, ""));
    expect(states.sort()).toEqual(["0", "10", "4", "5", "7"]);
    for (const st of states) {
      const out = join(dir, `again-${st}.img`);
      expect((await runLwlog(["crashes", log, "--state", st, "--to", out])).code).toBe(0);
      expect(readFileSync(out).equals(readFileSync(join(seen, `${st}.img`))), `LWLOG_STATE ${st}`).toBe(true);
    }
    // The kernel's ext4 log (discards from mkfs, a journal): in the middle of an epoch and at the end.
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    for (const n of [57, 303]) {
      const replayed = join(dir, `k-replay-${n}.img`);
      const state = join(dir, `k-state-${n}.img`);
      expect((await runLwlog(["replay", k.path, "--to", replayed, "--size", "auto", "--until-entry", String(n)])).code).toBe(0);
      expect((await runLwlog(["crashes", k.path, "--state", String(n), "--to", state])).code).toBe(0);
      expect(readFileSync(state).equals(readFileSync(replayed)), `ext4-4k.log entry ${n}`).toBe(true);
    }
    const past = await runLwlog(["crashes", log, "--state", "11", "--to", join(dir, "none.img")]);
    expect(past.code).toBe(1);
    expect(past.stderr).toMatch(/lwlog: error: .*jc\.log: state 11 is an entry index \(a replay checkpoint's LWLOG_STATE\), but the log's entries are 0\.\.10 \[LWLOG_BAD_STATE_ID\]\n$/);
    expect(existsSync(join(dir, "none.img"))).toBe(false);
  });

  it("a bad, damaged or foreign id is refused with a clear error (exit 1), nothing written", async () => {
    const r = await runLwlog(["crashes", log, "--exec", "true", "--ndjson"]);
    const id: string = JSON.parse(r.stdout.split("\n")[3]!).id;
    const img = join(tmp.path, "never.img");
    const bad = await runLwlog(["crashes", log, "--state", "nonsense", "--to", img]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^lwlog: error: \S+jc\.log: "nonsense" is not a crash-state id \(they read cs1-POSITION-CODE, as lwlog crashes prints them\) \[LWLOG_BAD_STATE_ID\]\n$/);
    const damaged = await runLwlog(["crashes", log, "--state", id.slice(0, -2) + (id.endsWith("a") ? "bb" : "aa"), "--to", img]);
    expect(damaged.stderr).toMatch(/is damaged \(its checksum does not match\): copy it again, whole \[LWLOG_BAD_STATE_ID\]/);
    const other = kernelLogs().find((k) => k.file === "raw-512.log")!;
    const foreign = await runLwlog(["crashes", other.path, "--state", id, "--to", img]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/was made on another log \(or this log changed\).*\[LWLOG_FOREIGN_STATE_ID\]/);
    expect(existsSync(img)).toBe(false);
  });

  it("--dry-run prints the plan; the same options give the same states; --samples bounds the run", async () => {
    const plan = await runLwlog(["crashes", log, "--dry-run"]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("  POINT  FLUSH  CANDIDATES  STATES  HOW");
    expect(plan.stdout).toContain("\n      4      0           3       8  every state\n");
    expect(plan.stdout).toContain("\n     10      7           1       2  every state (end)\n");
    const a = await runLwlog(["crashes", log, "--dry-run", "--ndjson", "--samples", "5", "--seed", "9"]);
    const b = await runLwlog(["crashes", log, "--dry-run", "--ndjson", "--samples", "5", "--seed", "9"]);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.trim().split("\n")).toHaveLength(5);
    const run = await runLwlog(["crashes", log, "--samples", "5", "--exec", "true", "--json"]);
    expect(JSON.parse(run.stdout)).toMatchObject({ states: 5, passed: 5, failed: 0 });
    expect(run.code).toBe(0);
  });

  it("every view strategy gives the same verdicts (overlay: the checker reads the view through nbdfuse)", async () => {
    const verdicts = async (view: string) => {
      const r = await runLwlog(["crashes", log, "--exec", checker(), "--view", view, "--ndjson", "--minimise", "0", "--points", "flush", "--until-mark", "next"]);
      return r.stdout.trim().split("\n").map((l) => JSON.parse(l)).map((x) => [x.id, x.verdict]);
    };
    const copy = await verdicts("copy");
    expect(copy.filter(([, v]) => v === "failed")).toHaveLength(2);
    expect(await verdicts("overlay")).toEqual(copy);
    // A checker that reads the state over NBD ({nbd}, LWLOG_NBD) sees the same disk.
    const got = join(tmp.path, "via-nbd.bin");
    const nbdChecker = `[ "$LWLOG_NBD" = {nbd} ] || exit 9; nbdcopy {nbd} ${got} && if cmp -s -i 512:0 -n 512 ${got} ${cBin} && ! cmp -s -n 512 ${got} ${jBin}; then echo "commit without journal in $LWLOG_STATE"; exit 3; fi`;
    const r = await runLwlog(["crashes", log, "--exec", nbdChecker, "--view", "copy", "--ndjson", "--minimise", "0", "--points", "flush", "--until-mark", "next"]);
    expect(r.stdout.trim().split("\n").map((l) => JSON.parse(l)).map((x) => [x.id, x.verdict]), r.stderr).toEqual(copy);
  }, 60_000);

  it("--torn tears the home write's two sectors too", async () => {
    const r = await runLwlog(["crashes", log, "--torn", "--exec", "true", "--ndjson"]);
    expect(r.code).toBe(0);
    const records = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    // Point 4: J, C (1 sector each) and H (2 sectors): 2^4 states.
    expect(records.filter((x) => x.point === 4)).toHaveLength(16);
    const torn = records.filter((x) => x.torn.length > 0);
    expect(torn.length).toBeGreaterThan(0);
    expect(torn[0].torn[0]).toMatchObject({ entry: 3, sector: 2, sectors: 2 });
  });

  it("crash points that match nothing leave the end, with a note; a mark not there fails with a hint; usage errors exit 2", async () => {
    const none = await runLwlog(["crashes", log, "--points", "fua", "--from-mark", "next", "--until-mark", "next", "--exec", "true"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no mark named "next" after entry 5; the first one is at entry 5, before the start.*\[LWLOG_POINT_NOT_FOUND\]/);
    // A rule that matches nothing still leaves the end of the log, where a power cut can lose writes: judged, and said.
    const nofua = await runLwlog(["crashes", kernelLogs().find((k) => k.file === "ext4-4k.log")!.path, "--points", "fua", "--from-mark", "umount", "--exec", "true", "--json"]);
    expect(nofua.code, nofua.stderr).toBe(0);
    const doc = JSON.parse(nofua.stdout);
    expect(doc.unmatched).toMatch(/^--points fua matched no position after mark "umount" \(0 FUA entries, 1 FLUSH entry, 1 mark, 3 positions there\): the end of the log \(after entry \d+\) is the only crash point, .*; try --points flush for more points$/);
    expect([doc.points, doc.states >= 1, doc.passed === doc.states]).toEqual([1, true, true]);
    expect(JSON.parse((await runLwlog(["crashes", log, "--exec", "true", "--json"])).stdout).unmatched).toBeNull();
    const bare = await runLwlog(["crashes", log]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/give a judge: --fs ext4\|xfs\|btrfs\|auto .*--exec CMD .*--persisted FILE .*--dry-run/);
    expect((await runLwlog(["crashes", log, "--points", "sometimes", "--exec", "true"])).code).toBe(2);
    expect((await runLwlog(["crashes", log, "--to", "x.img"])).stderr).toMatch(/--to writes one state: give its id with --state ID/);
  });

  it("a log that is not one, cut short or missing: clear errors, nothing judged", async () => {
    const cut = join(tmp.path, "cut.log");
    writeFileSync(cut, readFileSync(log).subarray(0, 3 * S + 100));
    const r = await runLwlog(["crashes", cut, "--exec", "true"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^lwlog: error: \S+cut\.log: entry 1: offset 1024: data runs past the end of the file: .*\(lwlog convert --fix-superblock writes a copy that declares the entries that are there\) \[LWLOG_(TRUNCATED_HEADER|DATA_PAST_EOF|MISSING_ENTRIES)\]\n$/);
    expect(r.stdout).toBe("");
    const notLog = join(tmp.path, "not.log");
    writeFileSync(notLog, new Uint8Array(4096).fill(7));
    const bad = await runLwlog(["crashes", notLog, "--exec", "true"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\[LWLOG_BAD_MAGIC\]/);
    const missing = await runLwlog(["crashes", join(tmp.path, "nope.log"), "--exec", "true"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.log: no such file \[LWLOG_NOT_FOUND\]/);
  });

  it("Ctrl-C while a checker runs is an interruption (exit 130), not a failure; nothing is left behind", async () => {
    const scratch = join(tmp.path, "scratch");
    mkdirSync(scratch);
    let fire: (() => void) | undefined;
    const started = join(tmp.path, "started");
    const pending = runLwlog(["crashes", log, "--exec", `touch ${started}; sleep 30`, "--scratch", scratch, "--json"], {
      onInterrupt: (h) => {
        fire = h;
        return () => undefined;
      },
    });
    for (let i = 0; i < 200 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 50));
    fire!();
    const r = await pending;
    expect(r.code).toBe(130);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ interrupted: true, states: 0, failed: 0 });
    expect(r.stderr).toMatch(/interrupted after 0 of 12 states/);
    expect(readdirSync(scratch)).toEqual([]);
  }, 20_000);
});

describe("lwlog crashes --persisted (the data judge) on the kernel's ext4 log", () => {
  const ext4 = kernelLogs().find((k) => k.file === "ext4-4k.log")!;
  // Between marks "files" and "rm" the workload removes dir c and truncates big; a/ is untouched.
  const run = async (lines: string[]) => {
    const list = join(tmp.path, `persisted-${lines.length}-${lines[0]!.replace(/\W/g, "")}.list`);
    writeFileSync(list, `# made durable by the sync before mark "files"\n${lines.join("\n")}\n`);
    return runLwlog(["crashes", ext4.path, "--from-mark", "files", "--until-mark", "rm", "--samples", "6", "--fs", "ext4", "--persisted", list, "--json", "--minimise", "0"]);
  };

  it("passes when the listed files survive every crash state of their window", async () => {
    const r = await run(["files: a/f3", "files: /a/f48", "files: hello.txt", "files: a/renamed0"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ states: 6, passed: 6, failed: 0 });
  }, 120_000);

  it("fails a state whose listed file is missing or changed, and says which and how", async () => {
    const r = await run(["files: c/f2", "files: big", "files: a/f9"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.failed).toBeGreaterThan(0);
    const f = doc.failures.find((x: { point: number }) => x.point === 292);
    expect(f).toMatchObject({ judge: "data", exit: null });
    expect(f.files).toEqual([
      expect.objectContaining({ path: "c/f2", problem: "missing", mark: "files", markEntry: 256, expected: expect.objectContaining({ size: 15851 }) }),
      expect.objectContaining({ path: "big", problem: "size", found: expect.objectContaining({ size: 1000 }), expected: expect.objectContaining({ size: 1048576 }) }),
    ]);
    expect(f.output).toEqual(['c/f2 is missing (it was fsynced by mark "files", 15851 bytes)', 'big has 1000 bytes, it had 1048576 at mark "files"']);
  }, 120_000);

  it("a path that is not there at its mark, or a mark the log lacks, is an error before any state is judged", async () => {
    const missing = await run(["files: nope.txt"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.txt does not exist in the state at mark "files" \(entry 256\): there is nothing to compare crash states with.*\[LWLOG_PERSISTED_NOT_AT_MARK\]/);
    const nomark = await run(["fsynced: a/f3"]);
    expect(nomark.code).toBe(1);
    expect(nomark.stderr).toMatch(/line 2: the log has no mark named "fsynced" \(its marks: "mkfs", "files", "rm", "umount", "dm-log-writes-end"\) \[LWLOG_POINT_NOT_FOUND\]/);
    const bad = await run(["just a path"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/line 2: expected "MARK: PATH".*\[LWLOG_BAD_PERSISTED\]/);
  }, 120_000);
});
