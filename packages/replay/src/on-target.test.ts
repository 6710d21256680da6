import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogWriter } from "@lwlog/codec";
import { makeTempDir, randomBytes, requireTool, run } from "@lwlog/testkit";
import { ImageTarget, replayLog, TargetError, type Checkpoint } from "./index.js";

// check.onTarget (replay-log's --fsck): the checker runs on the target itself after an fsync,
// with no scratch view, and the replay goes on from whatever the checker left there.

const tmp = makeTempDir("lwlog-replay-on-target-");
afterAll(() => tmp.cleanup());
const S = 512;
const FUA = 2n;
let n = 0;

/** Entries 0..5: A→0, B→1 FUA (checkpoint), C→1, D→2 FUA (checkpoint), discard 3..4, E→5. */
async function writeLog(dir: string): Promise<string> {
  const path = join(dir, "l.log");
  const w = await LogWriter.create(path, { sectorSize: S });
  await w.write(0n, randomBytes(S, 1));
  await w.write(1n, randomBytes(S, 2), { flags: FUA });
  await w.write(1n, randomBytes(S, 3));
  await w.write(2n, randomBytes(S, 4), { flags: FUA });
  await w.discard(3n, 2n);
  await w.write(5n, randomBytes(S, 5));
  await w.close();
  return path;
}

function writeAt(path: string, sector: number, data: Uint8Array): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, data, 0, data.length, sector * S);
  } finally {
    closeSync(fd);
  }
}

const sector = (img: Buffer, i: number) => img.subarray(i * S, (i + 1) * S);

describe.each([
  ["compacted", false],
  ["in order", true],
])("check.onTarget, %s", (_name, inOrder) => {
  it("hands the checker the synced target itself, opens no scratch space, and replays on from what the checker changed", async () => {
    const dir = join(tmp.path, `d${++n}`);
    mkdirSync(dir);
    const log = await writeLog(dir);
    const path = join(dir, "t.img");
    const target = ImageTarget.open(path, { size: 8 * S, log });
    let syncs = 0;
    const sync = target.sync.bind(target);
    target.sync = () => (syncs++, sync());
    const seen: { point: Checkpoint; syncs: number; image: Buffer }[] = [];
    const X = randomBytes(S, 100);
    const Y = randomBytes(S, 101);
    const s = await replayLog({
      log,
      target,
      inOrder,
      check: {
        rules: ["fua"],
        onTarget: true,
        // A scratch space here would fail to open (its directory does not exist): none may be opened.
        scratch: { dir: join(dir, "no-such-dir") },
        run: (point) => {
          seen.push({ point, syncs, image: readFileSync(point.image) });
          // What fsck -y would do: repair the target. The first repair is later overwritten
          // at sector 1 (entry 2) and kept at sector 0; the second at sectors 3..4 is discarded.
          if (point.entry === 1) (writeAt(point.image, 0, X), writeAt(point.image, 1, X));
          if (point.entry === 3) (writeAt(point.image, 3, Y), writeAt(point.image, 6, Y));
          return { ok: true };
        },
      },
    });
    target.close();
    expect(s.checkpoints.run).toBe(2);
    expect(s.checkpoints.views).toEqual({ target: 2 });
    expect(seen.map((x) => x.point.entry)).toEqual([1, 3]);
    for (const [i, { point, syncs: synced }] of seen.entries()) {
      expect(point.image).toBe(path);
      expect(point.target).toBe(path);
      expect(point.view).toBe("target");
      expect(point.nbd).toBeUndefined();
      expect(synced).toBe(i + 1); // an fsync before each checker
    }
    // The checker saw the replay's state, and at the second checkpoint its own first repair.
    const first = seen[0]!.image;
    expect(sector(first, 0)).toEqual(Buffer.from(randomBytes(S, 1)));
    expect(sector(first, 1)).toEqual(Buffer.from(randomBytes(S, 2)));
    const second = seen[1]!.image;
    expect(sector(second, 0)).toEqual(Buffer.from(X));
    expect(sector(second, 1)).toEqual(Buffer.from(randomBytes(S, 3)));
    expect(sector(second, 2)).toEqual(Buffer.from(randomBytes(S, 4)));
    // The end: the replay went on from the repaired target.
    const end = readFileSync(path);
    expect(sector(end, 0)).toEqual(Buffer.from(X));
    expect(sector(end, 1)).toEqual(Buffer.from(randomBytes(S, 3)));
    expect(sector(end, 2)).toEqual(Buffer.from(randomBytes(S, 4)));
    expect(sector(end, 3)).toEqual(Buffer.alloc(S));
    expect(sector(end, 4)).toEqual(Buffer.alloc(S));
    expect(sector(end, 5)).toEqual(Buffer.from(randomBytes(S, 5)));
    expect(sector(end, 6)).toEqual(Buffer.from(Y));
    expect(readdirSync(dir).sort()).toEqual(["l.log", "t.img"]); // no scratch directory beside the target
  });

  it("a failed check on the target stops the replay there, the checker's changes kept", async () => {
    const dir = join(tmp.path, `d${++n}`);
    mkdirSync(dir);
    const log = await writeLog(dir);
    const path = join(dir, "t.img");
    const X = randomBytes(S, 7);
    const s = await replayLog({
      log,
      target: path,
      size: 8 * S,
      inOrder,
      check: { rules: ["fua"], onTarget: true, run: (p) => (writeAt(p.image, 7, X), { ok: false, output: "bad" }) },
    });
    expect(s.checkpoints.firstBad).toBe(1);
    expect(s.last).toBe(1);
    expect(s.checkpoints.views).toEqual({ target: 1 });
    const end = readFileSync(path);
    expect(sector(end, 1)).toEqual(Buffer.from(randomBytes(S, 2)));
    expect(sector(end, 2)).toEqual(Buffer.alloc(S));
    expect(sector(end, 7)).toEqual(Buffer.from(X));
    expect(readdirSync(dir).sort()).toEqual(["l.log", "t.img"]);
  });
});

