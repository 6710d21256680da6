import { readFileSync, writeFileSync } from "node:fs";
import { LogFile, type LogEntry } from "@lwlog/codec/core";

/** Every entry of a log (the tail too), with data. For tests only. */
export function readEntries(path: string): { declared: number; sectorSize: number; entries: LogEntry[]; end: string } {
  const log = LogFile.openSync(path);
  try {
    const c = log.cursor({ tail: true, data: true });
    const entries: LogEntry[] = [];
    for (let e = c.next(); e !== undefined; e = c.next()) entries.push(e);
    return { declared: log.declared, sectorSize: log.sectorSize, entries, end: c.end!.reason };
  } finally {
    log.close();
  }
}

/** Applies entries `[0, count)` to a zero image of `size` bytes (discards zero their range). */
export function replayEntries(path: string, size: number, count = Infinity): Uint8Array {
  const { sectorSize: S, entries } = readEntries(path);
  const image = new Uint8Array(size);
  for (const e of entries.slice(0, count)) {
    const at = Number(e.sector) * S;
    if (e.kind === "write") image.set(e.data!, at);
    else if (e.kind === "discard") image.fill(0, at, at + Number(e.nrSectors) * S);
  }
  return image;
}

/** A zero-filled image file of `size` bytes. */
export function zeroImage(path: string, size: number): string {
  writeFileSync(path, new Uint8Array(size));
  return path;
}

/** A whole file. */
export function fileBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

/** A buffer filled with a pattern that differs per `seed`. */
export function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed * 31 + i * 7 + (i >> 9)) & 0xff;
  return out;
}

/**
 * The first offset where two byte arrays differ (-1 when equal). Tests compare large buffers
 * with this: vitest's `toEqual` walks them element by element, which takes seconds per MiB.
 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
