import { closeSync, constants, copyFileSync, chmodSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { native } from "@lwlog/native";
import { FileBackend, NbdServer, OverlayBackend } from "@lwlog/nbd";
import { ScratchError, ScratchErrorCodes } from "./errors.js";
import { FuseFile } from "./fuse.js";
import { releaseLoops } from "./loop.js";

/**
 * How a view is made:
 * - `reflink`: a clone of the base file (FICLONE), on a file system that shares extents (xfs
 *   with reflink, btrfs): O(extents) to make, each later write copies only what it touches.
 * - `overlay`: the base read through lwlog's NBD server with a copy-on-write overlay in a
 *   sparse file, shown to other programs as a file by nbdfuse: O(1) to make (a mount).
 * - `copy`: a sparse copy of the base's allocated ranges (SEEK_DATA/SEEK_HOLE and
 *   copy_file_range): O(allocated bytes), the last resort.
 */
export type ViewStrategy = "reflink" | "overlay" | "copy";

/** What `expose` makes reachable by other processes. */
export interface ExposeOptions {
  /** A file path other programs can open, `losetup` and mount (default true). */
  image?: boolean;
  /** An NBD URI served by lwlog (`nbd+unix:///view?socket=…`), for NBD clients (default false). */
  nbd?: boolean;
}

/** Where other processes find an exposed view. */
export interface ExposedView {
  image?: string;
  nbd?: string;
}

/**
 * A copy-on-write view of a base image: the base's bytes, then the view's own writes. The
 * base is never written through a view, and stays reusable after `dispose`.
 *
 * A view is first written by its owner (`write`, `zero`: a crash state's extra writes, the
 * same shape as `ImageTarget`'s), then `expose`d to other programs (a checker may then
 * change it at will: mount it, recover a journal, repair it), then disposed. Writes after
 * `expose` are refused, as a program may be caching what it read.
 *
 * The base must not change while a view of it is alive: an `overlay` view reads the base
 * as it is at each read. Dispose every view before the replay advances its base.
 */
export interface ScratchView {
  readonly strategy: ViewStrategy;
  /** The base image's path. */
  readonly base: string;
  /** The view's size in bytes (bytes past the base's end read as zeros). */
  readonly size: number;
  /** Writes `data` at byte `offset` of the view. */
  write(offset: number, data: Uint8Array): void;
  /** Makes `[offset, offset + length)` read as zeros. */
  zero(offset: number, length: number): void;
  /** Fills `out` with the view's bytes at `offset`. */
  readInto(out: Uint8Array, offset: number): void;
  /**
   * Makes the view reachable as a file and/or an NBD URI; may be called again to add one.
   * An `overlay` view's file and NBD export are served by this process: read them from here
   * only asynchronously (a synchronous read, or a `spawnSync` of a program that reads them,
   * waits on the event loop that must answer it: a deadlock). Child processes are fine.
   */
  expose(options?: ExposeOptions): Promise<ExposedView>;
  /** What `expose` made reachable so far. */
  readonly exposed: ExposedView;
  /**
   * Removes the view: every loop device over its file is unmounted and detached (even one a
   * checker left), the FUSE mount and NBD server are stopped, its files are deleted.
   * Idempotent; never leaves a process or mount behind, even when a step fails (the first
   * failure is thrown after every step has been tried).
   */
  dispose(): Promise<void>;
}

const ZERO_CHUNK = new Uint8Array(1 << 20);
/** Longest Unix socket path (sun_path is 108 bytes with its NUL), with room to spare. */
const MAX_SOCKET_PATH = 100;

/** What every strategy shares: the view's directory, its NBD server, and the cleanup. */
abstract class ViewBase implements ScratchView {
  abstract readonly strategy: ViewStrategy;
  readonly base: string;
  readonly size: number;
  readonly exposed: ExposedView = {};
  protected readonly dir: string;
  protected server: NbdServer | undefined;
  private socketDir: string | undefined;
  private disposed = false;
  private onDispose: (() => void) | undefined;

  constructor(base: string, size: number, dir: string, onDispose?: () => void) {
    this.base = base;
    this.size = size;
    this.dir = dir;
    this.onDispose = onDispose;
  }

  abstract write(offset: number, data: Uint8Array): void;
  abstract zero(offset: number, length: number): void;
  abstract readInto(out: Uint8Array, offset: number): void;
  protected abstract backendForNbd(): Promise<import("@lwlog/nbd").NbdBackend>;
  protected abstract exposeImage(): Promise<string>;
  /** Stops what `exposeImage` started (before the NBD server closes). */
  protected async unexpose(): Promise<void> {}
  /** Closes the view's files (after the NBD server has closed). */
  protected abstract closeResources(): Promise<void>;

  async expose(options: ExposeOptions = {}): Promise<ExposedView> {
    this.checkOpen();
    if ((options.nbd ?? false) && this.exposed.nbd === undefined) this.exposed.nbd = (await this.serve()).uri;
    if ((options.image ?? true) && this.exposed.image === undefined) this.exposed.image = await this.exposeImage();
    return { ...this.exposed };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.onDispose?.();
    let first: unknown;
    const attempt = async (step: () => Promise<void> | void) => {
      try {
        await step();
      } catch (err) {
        first ??= err;
      }
    };
    if (this.exposed.image !== undefined) {
      const image = this.exposed.image;
      await attempt(() => releaseLoops(image));
    }
    await attempt(() => this.unexpose());
    if (this.server !== undefined) {
      const server = this.server;
      await attempt(() => server.close({ timeoutMs: 5000 }));
    }
    await attempt(() => this.closeResources());
    await attempt(() => rmSync(this.dir, { recursive: true, force: true }));
    if (this.socketDir !== undefined) {
      const socketDir = this.socketDir;
      await attempt(() => rmSync(socketDir, { recursive: true, force: true }));
    }
    if (first !== undefined) {
      if (first instanceof ScratchError) throw first;
      throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `cannot remove the view of ${this.base}: ${first instanceof Error ? first.message : String(first)}`, { cause: first });
    }
  }

  /** Starts the view's NBD server (once) on a Unix socket only this user can reach. */
  protected async serve(): Promise<NbdServer> {
    if (this.server !== undefined) return this.server;
    let socket = join(this.dir, "nbd.sock");
    if (socket.length > MAX_SOCKET_PATH) {
      this.socketDir = mkdtempSync(join(tmpdir(), "lwlog-nbd-"));
      socket = join(this.socketDir, "s");
    }
    const server = new NbdServer({ backend: await this.backendForNbd(), name: "view", listen: { socket }, multiClient: "share" });
    try {
      await server.listen();
    } catch (err) {
      throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `cannot serve the view over NBD: ${err instanceof Error ? err.message : String(err)}`, { file: socket, cause: err });
    }
    this.server = server;
    return server;
  }

  protected checkOpen(): void {
    if (this.disposed) throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `the view of ${this.base} has been disposed`);
  }

  protected checkWritable(): void {
    this.checkOpen();
    if (this.exposed.image !== undefined || this.exposed.nbd !== undefined) {
      throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `the view of ${this.base} has been exposed: write it before expose()`);
    }
  }
}

