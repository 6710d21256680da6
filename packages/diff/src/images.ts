import { closeSync, copyFileSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCodes, LogIoError, ioError } from "@lwlog/codec/core";
import type { LogScan } from "./scan.js";
import type { StateDiff } from "./state.js";

/** Options of `proveWithImages`. */
export interface ImageProofOptions {
  /** Keep the two images in this directory as `a.img` and `b.img` (default: a temporary directory, removed). */
  dir?: string;
  /** Image both disks start from (default: zeros), as given to `diffStates`. */
  base?: string;
  /** Replay the entries past the declared count too (as the scans did). */
  tail?: boolean;
}

/** What replaying both logs and comparing the images found. */
export interface ImageProof {
  /** True when the images differ in exactly the ranges the interval maps gave. */
  agree: boolean;
  /** Differing ranges of the images, in blocks of the state diff's granularity. */
  ranges: { start: number; end: number }[];
  /** Size of each image in bytes. */
  size: number;
  /** Paths of the images when they were kept. */
  a?: string;
  b?: string;
}

/**
 * Checks a state diff the slow, obvious way: replays each log (with `@lwlog/replay`) onto
 * its own image file up to the same point, compares the two files block by block, and
 * says whether the differing blocks are exactly the ranges `state` reports.
 */
export async function proveWithImages(a: LogScan, b: LogScan, state: StateDiff, options: ImageProofOptions = {}): Promise<ImageProof> {
  const { replayLog, ImageTarget } = await import("@lwlog/replay");
  const keep = options.dir !== undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "lwlog-diff-images-"));
  const imgA = join(dir, "a.img");
  const imgB = join(dir, "b.img");
  if (keep) {
    mkdirSync(dir, { recursive: true });
    for (const p of [imgA, imgB]) {
      if (existsSync(p)) throw new LogIoError(ErrorCodes.EXISTS, "already exists (refusing to overwrite it)", { file: p });
    }
  }
  const baseSize = options.base === undefined ? 0 : statSync(options.base).size;
  const size = Math.max(state.extent, baseSize);
  try {
    for (const [scan, img, until] of [
      [a, imgA, state.aUntil],
      [b, imgB, state.bUntil],
    ] as const) {
      if (options.base !== undefined) copyFileSync(options.base, img);
      if (until === 0) {
        ImageTarget.open(img, { size, grow: true }).close();
        continue;
      }
      await replayLog({ log: scan.path, target: img, size, until: { entry: until - 1 }, tail: options.tail ?? false });
    }
    const ranges = compareFiles(imgA, imgB, state.granularity);
    const agree = ranges.length === state.ranges.length && ranges.every((r, k) => r.start === state.ranges[k]!.start && r.end === state.ranges[k]!.end);
    return { agree, ranges, size, ...(keep ? { a: imgA, b: imgB } : {}) };
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** Blocks of `g` bytes where two files differ (a shorter file reads as zeros), merged into ranges. */
export function compareFiles(pathA: string, pathB: string, g: number): { start: number; end: number }[] {
  const open = (p: string) => {
    try {
      return openSync(p, "r");
    } catch (err) {
      throw ioError(err, p, "open the image");
    }
  };
  const fa = open(pathA);
  const fb = open(pathB);
  try {
    const size = Math.max(fstatSync(fa).size, fstatSync(fb).size);
    const chunk = Math.max(g, 1 << 20);
    const ba = new Uint8Array(chunk);
    const bb = new Uint8Array(chunk);
    const out: { start: number; end: number }[] = [];
    for (let p = 0; p < size; p += chunk) {
      const n = Math.min(chunk, size - p);
      const va = readUpTo(fa, ba, n, p);
      const vb = readUpTo(fb, bb, n, p);
      if (Buffer.compare(va, vb) === 0) continue;
      for (let o = 0; o < n; o += g) {
        const m = Math.min(g, n - o);
        if (Buffer.compare(va.subarray(o, o + m), vb.subarray(o, o + m)) === 0) continue;
        const last = out[out.length - 1];
        if (last !== undefined && last.end === p + o) last.end = p + o + m;
        else out.push({ start: p + o, end: p + o + m });
      }
    }
    return out;
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

/** `n` bytes at `position`, zero-filled past the end of the file. */
function readUpTo(fd: number, buf: Uint8Array, n: number, position: number): Uint8Array {
  const view = buf.subarray(0, n);
  let done = 0;
  while (done < n) {
    const got = readSync(fd, view, done, n - done, position + done);
    if (got === 0) break;
    done += got;
  }
  view.fill(0, done);
  return view;
}
