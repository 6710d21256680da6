/**
 * The inspector on every fixture of test-data/samples and test-data/bad: what each command
 * prints must agree with what the codec reads from the file (the fixture's JSON, written
 * and checked by the codec's own tests).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { testDataDir } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import type { CheckReport } from "./check.js";
import type { LogSummary } from "./info.js";

interface FixtureError {
  code: string;
  message: string;
  entry?: number;
  offset?: number;
}
interface FixtureEntry {
  index: number;
  offset: number;
  kind: string;
  flags: number | string;
  flagNames: string[];
  sector: number | string;
  nrSectors: number | string;
  byteOffset: number | string;
  byteLength: number | string;
  dataLen: number | string;
  tail: boolean;
  mark?: string;
  markBase64?: string;
  sha256?: string;
  problems?: { code: string; severity: string }[];
}
interface FixtureRead {
  error?: FixtureError;
  entries?: FixtureEntry[];
  end?: { reason: string; offset: number };
}
interface Fixture {
  about: string;
  open?: { error: FixtureError };
  tail?: FixtureRead;
  lenient?: FixtureRead;
}

const fixtures = ["samples", "bad"].flatMap((dir) =>
  readdirSync(join(testDataDir, dir))
    .filter((f) => f.endsWith(".json"))
    .map((f) => ({ name: `${dir}/${f.replace(/\.json$/, "")}`, log: join(testDataDir, dir, f.replace(/\.json$/, ".log")), fixture: JSON.parse(readFileSync(join(testDataDir, dir, f), "utf8")) as Fixture })),
);

describe("the inspector on test-data/samples and test-data/bad", () => {
  it("has fixtures to read", () => {
    expect(fixtures.filter((f) => f.name.startsWith("samples/")).length).toBeGreaterThan(5);
    expect(fixtures.filter((f) => f.name.startsWith("bad/")).length).toBeGreaterThan(10);
  });

  for (const { name, log, fixture } of fixtures) {
    const error = fixture.open?.error ?? fixture.tail?.error;
    if (error !== undefined) {
      it(`${name}: info exits 1 naming ${error.code}${error.entry !== undefined ? ` at entry ${error.entry}` : ""}; check lists it`, async () => {
        const info = await runLwlog(["info", log]);
        expect(info.code).toBe(1);
        expect(info.stdout).toBe("");
        const where = [log, ...(error.entry !== undefined ? [`entry ${error.entry}`] : []), ...(error.offset !== undefined ? [`offset ${error.offset}`] : [])];
        expect(info.stderr).toBe(`lwlog: error: ${where.join(": ")}: ${error.message} [${error.code}]\n`);
        const check = await runLwlog(["check", "--json", log]);
        expect(check.code).toBe(1);
        const report = JSON.parse(check.stdout) as CheckReport;
        expect(report.valid).toBe(false);
        expect(report.problems).toContainEqual({ severity: "error", code: error.code, message: error.message, ...(error.entry !== undefined ? { entry: error.entry } : {}), ...(error.offset !== undefined ? { offset: error.offset } : {}) });
      });
      continue;
    }
    const entries = fixture.tail!.entries!;
    it(`${name}: info, dump --tail and check agree with the codec (${entries.length} entries)`, async () => {
      const r = await runLwlog(["info", "--json", log]);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout) as LogSummary;
      const declared = entries.filter((e) => !e.tail);
      expect(s.entries).toBe(entries.length);
      expect(s.tailEntries).toBe(entries.length - declared.length);
      const bits = (e: FixtureEntry) => Number(BigInt(e.flags) & 0x1fn);
      const withBit = (bit: number) => declared.filter((e) => (bits(e) & bit) !== 0).length;
      expect(s.counts).toMatchObject({ flush: withBit(1), fua: withBit(2), discard: withBit(4), mark: withBit(8), metadata: withBit(16) });
      expect(s.counts.none).toBe(declared.filter((e) => BigInt(e.flags) === 0n).length);
      expect(s.counts.write).toBe(declared.filter((e) => BigInt(e.nrSectors) > 0n && (bits(e) & 4) === 0).length);
      expect(s.marks.map((m) => [m.name, m.entry, m.tail])).toEqual(entries.filter((e) => e.kind === "mark").map((e) => [e.mark, e.index, e.tail]));
      expect(s.end.reason).toBe(fixture.tail!.end!.reason);

      const dump = await runLwlog(["dump", "--json", "--tail", "--data", "sha256", log]);
      expect(dump.code).toBe(0);
      const dumped = JSON.parse(dump.stdout) as Record<string, unknown>[];
      expect(dumped).toEqual(
        entries.map((e) => {
          const { problems: _p, ...rest } = e as FixtureEntry & { dataOffset?: number; dataSize?: number };
          delete (rest as { dataOffset?: number }).dataOffset;
          delete (rest as { dataSize?: number }).dataSize;
          return rest;
        }),
      );

      const c = await runLwlog(["check", "--json", log]);
      const report = JSON.parse(c.stdout) as CheckReport;
      const lenientErrors = (fixture.lenient?.entries ?? []).flatMap((e) => (e.problems ?? []).filter((p) => p.severity === "error"));
      expect(c.code).toBe(lenientErrors.length > 0 ? 1 : 0);
      for (const e of fixture.lenient?.entries ?? []) {
        for (const p of e.problems ?? []) expect(report.problems).toContainEqual(expect.objectContaining({ code: p.code, severity: p.severity, entry: e.index, offset: e.offset }));
      }
    });
  }
});
