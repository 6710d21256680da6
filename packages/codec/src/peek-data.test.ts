import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { LogFile, LogWriter } from "./index.js";

const tmp = makeTempDir("lwlog-codec-peek-");
afterAll(() => tmp.cleanup());

describe("LogCursor.peekData", () => {
  it("gives the data of small entries from the read window, and undefined for what the window does not hold", async () => {
    const path = join(tmp.path, "peek.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    const small = randomBytes(4096, 7);
    const big = randomBytes(64 << 10, 9);
    await w.write(8n, small);
    await w.flush();
    await w.discard(100n, 8n);
    await w.write(200n, big);
    await w.mark("m");
    await w.close();
    const log = LogFile.openSync(path);
    // A 16 KiB window: the 4 KiB write fits in it, the 64 KiB one cannot.
    const c = log.cursor({ blockSize: 16 << 10 });
    const seen: (Uint8Array | undefined)[] = [];
    for (let e = c.next(); e !== undefined; e = c.next()) {
      const d = c.peekData(e);
      seen.push(d === undefined ? undefined : d.slice());
      if (e.kind === "write" && d !== undefined) expect(d.length).toBe(e.dataSize);
    }
    log.close();
    expect(seen[0]).toEqual(small);
    expect(seen[1]).toBeUndefined(); // flush: no data
    expect(seen[2]).toBeUndefined(); // discard: no data in the log
    expect(seen[3]).toBeUndefined(); // larger than the window
    expect(seen[4]).toBeUndefined(); // mark
  });

  it("is undefined for an entry other than the one just returned", async () => {
    const path = join(tmp.path, "peek2.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    await w.write(0n, randomBytes(512, 1));
    await w.write(1n, randomBytes(512, 2));
    await w.close();
    const log = LogFile.openSync(path);
    const c = log.cursor();
    const first = c.next()!;
    c.next();
    expect(c.peekData(first)).toBeUndefined();
    log.close();
  });
});
