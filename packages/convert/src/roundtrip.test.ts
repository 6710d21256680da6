import { createHash } from "node:crypto";
import { appendFileSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogFlags, LogWriter, LwlogError, type EntryToAppend } from "@lwlog/codec";
import { kernelLogs, makeTempDir, qemuCrashLog, randomBytes, testDataDir } from "@lwlog/testkit";
import { importLog } from "./import.js";
import { exportToFile } from "./test-support.js";

const tmp = makeTempDir("lwlog-convert-roundtrip-");
afterAll(() => tmp.cleanup());

/** Export with --data base64 in `format`, import, and return both files' bytes. */
async function roundTrip(log: string, format: "ndjson" | "json" | "csv", name: string): Promise<{ original: Buffer; rebuilt: Buffer }> {
  const text = join(tmp.path, `${name}.${format}`);
  const back = join(tmp.path, `${name}.${format}.log`);
  rmSync(back, { force: true });
  await exportToFile(log, text, { format });
  const sectorSize = LogFile.openSync(log).sectorSize;
  await importLog(text, back, format === "csv" ? { sectorSize } : {});
  return { original: readFileSync(log), rebuilt: readFileSync(back) };
}

/** Every `.log` under test-data/, with how far a strict reader with the tail gets (undefined: it cannot be read). */
function testDataLogs(): { path: string; end: number | undefined }[] {
  const out: { path: string; end: number | undefined }[] = [];
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, d.name);
      if (d.isDirectory()) walk(path);
      else if (d.name.endsWith(".log")) {
        let end: number | undefined;
        try {
          const log = LogFile.openSync(path);
          try {
            const c = log.cursor({ tail: true });
            while (c.next() !== undefined);
            end = c.end!.offset;
          } finally {
            log.close();
          }
        } catch (err) {
          if (!(err instanceof LwlogError)) throw err;
        }
        out.push({ path, end });
      }
    }
  };
  walk(testDataDir);
  return out;
}

describe("export --data base64 then import rebuilds the log byte for byte", () => {
  it("every readable log in test-data/ (samples, edge cases of bad/, kernel logs), through NDJSON and JSON", async () => {
    const logs = testDataLogs();
    const readable = logs.filter((l) => l.end !== undefined);
    // The kernel logs, every sample, and the valid edge cases among bad/.
    expect(readable.length).toBeGreaterThanOrEqual(17);
    for (const { path, end } of readable) {
      for (const format of ["ndjson", "json"] as const) {
        const { original, rebuilt } = await roundTrip(path, format, `td-${path.replace(/[^a-z0-9]+/gi, "-")}`);
        expect(rebuilt.equals(original.subarray(0, end)), `${path} via ${format}`).toBe(true);
      }
    }
  });

  for (const k of kernelLogs()) {
    it(`kernel log ${k.file} (METADATA flags, long marks) through NDJSON, JSON and CSV`, async () => {
      for (const format of ["ndjson", "json", "csv"] as const) {
        const { original, rebuilt } = await roundTrip(k.path, format, k.file);
        expect(rebuilt.length, format).toBe(original.length);
        expect(rebuilt.equals(original), `${k.file} via ${format}`).toBe(true);
      }
    });
  }

  it("QEMU logs with entries past the declared count (512 and 4096-byte sectors)", async () => {
    for (const sectorSize of [512, 4096]) {
      const path = qemuCrashLog(join(tmp.path, `qemu-${sectorSize}`), sectorSize, [
        "write -P 0xa1 0 64k",
        "flush",
        "discard 8k 8k",
        "write -z 128k 16k",
        "flush",
        "write -P 0xb2 1M 12k",
        "write -P 0xc3 32k 4k",
      ]);
      const log = LogFile.openSync(path);
      const end = (() => {
        const c = log.cursor({ tail: true });
        let n = 0;
        while (c.next() !== undefined) n++;
        return { n, declared: log.declared, offset: c.end!.offset };
      })();
      log.close();
      expect(end.n, "the log has a tail past nr_entries").toBeGreaterThan(end.declared);
      for (const format of ["ndjson", "json"] as const) {
        const { original, rebuilt } = await roundTrip(path, format, `qemu-${sectorSize}`);
        expect(rebuilt.equals(original.subarray(0, end.offset)), `QEMU ${sectorSize} via ${format}`).toBe(true);
      }
    }
  });
});

