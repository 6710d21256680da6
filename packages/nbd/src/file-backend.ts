import { open, type FileHandle } from "node:fs/promises";
import { readFileSync, type Stats } from "node:fs";
import type { NbdBackend } from "./backend.js";

/** Options of `FileBackend.open`. */
export interface FileBackendOptions {
  /** Open read-only and export with NBD_FLAG_READ_ONLY. */
  readOnly?: boolean;
  /** Block sizes to advertise; default minimum 1, preferred 4096, maximum 32 MiB. */
  blockSizes?: { minimum: number; preferred: number; maximum: number };
}

const ZEROES = new Uint8Array(1024 * 1024);

/**
 * An `NbdBackend` over a regular file or a block device: reads and writes go to the file
 * at the same offsets; FUA and flush are `fdatasync`. Trim is accepted as the hint the
 * spec allows it to be and leaves the data as it is (Node has no hole punching);
 * write-zeroes writes zeroes. Safe for several connections (one file descriptor).
 */
export class FileBackend implements NbdBackend {
  readonly size: number;
  readonly readOnly: boolean;
  readonly blockSizes: { minimum: number; preferred: number; maximum: number } | undefined;
  readonly supports = { flush: true, fua: true, trim: true, writeZeroes: true, multiConn: true, fastZero: false };
  readonly path: string;
  private readonly file: FileHandle;

  private constructor(path: string, file: FileHandle, size: number, options: FileBackendOptions) {
    this.path = path;
    this.file = file;
    this.size = size;
    this.readOnly = options.readOnly ?? false;
    this.blockSizes = options.blockSizes;
  }

  /** Opens an existing file or block device; its current size is the export size. */
  static async open(path: string, options: FileBackendOptions = {}): Promise<FileBackend> {
    const file = await open(path, options.readOnly ? "r" : "r+");
    try {
      return new FileBackend(path, file, sizeOfStat(await file.stat(), path), options);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** Creates a new file of `size` zero bytes (fails if `path` exists) and opens it. */
  static async create(path: string, size: number, options: Omit<FileBackendOptions, "readOnly"> = {}): Promise<FileBackend> {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
    const file = await open(path, "wx+");
    try {
      await file.truncate(size);
      return new FileBackend(path, file, size, options);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.file.read(out, done, length - done, offset + done);
      if (bytesRead === 0) break; // past the end of a file shrunk behind our back: zeroes
      done += bytesRead;
    }
    return out;
  }

  async write(offset: number, data: Uint8Array, options: { fua: boolean }): Promise<void> {
    await this.writeAll(offset, data);
    if (options.fua) await this.file.datasync();
  }

  async flush(): Promise<void> {
    await this.file.datasync();
  }

  async trim(_offset: number, _length: number, options: { fua: boolean }): Promise<void> {
    if (options.fua) await this.file.datasync();
  }

  async writeZeroes(offset: number, length: number, options: { fua: boolean; noHole: boolean }): Promise<void> {
    let done = 0;
    while (done < length) {
      const n = Math.min(ZEROES.length, length - done);
      await this.writeAll(offset + done, ZEROES.subarray(0, n));
      done += n;
    }
    if (options.fua) await this.file.datasync();
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.file.close();
  }

  private async writeAll(offset: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.file.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }
}

/** Size of a regular file, or of a block device (from sysfs: fstat says 0 for those). */
export function sizeOfStat(stat: Stats, path: string): number {
  if (stat.isBlockDevice()) {
    const major = Math.floor(stat.rdev / 256) & 0xfff;
    const minor = (stat.rdev & 0xff) | ((stat.rdev >> 12) & 0xfff00);
    return Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, "utf8").trim()) * 512;
  }
  if (!stat.isFile()) throw new Error(`${path}: not a regular file or block device`);
  return stat.size;
}
