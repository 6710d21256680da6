import { createHash } from "node:crypto";
import { kernelLogs, sha256File, type KernelLog } from "@lwlog/testkit";
import { describe, expect, it } from "vitest";
import { LogFile, LogFlags, LogIndex, readLog, type LogEntry } from "./index.js";

// The six real logs of test-data/kernel, written by Linux 6.1, against their manifest.

const FLAG_BITS: Record<string, bigint> = { ...LogFlags };

function readAll(k: KernelLog): { log: LogFile; entries: LogEntry[] } {
  const log = LogFile.openSync(k.path);
  const c = log.cursor({ tail: true });
  const entries: LogEntry[] = [];
  for (let e = c.next(); e !== undefined; e = c.next()) entries.push(e);
  expect(c.end).toEqual({ reason: "eof", offset: k.log_file_bytes, index: k.entries });
  return { log, entries };
}

describe.each(kernelLogs().map((k) => [k.file, k] as const))("kernel log %s", (_file, k) => {
  it("is the file the manifest describes", () => {
    expect(sha256File(k.path)).toBe(k.log_file_sha256);
  });

  it("declares the manifest's entries, and holds exactly those: no tail, no problems", () => {
    const { log, entries } = readAll(k);
    try {
      expect(log.sectorSize).toBe(k.superblock.sectorsize);
      expect(log.super.nrEntries).toBe(BigInt(k.superblock.nr_entries));
      expect(log.declared).toBe(k.entries);
      expect(log.size).toBe(k.log_file_bytes);
      expect(entries.length).toBe(k.entries);
      expect(entries.filter((e) => e.tail)).toEqual([]);
      expect(entries.flatMap((e) => e.problems)).toEqual([]);
      // Entries follow each other with no gaps.
      let at = log.sectorSize;
      for (const e of entries) {
        expect(e.offset).toBe(at);
        at = e.nextOffset;
      }
    } finally {
      log.close();
    }
  });

  it("has the manifest's flag counts (entries with each bit; NONE = flags 0)", () => {
    const { log, entries } = readAll(k);
    log.close();
    const counts: Record<string, number> = {};
    for (const e of entries) {
      if (e.flags === 0n) counts.NONE = (counts.NONE ?? 0) + 1;
      for (const [name, bit] of Object.entries(FLAG_BITS)) if ((e.flags & bit) !== 0n) counts[name] = (counts[name] ?? 0) + 1;
    }
    expect(counts).toEqual(k.flag_counts);
  });

  it("has every mark of the manifest at its entry index, with its name", () => {
    const { log, entries } = readAll(k);
    log.close();
    const marks = entries.filter((e) => e.kind === "mark").map((e) => ({ name: e.mark, entry_index: e.index }));
    expect(marks).toEqual(k.marks.map((m) => ({ name: m.name, entry_index: m.entry_index })));
    expect(marks.at(-1)).toEqual({ name: "dm-log-writes-end", entry_index: k.entries - 1 });
    for (const e of entries.filter((x) => x.kind === "mark")) {
      expect(e.dataLen).toBe(BigInt(e.markBytes!.length));
      expect([e.sector, e.nrSectors, e.dataSize]).toEqual([0n, 0n, 0]);
    }
  });

  it("reads the same through LogIndex, skim, entryAt and the async readLog", async () => {
    const { log, entries } = readAll(k);
    try {
      const index = LogIndex.build(log);
      expect([index.length, index.declared, index.tail]).toEqual([k.entries, k.entries, 0]);
      expect(index.marks.map((m) => [m.name, m.index])).toEqual(k.marks.map((m) => [m.name, m.entry_index]));
      const skimmed: [number, number, string][] = [];
      const c = log.cursor();
      for (let s = c.skim(); s !== undefined; s = c.skim()) skimmed.push([s.offset, s.knownFlags, s.kind]);
      expect(skimmed).toEqual(entries.map((e) => [e.offset, Number(e.flags), e.kind]));
      for (const i of [0, 1, Math.floor(k.entries / 2), k.entries - 1]) {
        expect(index.entry(i)).toEqual(entries[i]);
        expect(index.offsetOf(i)).toBe(entries[i]!.offset);
      }
      const viaAsync: LogEntry[] = [];
      for await (const e of readLog(k.path)) viaAsync.push(e);
      expect(viaAsync).toEqual(entries);
    } finally {
      log.close();
    }
  });

  it("keeps sector-size units: sector and nr_sectors count S-byte sectors", () => {
    const { log, entries } = readAll(k);
    log.close();
    for (const e of entries) {
      if (e.kind === "write") expect(e.dataSize).toBe(Number(e.nrSectors) * k.superblock.sectorsize);
      else expect(e.dataSize).toBe(0);
      // Every target range is inside the 64 MiB data device.
      expect(Number(e.sector + e.nrSectors) * k.superblock.sectorsize).toBeLessThanOrEqual(k.data_device_bytes);
    }
  });
});

