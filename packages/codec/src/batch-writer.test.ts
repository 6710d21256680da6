import { readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCodes, LogBatchWriter, LogFile, LogFlags, LogIoError, LogRangeError, LogWriter, U64_MAX, type DataCopy, type DataSource, type EntryToAppend } from "./index.js";
import { caught, rejected } from "./test-util.js";

const tmp = makeTempDir("lwlog-batch-writer-");
afterAll(() => tmp.cleanup());
let n = 0;
const fresh = (name = "b") => join(tmp.path, `${name}-${n++}.log`);

/** One entry to write both ways: as `LogWriter` takes it, and how the batch writer is to be given it. */
interface Case {
  entry: EntryToAppend;
  via: "plain" | "append" | "source" | "copy";
}

/** Writes `cases` with `LogWriter` (the reference) and returns the file's bytes. */
async function reference(S: number, cases: Case[], declared: number): Promise<Buffer> {
  const path = fresh("ref");
  const w = await LogWriter.create(path, { sectorSize: S, superPadding: 7 });
  for (const c of cases) await w.append(c.entry);
  await w.writeSuper(declared);
  await w.close({ super: false, sync: false });
  return readFileSync(path);
}

/** Writes `cases` with `LogBatchWriter`, awaiting only the promises it returns. */
async function batched(S: number, cases: Case[], declared: number, options: { bufferSize: number; buffers: number }): Promise<Buffer> {
  const path = fresh("batch");
  const w = LogBatchWriter.create(path, { sectorSize: S, superPadding: 7, ...options });
  for (const c of cases) {
    const { header, data } = c.entry;
    let p: Promise<void> | undefined;
    if (c.via === "plain") {
      p = w.appendPlain(Number(header.sector), Number(header.nrSectors), Number(header.flags), data);
    } else if (c.via === "copy") {
      const copy: DataCopy = (fd, position, length) => {
        expect(length).toBe(data!.length);
        for (let done = 0; done < length; ) done += writeSync(fd, data!, done, length - done, position + done);
      };
      p = w.appendPlainCopy(Number(header.sector), Number(header.nrSectors), Number(header.flags), copy);
    } else if (c.via === "source" && data !== undefined) {
      const source: DataSource = (target, at, length, from) => target.set(data.subarray(from, from + length), at);
      const { data: _, ...rest } = c.entry;
      p = w.append(rest, source);
    } else {
      p = w.append(c.entry);
    }
    if (p !== undefined) await p;
  }
  expect(w.entries).toBe(cases.length);
  await w.writeSuper(declared);
  await w.close();
  const bytes = readFileSync(path);
  expect(bytes.length).toBe(w.offset);
  return bytes;
}

const S_VALUES = [32, 512, 4096] as const;

