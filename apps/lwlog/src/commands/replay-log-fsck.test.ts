import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { buildReplayLog, kernelLogs, makeTempDir, randomBytes, requireTool } from "@lwlog/testkit";
import type { CliIo } from "../io.js";
import { MemoryStream } from "../testing.js";
import { runReplayLog } from "./replay-log.js";

// replay-log's --fsck runs its command on the target itself after an fsync (system(3)), and
// the replay goes on from whatever the command left there. Here the command changes the
// image (as `fsck -y` repairs it) in a way that depends on what it reads, and records the
// image it saw each time: lwlog's drop-in and the C replay-log built from xfstests' source
// must run it at the same entries, on the same bytes, and leave the same image.

const tmp = makeTempDir("lwlog-replay-log-fsck-");
afterAll(() => tmp.cleanup());
let cReplayLog = "";
beforeAll(() => {
  for (const tool of ["dd", "sha256sum"]) requireTool(tool);
  cReplayLog = buildReplayLog(tmp.path);
});

const FLUSH = 1n;
const FUA = 2n;
const DEVICE = 48;

type Op = { kind: "write"; sector: number; nr: number; flags: bigint; seed: number } | { kind: "discard"; sector: number; nr: number } | { kind: "flush" } | { kind: "mark"; name: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      sector: fc.integer({ min: 0, max: DEVICE - 4 }),
      nr: fc.integer({ min: 1, max: 4 }),
      flags: fc.constantFrom(0n, 0n, FUA, FLUSH),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("discard" as const), sector: fc.integer({ min: 0, max: DEVICE - 8 }), nr: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("flush" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("mark" as const), name: fc.constantFrom("a", "b") }) },
);

let n = 0;
async function writeLog(S: number, ops: Op[]): Promise<string> {
  const path = join(tmp.path, `log-${++n}.log`);
  const w = await LogWriter.create(path, { sectorSize: S });
  for (const op of ops) {
    if (op.kind === "write") await w.write(BigInt(op.sector), randomBytes(op.nr * S, op.seed), { flags: op.flags });
    else if (op.kind === "discard") await w.discard(BigInt(op.sector), BigInt(op.nr));
    else if (op.kind === "flush") await w.flush(FUA);
    else await w.mark(op.name);
  }
  await w.close();
  return path;
}

/**
 * A command that records the image's sha256 (what the check saw), then "repairs" it: copies
 * 16 bytes from an offset that depends on the call's number to one that depends on the bytes
 * read (so a different state or order gives a different image), and fails at call `failAt`.
 */
function fsckScript(dir: string, image: string, S: number, failAt: number): string {
  const script = join(dir, `fsck-${n}.sh`);
  writeFileSync(
    script,
    [
      "set -e",
      `cd ${dir}`,
      "c=$(cat count 2>/dev/null || echo 0); c=$((c + 1)); echo $c > count",
      `sha256sum < ${image} | cut -c1-16 >> seen`,
      `b=$(dd if=${image} bs=1 skip=$((c * 7)) count=1 status=none | od -An -tu1 | tr -d ' ')`,
      `dd if=${image} of=${image} bs=16 count=1 skip=$((c % ${DEVICE})) seek=$(((b + c) % (${(DEVICE * S) / 16} + 4))) conv=notrunc status=none`,
      `[ $c -ne ${failAt} ]`,
      "",
    ].join("\n"),
  );
  return `sh ${script}`;
}

async function runLwlog(argv: string[]): Promise<{ code: number; stdout: string }> {
  const stdout = new MemoryStream();
  const io: CliIo = { stdout, stderr: new MemoryStream(), env: { PATH: process.env.PATH }, cwd: tmp.path };
  const code = await runReplayLog(argv, io);
  return { code, stdout: stdout.text };
}

function runC(argv: string[]): { code: number; stdout: string } {
  const r = spawnSync(cReplayLog, argv, { cwd: tmp.path, encoding: "utf8" });
  if (r.error) throw r.error;
  return { code: r.status ?? 128, stdout: r.stdout };
}

const read = (p: string) => (existsSync(p) ? readFileSync(p, "utf8") : "");

