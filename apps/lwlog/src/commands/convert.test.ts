import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir, qemuCrashLog, run, sha256File } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";

const tmp = makeTempDir("lwlog-cli-convert-");
afterAll(() => tmp.cleanup());
const p = (name: string) => join(tmp.path, name);
const raw4k = kernelLogs().find((l) => l.file === "raw-4k.log")!;
const ext4 = kernelLogs().find((l) => l.file === "ext4-4k.log")!;

describe("lwlog convert", () => {
  it("--sector-size 512 of a log with a 4063-byte mark: an error naming it, or --truncate-marks (said so)", async () => {
    const out = p("raw-512.log");
    const mark = raw4k.marks.find((m) => m.name.length === 4063)!;
    let r = await runLwlog(["convert", raw4k.path, "-o", out, "--sector-size", "512"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`raw-4k.log: entry ${mark.entry_index}: offset `);
    expect(r.stderr).toMatch(/is 4063 bytes; 512-byte sectors hold names of at most 479 bytes \(--truncate-marks cuts it to fit\) \[LWLOG_MARK_TOO_LONG\]/);
    expect(existsSync(out)).toBe(false);
    r = await runLwlog(["convert", raw4k.path, "-o", out, "--sector-size", "512", "--truncate-marks"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(`converted ${raw4k.entries} entries into ${raw4k.entries} (4096 → 512-byte sectors) in ${out}; nr_entries ${raw4k.entries}`);
    expect(r.stdout).toMatch(new RegExp(`mark at entry ${mark.entry_index} truncated from 4063 to 479 bytes`));
    // Replayed up to that mark (found by its entry index), the 512-byte log gives the manifest's image.
    const img = p("raw.img");
    r = await runLwlog(["replay", out, "--to", img, "--size", String(raw4k.data_device_bytes), "--until-entry", String(mark.entry_index), "-q"]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256File(img)).toBe(mark.sha256);
  });

  it("--for qemu drops METADATA and says so; --json gives the summary as JSON", async () => {
    const r = await runLwlog(["convert", ext4.path, "-o", p("qemu.log"), "--for", "qemu", "--json"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ metadataDropped: ext4.flag_counts.METADATA, entriesOut: ext4.entries, toSectorSize: 4096 });
    const t = await runLwlog(["convert", ext4.path, "-o", p("qemu2.log"), "--for", "qemu"]);
    expect(t.stdout).toContain(`METADATA flag dropped from ${ext4.flag_counts.METADATA} entries (QEMU rejects flags beyond 0x0f)`);
  });

  it("up without alignment: exit 1 naming the entry; --base-image completes it", async () => {
    const raw512 = kernelLogs().find((l) => l.file === "raw-512.log")!;
    let r = await runLwlog(["convert", raw512.path, "-o", p("up.log"), "--sector-size", "4k"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/raw-512\.log: entry \d+: offset \d+: write \(NONE\) of bytes \d+\.\.\d+ \(sector \d+, 1 sector of 512\) is not whole 4096-byte sectors; give --base-image IMG/);
    const zeros = p("zeros.img");
    writeFileSync(zeros, Buffer.alloc(raw512.data_device_bytes));
    r = await runLwlog(["convert", raw512.path, "-o", p("up.log"), "--sector-size", "4096", "--base-image", zeros]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/writes widened to whole sectors from the base image/);
    const last = raw512.marks.at(-1)!;
    const img = p("up.img");
    r = await runLwlog(["replay", p("up.log"), "--to", img, "--size", String(raw512.data_device_bytes), "--until-mark", last.name, "-q"]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256File(img)).toBe(last.sha256);
    expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  });

  it("--base-image that does not fit beside the output (disk full): exit 2 like any I/O error, nothing left behind", async () => {
    const raw512 = kernelLogs().find((l) => l.file === "raw-512.log")!;
    const zeros = p("zeros-big.img");
    writeFileSync(zeros, Buffer.alloc(raw512.data_device_bytes));
    const mnt = p("tmpfs");
    mkdirSync(mnt);
    run("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]);
    try {
      const out = join(mnt, "up.log");
      const r = await runLwlog(["convert", raw512.path, "-o", out, "--sector-size", "4096", "--base-image", zeros]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^lwlog: error: ${zeros}: cannot copy the base image to .*: .*ENOSPC.* \\[LWLOG_IO\\]\n$`));
      expect(readdirSync(mnt)).toEqual([]);
    } finally {
      run("umount", [mnt]);
    }
  });

  it("--fix-superblock repairs a lagging nr_entries", async () => {
    const bytes = Buffer.from(readFileSync(ext4.path));
    bytes.writeBigUInt64LE(10n, 16);
    writeFileSync(p("lag.log"), bytes);
    const r = await runLwlog(["convert", p("lag.log"), "-o", p("fixed.log"), "--fix-superblock"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`superblock fixed: nr_entries 10 → ${ext4.entries}`);
    expect(readFileSync(p("fixed.log")).equals(readFileSync(ext4.path))).toBe(true);
  });

  it("usage errors exit 2", async () => {
    expect((await runLwlog(["convert", ext4.path, "-o", p("x.log"), "--sector-size", "1000"])).code).toBe(2);
    expect((await runLwlog(["convert", ext4.path, "-o", p("x.log"), "--for", "xen"])).code).toBe(2);
    expect((await runLwlog(["convert", ext4.path, "-o", p("x.log"), "--declared-only", "--with-tail"])).code).toBe(2);
    expect((await runLwlog(["convert", ext4.path])).code).toBe(2);
    expect((await runLwlog(["convert", p("none.log"), "-o", p("x.log")])).code).toBe(2);
  });
});

describe("lwlog convert --for kernel, and an interrupt", () => {
  it("--for kernel declares a QEMU log's tail (what replay-log needs to see it)", async () => {
    const log = qemuCrashLog(p("qemu"), 512, ["write -P 0x11 0 8k", "flush", "write -P 0x22 64k 4k", "write -P 0x33 1M 16k"]);
    const r = await runLwlog(["convert", log, "-o", p("kernel.log"), "--for", "kernel", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { nrEntriesIn: number; nrEntriesOut: number; tailIn: number; superblockFixed: boolean };
    expect(s.tailIn).toBe(2);
    expect(s.superblockFixed).toBe(true);
    expect(s.nrEntriesOut).toBe(s.nrEntriesIn + 2);
  });

  it("an interrupt stops it: exit 130, no output", async () => {
    const out = p("interrupted.log");
    const r = await runLwlog(["convert", ext4.path, "-o", out, "--sector-size", "512"], {
      onInterrupt: (handler) => {
        setImmediate(handler);
        return () => undefined;
      },
    });
    expect(r.code).toBe(130);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.path).filter((f) => f.includes(".lwlog-"))).toEqual([]);
  });
});