/** An arbitrary entry for sector size S, and how to hand it to the batch writer. */
function arbCase(S: number): fc.Arbitrary<Case> {
  const small = fc.integer({ min: 0, max: 2 ** 40 });
  const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
  const plainFlags = fc.constantFrom(0, 1, 2, 3, 16, 18, 19);
  const write = fc.record({ sector: small, nr: fc.integer({ min: 1, max: Math.max(1, (64 << 10) / S) }), flags: plainFlags, seed: fc.integer() }).map(
    ({ sector, nr, flags, seed }): EntryToAppend => ({
      header: { sector: BigInt(sector), nrSectors: BigInt(nr), flags: BigInt(flags), dataLen: 0n },
      data: randomBytes(nr * S, seed),
    }),
  );
  const noData = fc.record({ sector: small, nr: small, kind: fc.constantFrom(LogFlags.DISCARD, LogFlags.FLUSH, LogFlags.FLUSH | LogFlags.FUA) }).map(
    ({ sector, nr, kind }): EntryToAppend => ({
      header: { sector: BigInt(sector), nrSectors: kind === LogFlags.DISCARD ? BigInt(nr) : 0n, flags: kind, dataLen: 0n },
    }),
  );
  const plain = fc.oneof(write, noData).chain((entry) =>
    fc.constantFrom<Case["via"]>("plain", "append", "source", "copy").map((via): Case => ({ entry, via })),
  );
  const wide = fc.record({ sector: u64, nr: u64, flags: u64, dataLen: u64 }).map(
    ({ sector, nr, flags, dataLen }): Case => ({ entry: { header: { sector, nrSectors: nr, flags: flags | LogFlags.DISCARD, dataLen } }, via: "append" }),
  );
  const mark = fc.uint8Array({ minLength: 0, maxLength: Math.max(0, S - 33) }).map(
    (name): Case => ({ entry: { header: { sector: 0n, nrSectors: 0n, flags: LogFlags.MARK, dataLen: BigInt(name.length) }, inline: name }, via: "append" }),
  );
  const zeros = fc.integer({ min: 1, max: Math.max(1, (48 << 10) / S) }).map(
    (nr): Case => ({ entry: { header: { sector: 5n, nrSectors: BigInt(nr), flags: 0n, dataLen: 0n }, zeros: true }, via: "append" }),
  );
  return fc.oneof({ weight: 6, arbitrary: plain }, { weight: 1, arbitrary: wide }, { weight: 1, arbitrary: mark }, { weight: 1, arbitrary: zeros });
}

