import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { LogFile, LogWriter } from "./index.js";

const tmp = makeTempDir("lwlog-codec-place-");
afterAll(() => tmp.cleanup());

describe("peekData and dataChunks with an EntrySummary (skim)", () => {
  it("give the data of every entry from its place: the window for small ones, chunked reads for big ones", async () => {
    const path = join(tmp.path, "place.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    const small = randomBytes(4096, 1);
    const big = randomBytes(96 << 10, 2);
    await w.write(8n, small);
    await w.flush();
    await w.write(64n, big);
    await w.mark("m");
    await w.write(0n, small, { flags: 2n });
    await w.close();
    const log = LogFile.openSync(path);
    const c = log.cursor({ blockSize: 16 << 10 });
    const got: { peeked: boolean; data: Uint8Array }[] = [];
    for (let s = c.skim(); s !== undefined; s = c.skim()) {
      if (s.dataSize === 0) continue;
      const place = { dataOffset: s.offset + log.sectorSize, dataSize: s.dataSize, nextOffset: s.nextOffset };
      const view = c.peekData(place);
      const parts: Uint8Array[] = [];
      if (view !== undefined) parts.push(view.slice());
      // Each chunk is valid until the next is asked for: copy it before going on.
      else for (const chunk of log.dataChunks(place, 10_000)) parts.push(chunk.slice());
      got.push({ peeked: view !== undefined, data: Buffer.concat(parts) });
    }
    log.close();
    expect(got.map((g) => g.peeked)).toEqual([true, false, true]);
    // Compared as bytes (a 96 KiB array diff would be slow to print on failure).
    expect(got.map((g, k) => Buffer.compare(g.data, [small, big, small][k]!))).toEqual([0, 0, 0]);
  });
});