describe("--fsck that changes the target: lwlog replay-log against the C replay-log", () => {
  it("the same checks, on the same bytes, the same exit code and the same image", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(512, 4096),
        fc.array(opArb, { minLength: 1, maxLength: 24 }),
        fc.constantFrom("flush", "fua", "discard", "1", "2", "3"),
        fc.integer({ min: 0, max: 8 }),
        fc.record({
          startEntry: fc.integer({ min: 0, max: 4 }),
          limit: fc.integer({ min: 0, max: 20 }),
          endMark: fc.constantFrom(undefined, "a", "b"),
          sectors: fc.option(fc.tuple(fc.integer({ min: 0, max: DEVICE }), fc.integer({ min: 0, max: DEVICE })), { nil: undefined }),
          noDiscard: fc.boolean(),
          verbose: fc.boolean(),
        }),
        async (S, ops, check, failAt, o) => {
          const log = await writeLog(S, ops);
          fc.pre(o.startEntry < ops.length);
          // A stop mark that is not there: replay-log replays everything, lwlog refuses (docs/cli.md; the differential test checks it).
          fc.pre(o.endMark === undefined || ops.slice(o.startEntry).some((op) => op.kind === "mark" && op.name === o.endMark));
          const runs = ["c", "lw"].map((who) => {
            const dir = join(tmp.path, `${who}-${n}`);
            spawnSync("mkdir", [dir]);
            const image = join(dir, "img");
            writeFileSync(image, randomBytes(DEVICE * S, n));
            const argv = ["--log", log, "--replay", image, "--fsck", fsckScript(dir, image, S, failAt), "--check", check];
            if (o.startEntry > 0) argv.push("--start-entry", String(o.startEntry));
            if (o.limit > 0) argv.push("--limit", String(o.limit));
            if (o.endMark !== undefined) argv.push("--end-mark", o.endMark);
            if (o.sectors !== undefined) argv.push("--start-sector", String(o.sectors[0]), "--end-sector", String(o.sectors[1]));
            if (o.noDiscard) argv.push("--no-discard");
            if (o.verbose) argv.push("-v");
            return { dir, image, argv };
          });
          const c = runC(runs[0]!.argv);
          const lw = await runLwlog(runs[1]!.argv);
          expect(lw).toEqual(c);
          expect(read(join(runs[1]!.dir, "seen"))).toBe(read(join(runs[0]!.dir, "seen")));
          expect(readFileSync(runs[1]!.image).equals(readFileSync(runs[0]!.image))).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  }, 300_000);

  it("e2fsck -fy at each FUA of a kernel's ext4 log, on the target (its journal recoveries kept), as btrfs/192 runs btrfs check", async () => {
    requireTool("e2fsck");
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    const [c, lw, plain] = ["c", "lw", "plain"].map((who) => join(tmp.path, `ext4-${who}.img`)) as [string, string, string];
    for (const img of [c, lw, plain]) {
      writeFileSync(img, "");
      expect(runC(["--log", k.path, "--replay", img, "--end-mark", "mkfs"]).code).toBe(0);
    }
    // E2FSCK_TIME: the same "now" for both runs (e2fsck writes it into the superblock).
    const fsck = (img: string) => `E2FSCK_TIME=1700000000 e2fsck -fy ${img} >/dev/null 2>&1; s=$?; sha256sum < ${img} | cut -c1-16 >> ${img}.seen; [ $s -le 1 ]`;
    const argv = (img: string) => ["--log", k.path, "--replay", img, "--start-mark", "mkfs", "--limit", "52", "--check", "fua", "--fsck", fsck(img)];
    const byC = runC(argv(c));
    expect(byC.code).toBe(0);
    expect(await runLwlog(argv(lw))).toEqual(byC);
    expect(read(`${lw}.seen`).trim().split("\n")).toHaveLength(9); // the FUAs of entries 39..90
    expect(read(`${lw}.seen`)).toBe(read(`${c}.seen`));
    expect(readFileSync(lw).equals(readFileSync(c))).toBe(true);
    // The checks changed the target and the replay went on from it: not the plain replay's image.
    expect(runC(["--log", k.path, "--replay", plain, "--start-mark", "mkfs", "--limit", "52"]).code).toBe(0);
    expect(readFileSync(lw).equals(readFileSync(plain))).toBe(false);
  }, 120_000);

  it("onto block devices: e2fsck -fy on the device itself (it opens it O_EXCL) while the replay holds it, as with the C replay-log", async () => {
    for (const tool of ["e2fsck", "losetup"]) requireTool(tool);
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    const backing = ["c", "lw"].map((who) => join(tmp.path, `dev-${who}.img`));
    const devs: string[] = [];
    try {
      for (const b of backing) {
        writeFileSync(b, "");
        spawnSync("truncate", ["-s", String(k.data_device_bytes), b]);
        const r = spawnSync("losetup", ["-f", "--show", b], { encoding: "utf8" });
        expect(r.status, r.stderr).toBe(0);
        devs.push(r.stdout.trim());
      }
      const [c, lw] = devs as [string, string];
      for (const dev of devs) expect(runC(["--log", k.path, "--replay", dev, "--end-mark", "mkfs"]).code).toBe(0);
      const fsck = (dev: string, seen: string) => `E2FSCK_TIME=1700000000 e2fsck -fy ${dev} >/dev/null 2>&1; s=$?; sha256sum < ${dev} | cut -c1-16 >> ${seen}; [ $s -le 1 ]`;
      const argv = (dev: string, seen: string) => ["--log", k.path, "--replay", dev, "--start-mark", "mkfs", "--limit", "40", "--check", "fua", "--fsck", fsck(dev, seen)];
      const seen = backing.map((b) => `${b}.seen`) as [string, string];
      const byC = runC(argv(c, seen[0]));
      expect(byC.code).toBe(0);
      expect(await runLwlog(argv(lw, seen[1]))).toEqual(byC);
      expect(read(seen[1]).trim().split("\n")).toHaveLength(7); // the FUAs of entries 39..78
      expect(read(seen[1])).toBe(read(seen[0]));
    } finally {
      for (const dev of devs) spawnSync("losetup", ["-d", dev]);
    }
    expect(readFileSync(backing[1]!).equals(readFileSync(backing[0]!))).toBe(true);
  }, 120_000);
});