describe("LogBatchWriter", () => {
  it("writes the same bytes as LogWriter for any entries, whatever the buffer size", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...S_VALUES).chain((S) =>
          fc.record({
            S: fc.constant(S),
            cases: fc.array(arbCase(S), { maxLength: 24 }),
            bufferSize: fc.constantFrom(S, 3 * S, 8 << 10, 1 << 20),
            buffers: fc.integer({ min: 2, max: 4 }),
            declaredCut: fc.nat(),
          }),
        ),
        async ({ S, cases, bufferSize, buffers, declaredCut }) => {
          const declared = cases.length === 0 ? 0 : declaredCut % (cases.length + 1);
          const want = await reference(S, cases, declared);
          const got = await batched(S, cases, declared, { bufferSize, buffers });
          expect(got.equals(want)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("reads back as the entries written: a log of 1 MiB entries through 64 KiB buffers, data from a source", async () => {
    const S = 4096;
    const src = fresh("src");
    const payload = randomBytes(3 << 20, 42);
    writeFileSync(src, payload);
    const path = fresh();
    const w = LogBatchWriter.create(path, { sectorSize: S, bufferSize: 64 << 10, buffers: 2 });
    const reads: number[] = [];
    for (let i = 0; i < 3; i++) {
      const source: DataSource = (target, at, length, from) => {
        reads.push(length);
        target.set(payload.subarray(i * (1 << 20) + from, i * (1 << 20) + from + length), at);
      };
      const p = w.appendPlain(i * 256, 256, i === 2 ? 2 : 0, source);
      if (p !== undefined) await p;
      await w.appendPlain(0, 0, 1); // a flush between
    }
    await w.writeSuper();
    await w.close();
    // The source filled the buffers directly, never more than one buffer at a time.
    expect(Math.max(...reads)).toBeLessThanOrEqual(64 << 10);
    const log = LogFile.openSync(path);
    try {
      expect(log.super.nrEntries).toBe(6n);
      const c = log.cursor({ data: true });
      const got = [];
      for (let e = c.next(); e !== undefined; e = c.next()) got.push(e);
      expect(got.map((e) => [e.kind, e.sector, e.nrSectors, e.flags])).toEqual([
        ["write", 0n, 256n, 0n],
        ["flush", 0n, 0n, 1n],
        ["write", 256n, 256n, 0n],
        ["flush", 0n, 0n, 1n],
        ["write", 512n, 256n, 2n],
        ["flush", 0n, 0n, 1n],
      ]);
      for (let i = 0; i < 3; i++) expect(Buffer.from(got[i * 2]!.data!).equals(payload.subarray(i << 20, (i + 1) << 20))).toBe(true);
      expect(c.end!.reason).toBe("declared");
      expect(log.size).toBe(S + 3 * (S + (1 << 20)) + 3 * S);
    } finally {
      log.close();
    }
  });

  it("refuses data of the wrong size, numbers that are not safe integers, a bad sector size and an existing file", async () => {
    const path = fresh();
    const w = LogBatchWriter.create(path, { sectorSize: 512 });
    expect(caught(() => w.appendPlain(0, 2, 0, new Uint8Array(512))).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => w.appendPlain(0, 1, 0)).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => w.appendPlain(0, 1, Number(LogFlags.DISCARD), new Uint8Array(512))).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => w.appendPlain(2 ** 53, 1, 0, new Uint8Array(512))).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => w.appendPlain(-1, 0, 1)).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => w.appendPlain(0, 2 ** 50, 0, () => undefined)).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => w.append({ header: { sector: 0n, nrSectors: 1n, flags: 0n, dataLen: 0n }, zeros: true, data: new Uint8Array(512) })).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => w.append({ header: { sector: U64_MAX + 1n, nrSectors: 0n, flags: 1n, dataLen: 0n } })).code).toBe(ErrorCodes.RANGE);
    expect(caught(() => w.append({ header: { sector: 0n, nrSectors: 0n, flags: LogFlags.MARK, dataLen: 0n }, inline: new Uint8Array(481) })).code).toBe(ErrorCodes.BAD_MARK);
    // Nothing refused left a trace: the log is its superblock and the one good entry.
    await w.appendPlain(7, 0, Number(LogFlags.DISCARD));
    await w.writeSuper();
    await w.close();
    expect(readFileSync(path).length).toBe(1024);
    expect(caught(() => LogBatchWriter.create(path, { sectorSize: 512 })).code).toBe(ErrorCodes.EXISTS);
    expect(caught(() => LogBatchWriter.create(fresh(), { sectorSize: 1000 })).code).toBe(ErrorCodes.BAD_SECTOR_SIZE);
    expect(caught(() => w.appendPlain(0, 0, 1)).message).toMatch(/closed/);
  });

  it("says so when a returned promise was not awaited before the next call", async () => {
    const w = LogBatchWriter.create(fresh(), { sectorSize: 512, bufferSize: 1024 });
    const p = w.appendPlain(0, 4, 0, new Uint8Array(2048));
    expect(p).toBeInstanceOf(Promise);
    expect(() => w.appendPlain(0, 0, 1)).toThrow(/not awaited/);
    await p;
    await w.close();
  });

  it("fails with a LogIoError when the device is full, and a failed source leaves the writer failed", async () => {
    const full = LogBatchWriter.create("/dev/full", { sectorSize: 512, overwrite: true, bufferSize: 4096 });
    let err: unknown;
    try {
      for (let i = 0; i < 64; i++) await full.appendPlain(i, 1, 0, new Uint8Array(512));
      await full.drain();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LogIoError);
    expect((err as LogIoError).message).toMatch(/no space/i);
    await full.abort();

    const w = LogBatchWriter.create(fresh(), { sectorSize: 512, bufferSize: 1024 });
    const boom: DataSource = () => {
      throw new LogRangeError(ErrorCodes.RANGE, "the source is gone");
    };
    expect((await rejected(w.appendPlain(0, 8, 0, boom)!)).message).toMatch(/source is gone/);
    expect(caught(() => w.appendPlain(0, 0, 1)).message).toMatch(/source is gone/);
    await w.abort();

    const c = LogBatchWriter.create(fresh(), { sectorSize: 512 });
    const failing: DataCopy = () => {
      throw Object.assign(new Error("EIO: i/o error, copy_file_range"), { code: "EIO" });
    };
    const err2 = caught(() => c.appendPlainCopy(0, 8, 0, failing));
    expect(err2).toBeInstanceOf(LogIoError);
    expect(caught(() => c.appendPlain(0, 0, 1))).toBe(err2);
    await c.abort();
  });
});
