import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir } from "@lwlog/testkit";
import { LogFile, LogWriter, LogRangeError } from "./index.js";

const tmp = makeTempDir("lwlog-codec-zeros-");
afterAll(() => tmp.cleanup());

describe("LogWriter: entries of zeros", () => {
  it("writes nrSectors × S zero bytes for small and large runs, between ordinary entries", async () => {
    const path = join(tmp.path, "zeros.log");
    // A small buffer makes the 3 MiB run take the chunked path and the 4 KiB one the buffered path.
    const w = await LogWriter.create(path, { sectorSize: 512, bufferSize: 64 << 10 });
    await w.write(0n, new Uint8Array(512).fill(0xaa));
    await w.append({ header: { sector: 8n, nrSectors: 8n, flags: 0n, dataLen: 0n }, zeros: true });
    await w.append({ header: { sector: 100n, nrSectors: 6144n, flags: 0n, dataLen: 0n }, zeros: true });
    await w.write(1n, new Uint8Array(1024).fill(0xbb));
    await w.close();

    const bytes = readFileSync(path);
    expect(bytes.length).toBe(512 + (512 + 512) + (512 + 4096) + (512 + (3 << 20)) + (512 + 1024));
    const log = LogFile.openSync(path);
    const entries = [...(function* () {
      const c = log.cursor({ data: true });
      for (let e = c.next(); e; e = c.next()) yield e;
    })()];
    log.close();
    expect(entries.map((e) => [e.sector, e.nrSectors, e.dataSize])).toEqual([
      [0n, 1n, 512],
      [8n, 8n, 4096],
      [100n, 6144n, 3 << 20],
      [1n, 2n, 1024],
    ]);
    expect(entries[1]!.data!.every((b) => b === 0)).toBe(true);
    expect(entries[2]!.data!.every((b) => b === 0)).toBe(true);
    expect(entries[3]!.data!.every((b) => b === 0xbb)).toBe(true);
  });

  it("overwrites stale bytes of an appended-to file with real zeros", async () => {
    const path = join(tmp.path, "stale.log");
    const w1 = await LogWriter.create(path, { sectorSize: 512 });
    await w1.write(0n, new Uint8Array(8192).fill(0xcc));
    // The superblock keeps declaring 0 entries: the 0xcc entry is a tail that keepTail: false overwrites.
    await w1.close({ super: false });
    expect(readFileSync(path).length).toBe(512 + 512 + 8192);
    const w3 = await LogWriter.append(path, { bufferSize: 1024, keepTail: false });
    await w3.append({ header: { sector: 0n, nrSectors: 16n, flags: 0n, dataLen: 0n }, zeros: true });
    await w3.close();
    const after = readFileSync(path);
    expect(after.length).toBe(512 + 512 + 8192);
    expect(after.subarray(1024).every((b) => b === 0)).toBe(true);
  });

  it("refuses zeros together with data or on a discard", async () => {
    const w = await LogWriter.create(join(tmp.path, "bad.log"), { sectorSize: 512 });
    await expect(w.append({ header: { sector: 0n, nrSectors: 1n, flags: 0n, dataLen: 0n }, zeros: true, data: new Uint8Array(512) })).rejects.toBeInstanceOf(LogRangeError);
    await expect(w.discard(0n, 1n).then(() => w.append({ header: { sector: 0n, nrSectors: 1n, flags: 4n, dataLen: 0n }, zeros: true }))).rejects.toBeInstanceOf(LogRangeError);
    await w.close();
  });
});