/** A view that is a file of its own in the scratch directory: a clone or a sparse copy. */
export class FileView extends ViewBase {
  readonly strategy: "reflink" | "copy";
  readonly path: string;
  private readonly fd: number;
  private backend: FileBackend | undefined;

  private constructor(strategy: "reflink" | "copy", base: string, size: number, dir: string, path: string, fd: number, onDispose?: () => void) {
    super(base, size, dir, onDispose);
    this.strategy = strategy;
    this.path = path;
    this.fd = fd;
  }

  /**
   * Makes `dir/image` a view of `base`: a clone (`reflink`, which fails with the kernel's
   * EOPNOTSUPP/EXDEV/EINVAL when the file system cannot share extents) or a sparse copy.
   * `dir` must exist and be empty; it is the view's and removed by `dispose`.
   */
  static create(strategy: "reflink" | "copy", base: string, dir: string, size: number, onDispose?: () => void): FileView {
    const path = join(dir, "image");
    if (strategy === "reflink") {
      copyFileSync(base, path, constants.COPYFILE_FICLONE_FORCE);
      chmodSync(path, 0o600);
    }
    const fd = openSync(path, strategy === "reflink" ? "r+" : "wx+", 0o600);
    try {
      if (strategy === "copy") sparseCopy(base, fd);
      if (fstatSync(fd).size !== size) ftruncateSync(fd, size);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new FileView(strategy, base, size, dir, path, fd, onDispose);
  }

  write(offset: number, data: Uint8Array): void {
    this.checkWritable();
    checkRange(offset, data.length, this.size, this.base);
    for (let done = 0; done < data.length; ) done += writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  zero(offset: number, length: number): void {
    this.checkWritable();
    checkRange(offset, length, this.size, this.base);
    if (length === 0) return;
    if (native.punchHole(this.fd, offset, length) || native.zeroRange(this.fd, offset, length)) return;
    for (let done = 0; done < length; ) {
      const n = Math.min(ZERO_CHUNK.length, length - done);
      this.write(offset + done, ZERO_CHUNK.subarray(0, n));
      done += n;
    }
  }

  readInto(out: Uint8Array, offset: number): void {
    this.checkOpen();
    checkRange(offset, out.length, this.size, this.base);
    readFully(this.fd, out, offset);
  }

  protected async backendForNbd(): Promise<FileBackend> {
    this.backend ??= await FileBackend.open(this.path);
    return this.backend;
  }

  protected async exposeImage(): Promise<string> {
    return this.path;
  }

  protected async closeResources(): Promise<void> {
    try {
      await this.backend?.close();
    } finally {
      closeSync(this.fd);
    }
  }
}

/** A view served by lwlog's NBD server over the base, with a copy-on-write overlay. */
export class OverlayView extends ViewBase {
  readonly strategy = "overlay" as const;
  private readonly overlay: OverlayBackend;
  private fuse: FuseFile | undefined;

  private constructor(base: string, size: number, dir: string, overlay: OverlayBackend, onDispose?: () => void) {
    super(base, size, dir, onDispose);
    this.overlay = overlay;
  }

  /** Makes an overlay of `base` whose store lives in `dir` (which the view owns). */
  static create(base: string, dir: string, size: number, onDispose?: () => void): OverlayView {
    const overlay = OverlayBackend.open(base, { store: join(dir, "overlay"), size });
    return new OverlayView(base, size, dir, overlay, onDispose);
  }

  write(offset: number, data: Uint8Array): void {
    this.checkWritable();
    this.overlay.writeSync(offset, data);
  }

  zero(offset: number, length: number): void {
    this.checkWritable();
    this.overlay.zeroSync(offset, length);
  }

  readInto(out: Uint8Array, offset: number): void {
    this.checkOpen();
    this.overlay.readInto(out, offset);
  }

  /** Bytes the overlay holds: what the view's owner and its checker wrote, zeroed or trimmed. */
  get overlaid(): number {
    return this.overlay.overlaid;
  }

  protected async backendForNbd(): Promise<OverlayBackend> {
    return this.overlay;
  }

  protected async exposeImage(): Promise<string> {
    const server = await this.serve();
    const address = server.address as { socket: string };
    this.fuse = await FuseFile.mount(join(this.dir, "mnt"), address.socket);
    return this.fuse.path;
  }

  protected override async unexpose(): Promise<void> {
    await this.fuse?.unmount();
  }

  protected async closeResources(): Promise<void> {
    this.overlay.close();
  }
}

/**
 * Copies the allocated ranges of `base` to `fd` (a new, empty file): holes stay holes.
 * SEEK_DATA/SEEK_HOLE find the ranges (without the addon, or on a block device, the whole
 * base is data), copy_file_range moves them.
 */
function sparseCopy(base: string, fd: number): void {
  const src = openSync(base, "r");
  try {
    const st = fstatSync(src);
    const size = st.isBlockDevice() ? native.blockDeviceSize(src) : st.size;
    ftruncateSync(fd, size);
    for (let at = native.seekData(src, 0); at >= 0 && at < size; ) {
      const end = Math.min(native.seekHole(src, at), size);
      if (end <= at) break;
      const copied = native.copyFileRange(src, at, fd, at, end - at);
      if (copied < end - at) throw new Error(`${base} shrank while it was copied (at byte ${at + copied})`);
      at = end >= size ? -1 : native.seekData(src, end);
    }
  } finally {
    closeSync(src);
  }
}

function readFully(fd: number, out: Uint8Array, offset: number): void {
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, offset + done);
    if (n === 0) {
      out.fill(0, done);
      return;
    }
    done += n;
  }
}

function checkRange(offset: number, length: number, size: number, base: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`bytes ${offset}+${length} are outside the ${size}-byte view of ${base}`);
  }
}
