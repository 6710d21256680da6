import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, randomBytes } from "@lwlog/testkit";
import { alignScans, diffLogs, type Change } from "./diff.js";
import { scanLog } from "./scan.js";
import { writeTestLog, type TestEntry } from "./test-logs.js";

const tmp = makeTempDir("lwlog-diff-");
afterAll(() => tmp.cleanup());
let serial = 0;

async function logs(S1: number, e1: TestEntry[], S2: number, e2: TestEntry[]): Promise<[string, string]> {
  const a = join(tmp.path, `a-${serial}.log`);
  const b = join(tmp.path, `b-${serial++}.log`);
  await writeTestLog(a, S1, e1);
  await writeTestLog(b, S2, e2);
  return [a, b];
}

const w = (off: number, seed: number, len = 4096): TestEntry => ({ w: off, len, seed });
const F: TestEntry = { f: true };

/** A workload of `n` writes with a flush after every 4 and a mark after every 16. */
function workload(n: number, len = 4096): TestEntry[] {
  const out: TestEntry[] = [];
  for (let i = 1; i <= n; i++) {
    out.push(w((i * 7919) % 4096 * 4096, i, len));
    if (i % 4 === 0) out.push(F);
    if (i % 16 === 0) out.push({ m: `m${i}` });
  }
  return out;
}

function changesOf(d: Awaited<ReturnType<typeof diffLogs>>): Change[] {
  return d.hunks.flatMap((h) => [...d.changes(h)]);
}

