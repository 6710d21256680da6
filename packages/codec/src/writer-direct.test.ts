import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { LogFile, LogWriter, encodeEntryHeader, encodeEntryHeaderInto } from "./index.js";

const tmp = makeTempDir("lwlog-codec-direct-");
afterAll(() => tmp.cleanup());

describe("LogWriter: large data written without a copy", () => {
  it("interleaves buffered small entries and directly written large ones in order, with the caller's bytes", async () => {
    const path = join(tmp.path, "mixed.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    const sizes = [512, 64 << 10, 4096, 256 << 10, 1024, 1024, 3 << 20, 512, 128 << 10];
    const datas = sizes.map((n, i) => randomBytes(n, i + 1));
    // Appended concurrently, as the driver does: slots are taken in call order.
    const indexes = await Promise.all(datas.map((d, i) => w.write(BigInt(i * 8192), d)));
    expect(indexes).toEqual(sizes.map((_, i) => i));
    await w.close();
    const log = LogFile.openSync(path);
    const c = log.cursor({ data: true });
    const got: Uint8Array[] = [];
    for (let e = c.next(); e; e = c.next()) got.push(e.data!);
    expect(c.end!.reason).toBe("declared");
    expect(log.size).toBe(512 + sizes.reduce((n, s) => n + 512 + s, 0));
    log.close();
    expect(got.length).toBe(sizes.length);
    got.forEach((d, i) => expect(Buffer.compare(Buffer.from(d), Buffer.from(datas[i]!)), `entry ${i}`).toBe(0));
  });

  it("encodeEntryHeaderInto writes the same block as encodeEntryHeader over dirty bytes, and checks the same things", () => {
    const header = { sector: 12345n, nrSectors: 8n, flags: 8n, dataLen: 4n };
    const name = new TextEncoder().encode("mark");
    const target = new Uint8Array(2048).fill(0xff);
    encodeEntryHeaderInto(target, 512, header, 512, name);
    expect(Buffer.compare(Buffer.from(target.subarray(512, 1024)), Buffer.from(encodeEntryHeader(header, 512, name)))).toBe(0);
    expect(target[511]).toBe(0xff);
    expect(target[1024]).toBe(0xff);
    expect(() => encodeEntryHeaderInto(target, 1800, header, 512)).toThrow(RangeError);
    expect(() => encodeEntryHeaderInto(target, 0, { ...header, sector: -1n }, 512)).toThrow(/does not fit a u64/);
    expect(() => encodeEntryHeaderInto(target, 0, header, 512, new Uint8Array(481))).toThrow(/does not fit a 512-byte header block/);
  });
});