describe("kernel log specifics", () => {
  const byFile = new Map(kernelLogs().map((k) => [k.file, k]));

  it("keeps the 4105-character mark name as the kernel did: 479 bytes at S=512, 4063 at S=4096", () => {
    for (const [file, len] of [["raw-512.log", 479], ["raw-4k.log", 4063]] as const) {
      const { log, entries } = readAll(byFile.get(file)!);
      log.close();
      const long = entries.find((e) => e.mark?.startsWith("long-"))!;
      expect(long.dataLen).toBe(BigInt(len));
      expect(long.mark).toBe(`long-${"L".repeat(len - 5)}`);
      expect(long.problems).toEqual([]);
    }
  });

  it("reads the kernel's FLUSH|FUA|METADATA entries with sector != 0, each before its FUA|METADATA write", () => {
    const { FLUSH, FUA, METADATA } = LogFlags;
    for (const [file, n] of [["ext4-512.log", 13], ["ext4-4k.log", 13], ["xfs-512.log", 20], ["xfs-4k.log", 20]] as const) {
      const { log, entries } = readAll(byFile.get(file)!);
      log.close();
      const split = entries.filter((e) => e.flags === (FLUSH | FUA | METADATA));
      expect(split.length, file).toBe(n);
      for (const f of split) {
        expect(f.kind).toBe("flush");
        expect(f.sector).not.toBe(0n);
        expect([f.nrSectors, f.dataSize]).toEqual([0n, 0]);
        const w = entries[f.index + 1]!;
        expect([w.flags, w.sector, w.kind]).toEqual([FUA | METADATA, f.sector, "write"]);
      }
      expect(entries.filter((e) => (e.flags & FLUSH) !== 0n && e.dataSize > 0)).toEqual([]);
    }
  });

  it("locates every byte of data exactly: replayed in memory, each mark gives the manifest's device sha256", () => {
    // Every mark of the raw logs, the last mark of the filesystem logs (which covers all their data).
    for (const k of kernelLogs()) {
      const marksToCheck = new Map(
        (k.workload === "raw" ? k.marks : k.marks.slice(-1)).map((m) => [m.entry_index, m.sha256] as const),
      );
      const S = k.superblock.sectorsize;
      const image = new Uint8Array(k.data_device_bytes);
      const log = LogFile.openSync(k.path);
      try {
        const c = log.cursor({ data: true });
        for (let e = c.next(); e !== undefined; e = c.next()) {
          const at = Number(e.sector) * S;
          if (e.kind === "write") image.set(e.data!, at);
          else if (e.kind === "discard") image.fill(0, at, at + Number(e.nrSectors) * S);
          const want = marksToCheck.get(e.index);
          if (want !== undefined) {
            expect(createHash("sha256").update(image).digest("hex"), `${k.file} at mark ${e.mark}`).toBe(want);
            marksToCheck.delete(e.index);
          }
        }
      } finally {
        log.close();
      }
      expect(marksToCheck.size).toBe(0);
    }
  });
});
