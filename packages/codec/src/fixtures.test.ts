import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testDataDir } from "@lwlog/testkit";
import { describe, expect, it } from "vitest";
import { describeLog, fixtureDir, fixtures } from "./test-fixtures.js";

// node-tar style: the fixture logs and the JSON of what the codec reads from them are
// committed; every run regenerates the logs and re-reads them. With
// LWLOG_UPDATE_FIXTURES=1 (`npm run fixtures -w @lwlog/codec`) the files are rewritten instead.
const update = process.env.LWLOG_UPDATE_FIXTURES === "1";

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

describe("test-data fixtures", () => {
  for (const f of fixtures) {
    it(`${f.dir}/${f.name}.log is what the generator makes, and reads as ${f.name}.json says`, async () => {
      const dir = fixtureDir(f);
      const logPath = join(dir, `${f.name}.log`);
      const jsonPath = join(dir, `${f.name}.json`);
      const bytes = await f.bytes();
      if (update) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(logPath, bytes);
        writeFileSync(jsonPath, json({ about: f.about, ...describeLog(logPath) }));
      }
      expect(Buffer.from(readFileSync(logPath)).equals(Buffer.from(bytes)), `${logPath} differs from what the generator makes`).toBe(true);
      const expected = JSON.parse(readFileSync(jsonPath, "utf8")) as unknown;
      expect({ about: f.about, ...describeLog(logPath) }).toEqual(expected);
    });
  }

  it("samples/ and bad/ hold exactly the generated fixtures, each listed in test-data/README.md", () => {
    const readme = readFileSync(join(testDataDir, "README.md"), "utf8");
    for (const dir of ["samples", "bad"] as const) {
      const want = fixtures
        .filter((f) => f.dir === dir)
        .flatMap((f) => [`${f.name}.log`, `${f.name}.json`])
        .sort();
      expect(existsSync(join(testDataDir, dir))).toBe(true);
      expect(readdirSync(join(testDataDir, dir)).sort()).toEqual(want);
    }
    for (const f of fixtures) expect(readme, `test-data/README.md does not list ${f.dir}/${f.name}.log`).toContain(`${f.dir}/${f.name}.log`);
  });

  it("the samples are valid logs and the bad ones are bad in the way their description names", () => {
    for (const f of fixtures) {
      const d = describeLog(join(fixtureDir(f), `${f.name}.log`)) as {
        open?: { error: { code: string } };
        strict?: { error?: { code: string }; end?: { reason: string } };
        lenient?: { entries?: { problems?: { code: string }[] }[]; end?: { reason: string } };
      };
      const codes = new Set<string>();
      if (d.open) codes.add(d.open.error.code);
      if (d.strict?.error) codes.add(d.strict.error.code);
      for (const e of d.lenient?.entries ?? []) for (const p of e.problems ?? []) codes.add(p.code);
      if (f.dir === "samples") {
        expect(codes, f.name).toEqual(new Set());
        // Read with the tail, a good log ends exactly at the end of the file.
        expect(d.lenient?.end?.reason, f.name).toBe("eof");
      } else {
        // Every LWLOG_ code the description names is one the codec reports, and vice versa.
        const named = new Set(f.about.match(/LWLOG_[A-Z_]+/g) ?? []);
        expect(codes, f.name).toEqual(named);
      }
    }
  });
});