describe("diffLogs", () => {
  it("finds nothing between two logs of the same entries, also with different sector sizes", async () => {
    const e = workload(64);
    const [a, b] = await logs(512, e, 4096, e);
    const d = await diffLogs(a, b);
    expect(d.identical).toBe(true);
    expect(d.firstDivergence()).toBeUndefined();
    expect(d.anchors.map((x) => x.name)).toEqual(["m16", "m32", "m48", "m64"]);
    expect(d.segments).toHaveLength(5);
    expect(d.segments[1]).toMatchObject({ a: { start: 21, end: 41 }, b: { start: 21, end: 41 }, removed: 0, added: 0, changed: 0 });
    expect(d.a.bytesWritten(21, 41)).toBe(16 * 4096);
  });

  it("reports one write changed, one added and one dropped, each at its index", async () => {
    const e = workload(64);
    const b = [...e];
    // e[10] is the 9th write (index 10 of A): change its data.
    b[10] = w((9 * 7919) % 4096 * 4096, 999);
    // Drop A's entry 30 and add a write after A's entry 60.
    b.splice(61, 0, w(0, 12345));
    b.splice(30, 1);
    const [pa, pb] = await logs(512, e, 512, b);
    const d = await diffLogs(pa, pb);
    expect(d.identical).toBe(false);
    const changes = changesOf(d);
    expect(changes).toEqual([
      { type: "changed", a: 10, b: 10, aPos: 10, bPos: 10, fields: ["data"] },
      { type: "removed", a: 30, aPos: 30, bPos: 30 },
      { type: "added", b: 60, aPos: 61, bPos: 60 },
    ]);
    expect(d.firstDivergence()).toEqual(changes[0]);
    expect(d.totals).toEqual({ removed: 1, added: 1, changed: 1, hunks: 3, approximate: 0 });
    // Marks m16, m32, m48 are entries 20, 41 and 62 of A: entry 30 sits in the second
    // segment (m16 … m32), B's added entry (at A's place 61) in the third.
    expect(d.anchors.map((x) => x.a)).toEqual([20, 41, 62, 83]);
    expect(d.hunks.map((h) => h.segment)).toEqual([0, 1, 2]);
    expect(d.segments.map((s) => [s.changed, s.removed, s.added])).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });

  it("names what differs in a changed entry: offset, length, flags", async () => {
    const [pa, pb] = await logs(512, [w(0, 1), w(8192, 2), w(16384, 3), { f: true }], 512, [w(512, 1), w(8192, 2, 8192), w(16384, 3), { f: true, flags: 2n }]);
    const d = await diffLogs(pa, pb);
    expect(changesOf(d).map((c) => (c.type === "changed" ? [c.a, c.fields] : c.type))).toEqual([
      [0, ["offset"]],
      [1, ["length", "data"]],
      [3, ["flags"]],
    ]);
  });

  it("with epochs, ignores the order of writes between two flushes but not across them", async () => {
    const e: TestEntry[] = [w(0, 1), w(4096, 2), w(8192, 3), F, w(12288, 4), w(16384, 5), F, { m: "x" }, w(0, 6), F];
    const swapped: TestEntry[] = [w(8192, 3), w(0, 1), w(4096, 2), F, w(16384, 5), w(12288, 4), F, { m: "x" }, w(0, 6), F];
    const [pa, pb] = await logs(512, e, 4096, swapped);
    const ordered = await diffLogs(pa, pb);
    expect(ordered.identical).toBe(false);
    const epochs = await diffLogs(pa, pb, { epochs: true });
    expect(epochs.identical).toBe(true);
    // A write that moves across a flush is a real difference even with epochs.
    const moved: TestEntry[] = [w(0, 1), w(4096, 2), F, w(8192, 3), w(12288, 4), w(16384, 5), F, { m: "x" }, w(0, 6), F];
    const [pc, pd] = await logs(512, e, 512, moved);
    const across = await diffLogs(pc, pd, { epochs: true });
    expect(across.identical).toBe(false);
    const c = changesOf(across);
    expect(c.filter((x) => x.type === "removed").map((x) => x.type === "removed" && x.a)).toContain(2);
    expect(c.filter((x) => x.type === "added").map((x) => x.type === "added" && x.b)).toContain(3);
  });

  it("aligns a 20 000-entry log with 1% of its entries changed, exactly, through patience splits", async () => {
    const e = workload(16_000, 512);
    const b = e.map((x, i) => (i % 100 === 50 && "w" in x ? w(x.w, 7_000_000 + i, 512) : x));
    const expected = e.filter((x, i) => i % 100 === 50 && "w" in x).length;
    const [pa, pb] = await logs(512, e, 512, b);
    const [sa, sb] = [await scanLog(pa), await scanLog(pb)];
    for (const budget of [1 << 22, 200]) {
      const d = alignScans(sa, sb, { budget });
      expect(d.totals).toMatchObject({ changed: expected, removed: 0, added: 0, approximate: 0 });
      for (const c of changesOf(d)) expect(c).toMatchObject({ type: "changed", fields: ["data"] });
    }
  });

  it("pairs a mark that differs only in flags as a changed anchor", async () => {
    const [pa, pb] = await logs(512, [w(0, 1), { m: "a" }, w(0, 2)], 512, [w(0, 1), { m: "a" }, w(0, 2)]);
    const d = await diffLogs(pa, pb);
    expect(d.identical).toBe(true);
    expect(d.anchors).toEqual([{ name: "a", a: 1, b: 1 }]);
  });

  it("hashes the same with the addon's XXH64 as with xxhash-wasm and plain JavaScript: writes of every size (one over 4 MiB), marks, across windows", async () => {
    const { native } = await import("@lwlog/native");
    const e: TestEntry[] = [...workload(40, 4096), w(0, 9, 512), w(4096, 10, 1536), w(0, 11, 5 << 20), { m: "end" }, w(8192, 12, 65536)];
    const [pa] = await logs(512, e, 512, []);
    const wasm = await scanLog(pa, { hash: "wasm", blockSize: 8192 });
    const js = await scanLog(pa, { hash: "js", blockSize: 8192 });
    const c = await scanLog(pa, { blockSize: 8192 });
    expect(Array.from(c.hashes)).toEqual(Array.from(wasm.hashes));
    expect(Array.from(js.hashes)).toEqual(Array.from(wasm.hashes));
    // The data hashes are XXH64 of the bytes, marks seeded apart.
    const { default: xxhash } = await import("xxhash-wasm");
    const { h64Raw } = await xxhash();
    const i = e.findIndex((x) => "len" in x && "w" in x && x.len === 1536);
    expect(c.hashes[2 * i + 1]! * 2 ** 32 + c.hashes[2 * i]!).toBe(Number(h64Raw(randomBytes(1536, 10))));
    if (process.env.CI === "true") expect(native.xxh64Into, "CI must hash with the addon").toBeDefined();
  });

  it("scans in worker threads when run from the built package, with the same result", async () => {
    const dist = new URL("../dist/index.js", import.meta.url);
    expect(existsSync(dist), "build @lwlog/diff first (turbo runs the build before the tests)").toBe(true);
    const built = (await import(dist.href)) as typeof import("./index.js");
    const e = workload(200);
    const b = [...e];
    b[100] = { w: 0, bytes: randomBytes(4096, 77) };
    const [pa, pb] = await logs(512, e, 512, b);
    const par = await built.diffLogs(pa, pb, { parallel: true });
    const seq = await diffLogs(pa, pb);
    expect(par.totals).toEqual(seq.totals);
    expect(Array.from(par.a.hashes)).toEqual(Array.from(seq.a.hashes));
    expect(par.firstDivergence()).toEqual(seq.firstDivergence());
    // A broken log fails the same way from a worker: the codec's error class, file and entry.
    const broken = join(tmp.path, "broken.log");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(broken, new Uint8Array(4096));
    await expect(built.diffLogs(pa, broken, { parallel: true })).rejects.toMatchObject({ name: "LogFormatError", code: "LWLOG_BAD_MAGIC", file: broken });
  });
});
