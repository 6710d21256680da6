import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, testDataDir } from "@lwlog/testkit";
import { runLwlog } from "./testing.js";

// One regression test for each bug the CLI fuzzer (fuzz.test.ts) found, with the input it
// shrank to.

const tmp = makeTempDir("lwlog-fuzz-found-");
afterAll(() => tmp.cleanup());
const p = (name: string) => join(tmp.path, name);

describe("bugs the CLI fuzzer found", () => {
  it("a message quoting the input shows its control characters as escapes, on one line (a \\r, an ESC, a line break in CSV)", async () => {
    const mark = join(testDataDir, "samples", "mark.log");
    const text = (await runLwlog(["export", "--data", "base64", mark])).stdout.split("\n");
    text[2] = text[2]!.replace('"tail":', '"tail"\r\u001b[31m');
    writeFileSync(p("cr.ndjson"), text.join("\n"));
    const r = await runLwlog(["import", p("cr.ndjson"), "-o", p("cr.log")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^lwlog: error: .*cr\.ndjson: line 3: not valid JSON \(.*"tail"\\r\\u001b\[31m.*\) \[LWLOG_BAD_RECORD\]\n$/);
    expect(r.stderr).not.toMatch(/[\r\u001b]/);
    expect(readFileSync(p("cr.ndjson"), "utf8")).toBe(text.join("\n"));
    // csv-parse quotes what it got, a line break included.
    const csv = (await runLwlog(["export", "--format", "csv", "--data", "base64", mark])).stdout.split("\n");
    const cells = csv[1]!.split(",");
    // The last cell, with the row's \r: the row now ends in a bare \n after a closing quote.
    cells[cells.length - 1] = '"a,b"';
    csv[1] = cells.join(",");
    writeFileSync(p("quote.csv"), csv.join("\n"));
    const q = await runLwlog(["import", p("quote.csv"), "-o", p("quote.log"), "--sector-size", "512"]);
    expect(q.code).toBe(1);
    expect(q.stderr).toMatch(/^lwlog: error: .*quote\.csv: line 2: not valid CSV \(.*\) \[LWLOG_BAD_RECORD\]\n$/);
  });
});