/** Opens `dev` O_EXCL (as e2fsck and mount do) and closes it; the error code when refused. */
function exclusiveOpen(dev: string): string | undefined {
  try {
    closeSync(openSync(dev, constants.O_RDWR | constants.O_EXCL));
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

describe("a block device target and a checker that opens it exclusively", () => {
  it("exclusive: false still refuses a device in use, then lets others open it O_EXCL; onTarget replays onto a device that way", async () => {
    requireTool("losetup");
    const dir = join(tmp.path, `d${++n}`);
    mkdirSync(dir);
    const log = await writeLog(dir);
    const backing = join(dir, "dev.img");
    writeFileSync(backing, new Uint8Array(64 * S));
    const dev = run("losetup", ["-f", "--show", backing]).stdout.trim();
    try {
      const held = ImageTarget.open(dev);
      expect(exclusiveOpen(dev)).toBe("EBUSY");
      // In use: refused whether or not the replay would hold it exclusively.
      expect(() => ImageTarget.open(dev, { exclusive: false })).toThrow(TargetError);
      held.close();
      const shared = ImageTarget.open(dev, { exclusive: false });
      expect(exclusiveOpen(dev)).toBeUndefined();
      shared.close();

      const seen: (string | undefined)[] = [];
      const s = await replayLog({ log, target: dev, check: { rules: ["fua"], onTarget: true, run: (p) => (seen.push(exclusiveOpen(p.image)), { ok: true }) } });
      expect(s.checkpoints.views).toEqual({ target: 2 });
      expect(seen).toEqual([undefined, undefined]);
      // Without onTarget the device is held exclusively while views of it are judged.
      const views: (string | undefined)[] = [];
      await replayLog({ log, target: dev, check: { rules: ["fua"], scratch: { dir }, run: () => (views.push(exclusiveOpen(dev)), { ok: true }) } });
      expect(views).toEqual(["EBUSY", "EBUSY"]);
    } finally {
      run("losetup", ["-d", dev]);
    }
  });
});
