import { describe, expect, it } from "vitest";
import { getoptLong, parseCUnsigned, type LongOption } from "./getopt.js";

// replay-log's table: the cases below are those glibc's getopt_long gives for it (the
// differential test runs the C replay-log on the same command lines).
const TABLE: LongOption[] = [
  { name: "next-flush", hasArg: false, val: "" },
  { name: "next-fua", hasArg: false, val: "" },
  { name: "start-entry", hasArg: true, val: "" },
  { name: "end-mark", hasArg: true, val: "" },
  { name: "log", hasArg: true, val: "" },
  { name: "limit", hasArg: true, val: "" },
  { name: "verbose", hasArg: false, val: "v" },
  { name: "find", hasArg: false, val: "" },
  { name: "fsck", hasArg: true, val: "" },
  { name: "start-mark", hasArg: true, val: "" },
];

const parse = (...argv: string[]) => getoptLong(argv, "v", TABLE);

describe("getoptLong", () => {
  it("takes --opt value and --opt=value; the value is the next argument whatever it looks like", () => {
    expect(parse("--log", "a", "--limit=3", "--end-mark", "--find").items).toEqual([
      { kind: "option", name: "log", value: "a" },
      { kind: "option", name: "limit", value: "3" },
      { kind: "option", name: "end-mark", value: "--find" },
    ]);
    expect(parse("--log=").items).toEqual([{ kind: "option", name: "log", value: "" }]);
  });

  it("takes a prefix that matches one option, or several that agree (the first in table order)", () => {
    expect(parse("--fi", "--li", "1", "--ver").items.map((i) => i.kind === "option" && i.name)).toEqual(["find", "limit", "verbose"]);
    // next-flush and next-fua take no value: --n and --next are next-flush, as glibc has it.
    expect(parse("--next").items).toEqual([{ kind: "option", name: "next-flush" }]);
    // start-entry and start-mark both take one: --start is start-entry.
    expect(parse("--start", "4").items).toEqual([{ kind: "option", name: "start-entry", value: "4" }]);
    expect(parse("--l", "x").items).toEqual([{ kind: "option", name: "log", value: "x" }]);
  });

  it("an exact name wins over a longer one it prefixes", () => {
    const t: LongOption[] = [
      { name: "loglevel", hasArg: false, val: "" },
      { name: "log", hasArg: true, val: "" },
    ];
    expect(getoptLong(["--log", "f"], "", t).items).toEqual([{ kind: "option", name: "log", value: "f" }]);
  });

  it("refuses a prefix shared by options that differ (value or not, or what getopt returns), unknown options, and misused values", () => {
    expect(parse("--f").items).toEqual([{ kind: "error", message: "option '--f' is ambiguous; possibilities: '--find' '--fsck'" }]);
    expect(parse("--bogus=1").items).toEqual([{ kind: "error", message: "unrecognized option '--bogus=1'" }]);
    expect(parse("--fin=1").items).toEqual([{ kind: "error", message: "option '--find' doesn't allow an argument" }]);
    expect(parse("--lim").items).toEqual([{ kind: "error", message: "option '--limit' requires an argument" }]);
    expect(parse("-x").items).toEqual([{ kind: "error", message: "invalid option -- 'x'" }]);
  });

  it("clusters short options, sets operands aside, stops at --, and at the first operand under POSIXLY_CORRECT", () => {
    expect(parse("-vv", "op", "-v", "--", "--find").items).toEqual([
      { kind: "option", name: "v" },
      { kind: "option", name: "v" },
      { kind: "option", name: "v" },
    ]);
    expect(parse("-vv", "op", "-", "-v", "--", "--find").operands).toEqual(["op", "-", "--find"]);
    expect(getoptLong(["op", "--find"], "v", TABLE, { POSIXLY_CORRECT: "1" })).toEqual({ items: [], operands: ["op", "--find"] });
  });

  it("short options with values: attached, next, or missing", () => {
    expect(getoptLong(["-o5", "-o", "6", "-o"], "o:", []).items).toEqual([
      { kind: "option", name: "o", value: "5" },
      { kind: "option", name: "o", value: "6" },
      { kind: "error", message: "option requires an argument -- 'o'" },
    ]);
  });
});

describe("parseCUnsigned (strtoull(s, &end, 0) with *end == 0)", () => {
  it.each([
    ["42", 42n],
    ["0x2a", 42n],
    ["0X2A", 42n],
    ["052", 42n],
    ["0", 0n],
    ["", 0n],
    ["  7", 7n],
    ["+7", 7n],
    ["-1", (1n << 64n) - 1n],
    ["-0", 0n],
    ["18446744073709551615", (1n << 64n) - 1n],
    ["18446744073709551616", (1n << 64n) - 1n],
    ["99999999999999999999999999", (1n << 64n) - 1n],
  ])("%j is %s", (text, value) => {
    expect(parseCUnsigned(text)).toBe(value);
  });

  it.each(["08", "0x", "0xg", "1e3", "12abc", "7 ", " ", "-", "+", "abc", "½"])("%j is refused", (text) => {
    expect(parseCUnsigned(text)).toBeUndefined();
  });
});