describe("entries with more data than one chunk", () => {
  it("an 8 MiB write exports in base64 pieces and sha256 chunks, and imports back whole", async () => {
    const path = join(tmp.path, "big.log");
    rmSync(path, { force: true });
    const data = randomBytes(8 << 20, 42);
    const w = await LogWriter.create(path, { sectorSize: 4096 });
    await w.write(16n, data);
    await w.mark("after");
    await w.close();
    for (const format of ["ndjson", "json"] as const) {
      const { original, rebuilt } = await roundTrip(path, format, "big");
      expect(rebuilt.equals(original), format).toBe(true);
    }
    const text = join(tmp.path, "big-sha.ndjson");
    await exportToFile(path, text, { data: "sha256" });
    const rec = JSON.parse(readFileSync(text, "utf8").split("\n")[1]!) as { sha256: string };
    expect(rec.sha256).toBe(createHash("sha256").update(data).digest("hex"));
  });
});

/** A random log: entries of every kind, with the oddities a faithful export must keep. */
const arbLog = fc
  .record({
    sectorShift: fc.integer({ min: 6, max: 12 }),
    padding: fc.nat({ max: 0xffffffff }),
    entries: fc.array(
      fc.record({
        kind: fc.constantFrom("write", "dax", "discard", "flush", "mark", "odd-mark"),
        sector: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 20n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
        nr: fc.integer({ min: 1, max: 3 }),
        bigNr: fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
        extraFlags: fc.constantFrom(0n, LogFlags.FUA, LogFlags.METADATA, LogFlags.FUA | LogFlags.METADATA, 1n << 40n, 1n << 63n),
        name: fc.uint8Array({ maxLength: 40 }),
        seed: fc.nat(),
      }),
      { maxLength: 25 },
    ),
    declaredFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    garbage: fc.uint8Array({ minLength: 0, maxLength: 300 }),
  })
  .map((spec) => {
    const S = 1 << spec.sectorShift;
    const declared = Math.floor(spec.entries.length * spec.declaredFraction);
    const entries: EntryToAppend[] = spec.entries.map((x, i) => {
      // Tail entries must look clean to be read as a tail: known flags only, nothing odd.
      const flags = i < declared ? x.extraFlags : x.extraFlags & (LogFlags.FUA | LogFlags.METADATA);
      const kind = i >= declared && x.kind === "odd-mark" ? "mark" : x.kind;
      switch (kind) {
        case "write":
          return { header: { sector: x.sector, nrSectors: BigInt(x.nr), flags, dataLen: 0n }, data: randomBytes(x.nr * S, x.seed + 1) };
        case "dax":
          return { header: { sector: x.sector, nrSectors: BigInt(x.nr), flags: 0n, dataLen: BigInt(x.nr * S - (x.seed % S)) }, data: randomBytes(x.nr * S, x.seed + 2) };
        case "discard":
          return { header: { sector: x.sector, nrSectors: x.bigNr, flags: flags | LogFlags.DISCARD, dataLen: 0n } };
        case "flush":
          return { header: { sector: x.sector, nrSectors: 0n, flags: flags | LogFlags.FLUSH, dataLen: 0n } };
        case "mark": {
          const name = x.name.subarray(0, Math.min(x.name.length, S - 33));
          return { header: { sector: 0n, nrSectors: 0n, flags: LogFlags.MARK, dataLen: BigInt(name.length) }, inline: name };
        }
        default: {
          // A mark that also carries data (no writer does this; the format allows it).
          const name = x.name.subarray(0, Math.min(x.name.length, S - 32));
          return { header: { sector: x.sector, nrSectors: BigInt(x.nr), flags: LogFlags.MARK | flags, dataLen: BigInt(name.length) }, inline: name, data: randomBytes(x.nr * S, x.seed + 3) };
        }
      }
    });
    return { S, padding: spec.padding, entries, declared, garbage: spec.garbage };
  });

describe("fuzzed logs round-trip exactly", () => {
  it("NDJSON and JSON, up to the end of the last entry (property test)", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(arbLog, async (spec) => {
        run += 1;
        const path = join(tmp.path, `fuzz-${run}.log`);
        rmSync(path, { force: true });
        const w = await LogWriter.create(path, { sectorSize: spec.S, superPadding: spec.padding });
        for (const e of spec.entries) await w.append(e);
        const end = w.offset;
        await w.writeSuper(spec.declared);
        await w.close({ super: false });
        // Bytes after the last entry: an empty header block, then noise. Not part of the log.
        appendFileSync(path, Buffer.concat([Buffer.alloc(spec.S), Buffer.from(spec.garbage)]));
        expect(statSync(path).size).toBeGreaterThan(end);
        for (const format of ["ndjson", "json"] as const) {
          const { original, rebuilt } = await roundTrip(path, format, `fuzz-${run}`);
          expect(rebuilt.length).toBe(end);
          expect(rebuilt.equals(original.subarray(0, end))).toBe(true);
        }
      }),
      { numRuns: 40 },
    );
  });
});
