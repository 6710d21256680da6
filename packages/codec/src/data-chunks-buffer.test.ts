import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { LogFile } from "./reader.js";
import { LogWriter } from "./writer.js";

const tmp = makeTempDir("lwlog-chunks-");
afterAll(() => tmp.cleanup());

describe("LogFile.dataChunks into a caller's buffer", () => {
  it("reads every entry's data through the one buffer, in chunks of at most its length", async () => {
    const path = join(tmp.path, "two.log");
    const a = randomBytes(3 * 4096, 1);
    const b = randomBytes(4096, 2);
    const w = await LogWriter.create(path, { sectorSize: 4096 });
    await w.write(0n, a);
    await w.write(9n, b);
    await w.close();
    const log = LogFile.openSync(path);
    try {
      const c = log.cursor();
      const buffer = new Uint8Array(5000);
      for (const want of [a, b]) {
        const e = c.next()!;
        const parts: Uint8Array[] = [];
        for (const chunk of log.dataChunks(e, 1 << 20, buffer)) {
          expect(chunk.buffer).toBe(buffer.buffer);
          expect(chunk.length).toBeLessThanOrEqual(5000);
          parts.push(chunk.slice());
        }
        expect(Buffer.concat(parts).equals(Buffer.from(want))).toBe(true);
      }
      // chunkSize still caps the chunks when it is the smaller.
      const first = log.cursor().next()!;
      expect([...log.dataChunks(first, 1000, buffer)].length).toBe(Math.ceil(a.length / 1000));
    } finally {
      log.close();
    }
  });
});
