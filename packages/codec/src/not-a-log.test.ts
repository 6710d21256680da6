import { gzipSync } from "node:zlib";
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, qemuCrashLog, run } from "@lwlog/testkit";
import { LogFile } from "./reader.js";
import { LogWriter } from "./writer.js";
import { notALogMessage } from "./not-a-log.js";

const tmp = makeTempDir("lwlog-not-a-log-");
afterAll(() => tmp.cleanup());

/** The LWLOG_BAD_MAGIC message `LogFile.open` gives for the file. */
async function openError(path: string): Promise<string> {
  try {
    (await LogFile.open(path)).close();
  } catch (err) {
    expect((err as { code?: string }).code).toBe("LWLOG_BAD_MAGIC");
    expect((err as Error & { describe(): string }).describe()).toMatch(new RegExp(`^${path}: offset 0: `));
    return (err as Error).message;
  }
  throw new Error(`${path} opened as a log`);
}

/** A sparse file of `size` bytes. */
function sparse(name: string, size: number): string {
  const path = join(tmp.path, name);
  writeFileSync(path, "");
  truncateSync(path, size);
  return path;
}

describe("a file that is not a log: LWLOG_BAD_MAGIC says what it looks like", () => {
  it("filesystem images made by the real tools: ext4, ext3, ext2, XFS, btrfs", async () => {
    const cases: [string, string[], RegExp][] = [
      ["ext4.img", ["mkfs.ext4", "-q", "-F"], /it looks like an ext4 filesystem \(superblock magic 0xef53 at byte 1080\); a disk image: give the log/],
      ["ext3.img", ["mkfs.ext3", "-q", "-F"], /it looks like an ext3 filesystem/],
      ["ext2.img", ["mkfs.ext2", "-q", "-F"], /it looks like an ext2 filesystem/],
      ["xfs.img", ["mkfs.xfs", "-q", "-f"], /it looks like an XFS filesystem \(superblock magic "XFSB" at byte 0\)/],
      ["btrfs.img", ["mkfs.btrfs", "-q", "-f"], /it looks like a btrfs filesystem \(superblock magic "_BHRfS_M" at byte 65600\)/],
    ];
    for (const [name, [tool, ...args], expected] of cases) {
      const img = sparse(name, 320 << 20);
      run(tool!, [...args, img]);
      const message = await openError(img);
      expect(message, name).toMatch(/^does not look like a dm-log-writes log: /);
      expect(message, name).toMatch(expected);
      expect(message, name).not.toMatch(/QEMU/);
    }
  });

  it("a qcow2 image (qemu-img), a compressed log, a text file, an ELF file", async () => {
    const qcow = join(tmp.path, "disk.qcow2");
    run("qemu-img", ["create", "-q", "-f", "qcow2", qcow, "64M"]);
    expect(await openError(qcow)).toMatch(/it looks like a qcow2 disk image .*qemu-img convert -O raw/);

    const log = join(tmp.path, "real.log");
    const w = await LogWriter.create(log, { sectorSize: 512 });
    await w.write(0n, new Uint8Array(4096).fill(7));
    await w.close();
    const gz = join(tmp.path, "real.log.gz");
    writeFileSync(gz, gzipSync(readFileSync(log)));
    expect(await openError(gz)).toBe("does not look like a dm-log-writes log: it looks like a gzip-compressed file; decompress it first (gunzip) and give the log inside");

    const text = join(tmp.path, "notes.txt");
    writeFileSync(text, "this is not a log\nbut some notes: ünïcödé\n");
    expect(await openError(text)).toMatch(/^does not look like a dm-log-writes log: it is a text file; a log starts with the magic 0x006a736677736872, "rhswfsj"$/);

    expect(await openError(process.execPath)).toMatch(/it looks like an ELF executable or library$/);
  });

  it("all zeros: the whole file when it is small, else its first 128 KiB; never the QEMU story", async () => {
    expect(await openError(sparse("zeros-small.img", 4096))).toBe(
      `does not look like a dm-log-writes log: the file is all zero bytes (4096), as in an empty or sparse disk image; a log starts with the magic 0x006a736677736872, "rhswfsj"`,
    );
    expect(await openError(sparse("zeros-big.img", 1 << 30))).toMatch(/: its first 131072 bytes are all zero, as in an empty or sparse disk image;/);
  });

  it("a QEMU log whose superblock was never written is still explained as QEMU's (qemu-io, killed before a flush)", async () => {
    const dir = join(tmp.path, "qemu-no-super");
    const log = qemuCrashLog(dir, 512, ["write -P 0x5a 0 8192", "write -P 0x33 65536 512"]);
    const first = readFileSync(log).subarray(0, 512);
    expect(first.every((b) => b === 0)).toBe(true); // QEMU wrote entries, not the superblock
    expect(await openError(log)).toBe(
      "bad magic: the superblock is all zero bytes, so no superblock was ever written (QEMU writes it only at the first flush or superblock interval); an entry header follows at byte 512",
    );
  });

  it("a zero first sector with no entry after it is not called a QEMU log", () => {
    const bytes = new Uint8Array(8192);
    bytes[2000] = 1; // neither a signature nor an entry header at 512, 1024, 2048 or 4096
    expect(notALogMessage(bytes, 8192)).toBe(
      `does not look like a dm-log-writes log: its first 32 bytes are zero and no entry header follows (a log starts with the magic 0x006a736677736872, "rhswfsj")`,
    );
  });

  it("a near miss keeps the magic it found", () => {
    const bytes = new Uint8Array(512);
    bytes.set([0x52, 0x48, 0x53, 0x57, 0x46, 0x53, 0x4a, 0x00]); // "RHSWFSJ\0"
    expect(notALogMessage(bytes)).toBe(
      `does not look like a dm-log-writes log: bad magic 0x004a534657534852 (a log starts with the magic 0x006a736677736872, "rhswfsj")`,
    );
  });
});
