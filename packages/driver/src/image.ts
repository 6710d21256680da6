import { close, fdatasync, fstat, open, read, write, type Stats } from "node:fs";
import { ErrorCodes, LogIoError, ioError, sizeOf } from "@lwlog/codec/core";

/** Shared, never written to: the source of every run of zeros written to the image. */
const ZERO_CHUNK = new Uint8Array(1 << 20);

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
  private readonly fd: number;
  private closed = false;

  private constructor(path: string, fd: number, size: number) {
    this.path = path;
    this.fd = fd;
    this.size = size;
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
      return new ImageFile(path, fd, sizeOf(stat));
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

  /** Writes all of `data` at `position`. */
  async writeAt(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      done += await call<number>((cb) => write(this.fd, data, done, data.length - done, position + done, cb));
    }
  }

  /** Writes `length` zero bytes at `position`, 1 MiB at a time, without allocating them. */
  async writeZeros(position: number, length: number): Promise<void> {
    for (let done = 0; done < length; done += ZERO_CHUNK.length) {
      await this.writeAt(ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, length - done)), position + done);
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
