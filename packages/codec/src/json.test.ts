import { join } from "node:path";
import { testDataDir } from "@lwlog/testkit";
import { describe, expect, it } from "vitest";
import { LogEntryJsonSchema, LogFile, LogSuperJsonSchema, U64Json, entryToJson, superToJson, u64ToJson } from "./index.js";

describe("JSON forms", () => {
  it("a u64 is a number while exact and a decimal string beyond 2^53", () => {
    expect(u64ToJson(0n)).toBe(0);
    expect(u64ToJson(2n ** 53n - 1n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(u64ToJson(2n ** 53n)).toBe("9007199254740992");
    expect(u64ToJson(2n ** 64n - 1n)).toBe("18446744073709551615");
  });

  it("U64Json reads both forms back to the exact bigint, and refuses what is not a u64", () => {
    expect(U64Json.parse(4096)).toBe(4096n);
    expect(U64Json.parse("18446744073709551615")).toBe(2n ** 64n - 1n);
    for (const bad of ["18446744073709551616", "-1", "01", "1e3", 1.5, -1, 2 ** 53, "0x10", ""]) {
      expect(U64Json.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it("every entry of the samples and of unknown-flag-bits round-trips through its JSON form and schema", () => {
    for (const file of ["samples/flush-fua.log", "samples/sector-4096.log", "samples/dax-write.log", "bad/unknown-flag-bits.log"]) {
      const log = LogFile.openSync(join(testDataDir, file));
      try {
        const sup = LogSuperJsonSchema.parse(JSON.parse(JSON.stringify(superToJson(log.super))));
        expect(sup).toMatchObject({ version: 1n, nrEntries: log.super.nrEntries, sectorSize: log.sectorSize });
        const c = log.cursor({ tail: true });
        for (let e = c.next(); e !== undefined; e = c.next()) {
          const parsed = LogEntryJsonSchema.parse(JSON.parse(JSON.stringify(entryToJson(e, log.sectorSize))));
          expect(parsed).toMatchObject({ index: e.index, kind: e.kind, flags: e.flags, sector: e.sector, nrSectors: e.nrSectors, dataLen: e.dataLen });
          expect(parsed.byteOffset).toBe(e.sector * BigInt(log.sectorSize));
          if (e.kind === "mark") expect(parsed.mark).toBe(e.mark);
        }
      } finally {
        log.close();
      }
    }
  });

  it("a mark name that is not exact text also carries its raw bytes in base64", () => {
    const e = {
      index: 0, offset: 512, kind: "mark" as const, tail: false, sector: 0n, nrSectors: 0n, flags: 8n, dataLen: 2n,
      dataOffset: 1024, dataSize: 0, nextOffset: 1024, problems: [], markBytes: Uint8Array.of(0xff, 0x41), mark: "\uFFFDA",
    };
    expect(entryToJson(e, 512)).toMatchObject({ mark: "\uFFFDA", markBase64: "/0E=" });
  });
});
