import { close, fdatasync, fstat, open, read, write, writeSync, type Stats } from "node:fs";
import { ErrorCodes, LogIoError, ioError, sizeOf } from "@lwlog/codec/core";

/** Shared, never written to: the source of every run of zeros written to the image. */
const ZERO_CHUNK = Buffer.alloc(1 << 20);
/** Largest image write done synchronously (see `ImageFile.writeAt`). */
const SYNC_WRITE_MAX = 64 * 1024;
/** The unit in which an image file's existing zeros are left alone (a filesystem block). */
const ZERO_BLOCK = 4096;

function call<T>(fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/**
 * The backing image of a logging device: a regular file or a block device, opened for
 * reading and writing. Positional I/O only (`pread`/`pwrite` at checked `number` offsets),
 * through the callback API, which costs less per request than `FileHandle`.
 */
export class ImageFile {
  readonly path: string;
  readonly size: number;
  /** A regular file (not a block device). */
  readonly isFile: boolean;
  private readonly fd: number;
  private closed = false;

  private constructor(path: string, fd: number, size: number, isFile: boolean) {
    this.path = path;
    this.fd = fd;
    this.size = size;
    this.isFile = isFile;
  }

  /** Opens an existing image (file or block device) for reading and writing. */
  static async open(path: string): Promise<ImageFile> {
    let fd: number;
    try {
      fd = await call<number>((cb) => open(path, "r+", cb));
    } catch (err) {
      throw ioError(err, path, "open the image");
    }
    try {
      const stat = await call<Stats>((cb) => fstat(fd, cb));
      if (!stat.isFile() && !stat.isBlockDevice()) {
        throw new LogIoError(ErrorCodes.IO, "is neither a regular file nor a block device", { file: path });
      }
      return new ImageFile(path, fd, sizeOf(stat), stat.isFile());
    } catch (err) {
      await call<void>((cb) => close(fd, (e) => cb(e, undefined)));
      if (err instanceof LogIoError) throw err;
      throw ioError(err, path, "stat the image");
    }
  }

  /** Reads `target.length` bytes at `position` (short reads past the end are errors). */
  async readInto(target: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < target.length) {
      const n = await call<number>((cb) => read(this.fd, target, done, target.length - done, position + done, cb));
      if (n === 0) throw new LogIoError(ErrorCodes.IO, `short read at offset ${position + done}`, { file: this.path, offset: position + done });
      done += n;
    }
  }

  /**
   * Writes all of `data` at `position`. A small write (up to 64 KiB) is a synchronous `pwrite`:
   * it only copies into the page cache, which costs less than the thread-pool round trip of an
   * asynchronous one (about half the CPU per 4 KiB write, measured); larger ones go through the
   * thread pool so the event loop never copies megabytes.
   */
  async writeAt(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    if (data.length <= SYNC_WRITE_MAX) {
      while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, position + done);
      return;
    }
    while (done < data.length) {
      done += await call<number>((cb) => write(this.fd, data, done, data.length - done, position + done, cb));
    }
  }

  /**
   * Makes `length` bytes at `position` read back as zeros, 1 MiB at a time. In a regular file a
   * chunk that already reads as zeros (a hole, say) is left alone, so discarding or zeroing a
   * sparse image (mkfs discards the whole device) neither fills it in nor takes long.
   */
  async writeZeros(position: number, length: number): Promise<void> {
    const scratch = this.isFile ? new Uint8Array(Math.min(ZERO_CHUNK.length, length)) : undefined;
    for (let done = 0; done < length; done += ZERO_CHUNK.length) {
      const n = Math.min(ZERO_CHUNK.length, length - done);
      if (!scratch) {
        await this.writeAt(ZERO_CHUNK.subarray(0, n), position + done);
        continue;
      }
      const chunk = Buffer.from(scratch.buffer, scratch.byteOffset, n);
      await this.readInto(chunk, position + done);
      if (chunk.equals(ZERO_CHUNK.subarray(0, n))) continue;
      // Zero only the 4 KiB blocks that hold data, so the rest stays a hole.
      for (let at = 0; at < n; ) {
        const end = Math.min(at + ZERO_BLOCK, n);
        if (chunk.subarray(at, end).equals(ZERO_CHUNK.subarray(0, end - at))) {
          at = end;
          continue;
        }
        let runEnd = end;
        while (runEnd < n && !chunk.subarray(runEnd, Math.min(runEnd + ZERO_BLOCK, n)).equals(ZERO_CHUNK.subarray(0, Math.min(ZERO_BLOCK, n - runEnd)))) {
          runEnd = Math.min(runEnd + ZERO_BLOCK, n);
        }
        await this.writeAt(ZERO_CHUNK.subarray(0, runEnd - at), position + done + at);
        at = runEnd;
      }
    }
  }

  /** `fdatasync`: every write completed so far is durable. */
  async sync(): Promise<void> {
    await call<void>((cb) => fdatasync(this.fd, (e) => cb(e, undefined)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await call<void>((cb) => close(this.fd, (e) => cb(e, undefined)));
  }
}
