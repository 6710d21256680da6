/**
 * What QEMU 7.2's blklogwrites logs for a list of qemu-io commands, worked out from the
 * block layer (block/io.c, block/block-backend.c, block/blklogwrites.c) rather than read
 * from a log, so that the dump tests compare QEMU's real log against an independent
 * expectation (test-only: not built).
 *
 * The rules, in the order QEMU applies them:
 * - blklogwrites sets `request_alignment` to the log sector size S, so the generic layer
 *   aligns every request before the driver sees it. An unaligned write is padded to whole
 *   sectors with read-modify-write: one entry covering the aligned range, whose data is
 *   the image's bytes there after the write.
 * - An unaligned write-zeroes (`write -z`) is split by `bdrv_co_do_zero_pwritev`: a head
 *   sector written as data (read-modify-write), the aligned middle as a zero write, a
 *   tail sector as data; when the padded request is exactly one sector, or exactly two
 *   with both a head and a tail, it is a single data write of those sectors. Each part is
 *   an entry; blklogwrites logs zero writes as ordinary writes of zero data.
 * - A discard becomes one DISCARD entry (QEMU 7.2 asserts on an unaligned one: not used).
 * - Flushes: `bdrv_co_flush` does nothing when no write completed since the last flush
 *   (`flushed_gen == write_gen`); otherwise blklogwrites logs a FLUSH entry. `write_gen`
 *   is bumped when a write, zero write or discard *finishes*, after the FUA emulation.
 * - FUA: blklogwrites does not support FUA, so a FUA write is the write then a flush of
 *   the node (`bdrv_driver_pwritev`'s emulation), which sees `write_gen` from before this
 *   write: the first FUA write after a flush logs no FLUSH. qemu-io's default cache mode
 *   is writethrough, which makes every write (and every zero-write part) FUA; `-t
 *   writeback`/`none` do not; `write -f` asks for FUA explicitly. `-t unsafe` drops every
 *   flush before the driver.
 * - qemu-io closes the image at exit, which flushes it (the same rule: only if a write
 *   finished since the last flush).
 * - The superblock is rewritten after every FLUSH entry and after every
 *   `log-super-update-interval`-th entry (1-based), declaring the entries logged so far.
 */
import { createHash } from "node:crypto";

/** One entry QEMU is expected to log. */
export interface ExpectedEntry {
  kind: "write" | "discard" | "flush";
  flags: number;
  sector: number;
  nrSectors: number;
  /** sha256 of the data a write carries. */
  sha256?: string;
}

/** The inputs of `expectQemuLog`: what `qemuLog` is given. */
export interface QemuRun {
  sectorSize: number;
  /** qemu-io `-t` (undefined: qemu-io's default, writethrough). */
  cache?: "writeback" | "writethrough" | "none" | "directsync" | "unsafe";
  imageSize: number;
  superInterval?: number;
  commands: readonly string[];
}

/** The entries, in order, and how many of them the superblock declares at the end. */
export interface ExpectedLog {
  entries: ExpectedEntry[];
  declared: number;
}

/** Works out the log QEMU writes for `run` (see the file comment for the rules). */
export function expectQemuLog(run: QemuRun): ExpectedLog {
  const S = run.sectorSize;
  const image = new Uint8Array(run.imageSize);
  const writethrough = run.cache === undefined || run.cache === "writethrough" || run.cache === "directsync";
  const noFlush = run.cache === "unsafe";
  const interval = run.superInterval ?? 4096;
  const entries: ExpectedEntry[] = [];
  let declared = 0;
  let writeGen = 0;
  let flushedGen = 0;

  const log = (e: ExpectedEntry) => {
    entries.push(e);
    if (e.kind === "flush" || entries.length % interval === 0) declared = entries.length;
  };
  const flush = () => {
    if (noFlush || flushedGen === writeGen) return;
    log({ kind: "flush", flags: 1, sector: 0, nrSectors: 0 });
    flushedGen = writeGen;
  };
  const alignedWrite = (offset: number, bytes: number, fua: boolean) => {
    if (offset % S !== 0 || bytes % S !== 0) throw new Error(`model bug: unaligned write ${offset}+${bytes}`);
    const sha256 = createHash("sha256").update(image.subarray(offset, offset + bytes)).digest("hex");
    log({ kind: "write", flags: 0, sector: offset / S, nrSectors: bytes / S, sha256 });
    if (fua) flush();
    writeGen += 1;
  };

  for (const command of run.commands) {
    const c = parseCommand(command);
    switch (c.op) {
      case "flush":
        flush();
        break;
      case "discard":
        if (c.offset % S !== 0 || c.bytes % S !== 0) throw new Error(`QEMU 7.2 asserts on an unaligned discard: ${command}`);
        image.fill(0, c.offset, c.offset + c.bytes);
        log({ kind: "discard", flags: 4, sector: c.offset / S, nrSectors: c.bytes / S });
        writeGen += 1;
        break;
      case "write": {
        const fua = writethrough || c.fua;
        image.fill(c.zero ? 0 : c.pattern, c.offset, c.offset + c.bytes);
        const head = c.offset % S;
        const endRem = (c.offset + c.bytes) % S;
        const tailPad = endRem === 0 ? 0 : S - endRem;
        if (!c.zero || (head === 0 && tailPad === 0)) {
          // One request, padded to whole sectors.
          alignedWrite(c.offset - head, head + c.bytes + tailPad, fua);
          break;
        }
        const sum = head + c.bytes + tailPad;
        const bufLen = sum > S && head !== 0 && tailPad !== 0 ? 2 * S : S;
        const merged = sum === bufLen;
        let offset = c.offset;
        let bytes = c.bytes;
        if (head !== 0 || merged) {
          const first = merged ? bufLen : S;
          alignedWrite(offset - head, first, fua);
          if (merged) break;
          offset += first - head;
          bytes -= first - head;
        }
        if (bytes >= S) {
          const middle = bytes - (bytes % S);
          alignedWrite(offset, middle, fua);
          offset += middle;
          bytes -= middle;
        }
        if (bytes > 0) alignedWrite(offset, S, fua);
        break;
      }
    }
  }
  flush(); // qemu-io closes the image
  return { entries, declared };
}

type Command =
  | { op: "flush" }
  | { op: "discard"; offset: number; bytes: number }
  | { op: "write"; offset: number; bytes: number; pattern: number; zero: boolean; fua: boolean };

/** Parses the qemu-io commands the tests use: `write [-f] [-z [-u]] [-P n] OFF LEN`, `discard OFF LEN`, `flush`. */
function parseCommand(command: string): Command {
  const words = command.trim().split(/\s+/);
  const verb = words.shift();
  if (verb === "flush" && words.length === 0) return { op: "flush" };
  let pattern = 0xcd; // qemu-io's default pattern for write
  let zero = false;
  let fua = false;
  const rest: number[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "-P") pattern = Number(words[++i]);
    else if (w === "-z") zero = true;
    else if (w === "-u") continue; // may unmap: still logged as a zero write
    else if (w === "-f") fua = true;
    else if (/^[0-9]+$/.test(w)) rest.push(Number(w));
    else throw new Error(`the model does not know ${JSON.stringify(w)} in ${JSON.stringify(command)}`);
  }
  if (rest.length !== 2) throw new Error(`expected OFFSET LENGTH in ${JSON.stringify(command)}`);
  const [offset, bytes] = rest as [number, number];
  if (verb === "discard") return { op: "discard", offset, bytes };
  if (verb === "write") return { op: "write", offset, bytes, pattern, zero, fua };
  throw new Error(`the model does not know ${JSON.stringify(command)}`);
}
