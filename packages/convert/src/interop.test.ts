import { copyFileSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFile, LogFlags, LogWriter } from "@lwlog/codec";
import { blklogwritesOpts, kernelLogs, makeTempDir, qemuLog, randomBytes, requireTool, run } from "@lwlog/testkit";
import { convertLog } from "./convert.js";
import { exportToFile } from "./test-support.js";

const tmp = makeTempDir("lwlog-convert-interop-");
afterAll(() => tmp.cleanup());

function entries(path: string) {
  const log = LogFile.openSync(path);
  try {
    const out = [];
    const c = log.cursor({ tail: true });
    for (let e = c.next(); e !== undefined; e = c.next()) out.push({ ...e, data: e.dataSize > 0 ? log.readData(e) : undefined });
    return { sectorSize: log.sectorSize, declared: log.declared, entries: out };
  } finally {
    log.close();
  }
}

describe("convert --for qemu: a kernel log QEMU's log-append=on takes", () => {
  it("QEMU refuses the kernel log (METADATA), accepts the converted one, and appends after its entries", async () => {
    requireTool("qemu-io");
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    const image = join(tmp.path, "data.img");
    writeFileSync(image, new Uint8Array(0));
    truncateSync(image, k.data_device_bytes);

    const raw = join(tmp.path, "kernel.log");
    copyFileSync(k.path, raw);
    const refused = run("qemu-io", ["--image-opts", blklogwritesOpts({ image, log: raw, append: true }), "-c", "write -P 0x5c 1M 8k"], { check: false });
    expect(refused.stdout + refused.stderr).toMatch(/Invalid flags 0x1[0-9a-f] in log entry/);

    const converted = join(tmp.path, "for-qemu.log");
    const s = await convertLog(k.path, converted, { forQemu: true });
    expect(s.metadataDropped).toBe(k.flag_counts.METADATA);
    expect(s.entriesOut).toBe(k.entries);
    const before = entries(converted);
    expect(before.entries.every((e) => (e.flags & ~0x0fn) === 0n)).toBe(true);

    qemuLog({ dir: tmp.path, image: "data.img", log: "for-qemu.log", append: true, commands: ["write -P 0x5c 1M 8k", "flush"] });

    const after = entries(converted);
    expect(after.sectorSize).toBe(4096);
    // Ours first, unchanged…
    for (let i = 0; i < before.entries.length; i++) {
      const a = before.entries[i]!;
      const b = after.entries[i]!;
      expect([b.sector, b.nrSectors, b.flags, b.dataLen, b.mark], `entry ${i}`).toEqual([a.sector, a.nrSectors, a.flags, a.dataLen, a.mark]);
      expect(b.data === undefined ? undefined : Buffer.from(b.data).equals(Buffer.from(a.data!))).toBe(a.data === undefined ? undefined : true);
    }
    // …then QEMU's: the 8 KiB write at 1 MiB (two 4096-byte sectors at sector 256) and its flush, declared.
    const added = after.entries.slice(before.entries.length);
    expect(added[0]).toMatchObject({ kind: "write", sector: 256n, nrSectors: 2n, flags: 0n });
    expect(Buffer.from(added[0]!.data!).equals(Buffer.alloc(8192, 0x5c))).toBe(true);
    expect(added.slice(1).every((e) => e.kind === "flush")).toBe(true);
    expect(after.declared).toBe(after.entries.length);
  });
});

interface FioJob {
  write: { total_ios: number; io_bytes: number };
  sync: { total_ios: number };
  error: number;
}

function fio(iolog: string): FioJob {
  requireTool("fio");
  const r = run("fio", ["--name=lwlog", `--read_iolog=${iolog}`, "--ioengine=psync", "--output-format=json"]);
  const json = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as { jobs: FioJob[] };
  return json.jobs[0]!;
}

describe("export --format fio-iolog: fio replays the recorded I/O pattern", () => {
  it("a synthetic log: fio issues exactly its writes (count and bytes) and syncs", async () => {
    const path = join(tmp.path, "fio-src.log");
    const w = await LogWriter.create(path, { sectorSize: 512 });
    let writes = 0;
    let bytes = 0;
    for (let i = 0; i < 50; i++) {
      const nr = 1 + (i % 9);
      await w.write(BigInt((i * 37) % 2000), randomBytes(nr * 512, i + 1), { flags: i % 7 === 0 ? LogFlags.FUA : 0n });
      writes += 1;
      bytes += nr * 512;
      if (i % 10 === 9) await w.flush();
      if (i % 12 === 0) await w.discard(BigInt(i * 8), 8n);
      if (i % 25 === 0) await w.mark(`m${i}`);
    }
    await w.close();
    const target = join(tmp.path, "fio-target.img");
    writeFileSync(target, new Uint8Array(0));
    truncateSync(target, 4 << 20);
    const iolog = join(tmp.path, "fio-src.iolog");
    await exportToFile(path, iolog, { format: "fio-iolog", fioTarget: target });
    const text = readFileSync(iolog, "utf8").split("\n");
    expect(text.slice(0, 3)).toEqual(["fio version 2 iolog", `${target} add`, `${target} open`]);
    expect(text.filter((l) => l.endsWith(" sync 0 0")).length).toBe(5);
    expect(text.filter((l) => / trim \d+ 4096$/.test(l)).length).toBe(5);
    const job = fio(iolog);
    expect(job.error).toBe(0);
    expect(job.write.total_ios).toBe(writes);
    expect(job.write.io_bytes).toBe(bytes);
    expect(job.sync.total_ios).toBe(5);
  });

  it("a kernel ext4 log: fio issues every write the kernel logged", async () => {
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    const target = join(tmp.path, "fio-ext4.img");
    writeFileSync(target, new Uint8Array(0));
    truncateSync(target, k.data_device_bytes);
    const iolog = join(tmp.path, "ext4.iolog");
    await exportToFile(k.path, iolog, { format: "fio-iolog", fioTarget: target });
    const all = entries(k.path).entries;
    const w = all.filter((e) => e.kind === "write");
    const job = fio(iolog);
    expect(job.write.total_ios).toBe(w.length);
    expect(job.write.io_bytes).toBe(w.reduce((n, e) => n + e.dataSize, 0));
    expect(job.sync.total_ios).toBe(all.filter((e) => e.kind === "flush").length);
  });
});
