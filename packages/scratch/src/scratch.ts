import { closeSync, constants, copyFileSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, type Stats } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { native } from "@lwlog/native";
import { ScratchError, ScratchErrorCodes } from "./errors.js";
import { fuseSupport } from "./fuse.js";
import { FileView, OverlayView, type ScratchView, type ViewStrategy } from "./views.js";

/** Options of `ScratchSpace.open`. */
export interface ScratchOptions {
  /**
   * The directory in which the scratch space makes its private directory. Default: beside
   * `near` when that file system can clone files (a reflink needs the same file system),
   * else the system's temporary directory.
   */
  dir?: string;
  /** A base image views will be made of: its file system is probed for reflink first. */
  near?: string;
  /** `auto` (default) chooses per view; a strategy named here is used for every view or refused at `open`. */
  strategy?: ViewStrategy | "auto";
  /**
   * With `auto`, where no reflink is possible: a base with at most this many allocated bytes
   * is copied, a larger one is overlaid (when FUSE is there). Default `DEFAULT_COPY_LIMIT`.
   */
  copyLimit?: number;
}

/**
 * With `auto` and no reflink, bases with at most this many allocated bytes are copied rather
 * than overlaid. Measured on a busy 2-core VM (bench/src/scenarios/views.ts): an overlay view
 * costs a FUSE mount and unmount, 0.15–0.5 s whatever the base; a copy about 2.7 ms per MiB
 * allocated (0.15 s for 32 MiB, 0.63 s for 226 MiB). They cross near 130 MiB, and an overlay
 * also sends every read of the checker through FUSE and lwlog's NBD server.
 */
export const DEFAULT_COPY_LIMIT = 128 << 20;

/** Why a view of a base gets the strategy it gets (see `ScratchSpace.choose`). */
export interface StrategyChoice {
  strategy: ViewStrategy;
  reason: string;
}

/**
 * A private directory where copy-on-write views of base images are made (see
 * `ScratchView`), and where a base the caller keeps advancing can live (`path`) so that
 * reflink views of it are possible.
 *
 * Invariants: `dir` exists from `open` to `close` and holds only what this space made; every
 * view made and not yet disposed is in `live`; `close` disposes them all and removes `dir`.
 * Whether the directory's file system can clone (`canClone`) and whether nbdfuse can show a
 * view as a file (`canFuse`) are probed once, at `open`.
 */
export class ScratchSpace {
  readonly dir: string;
  readonly canClone: boolean;
  readonly canFuse: boolean;
  readonly strategy: ViewStrategy | "auto";
  readonly copyLimit: number;
  private readonly dev: number;
  private readonly live = new Set<ScratchView>();
  private next = 0;
  private closed = false;

  private constructor(dir: string, canClone: boolean, canFuse: boolean, strategy: ViewStrategy | "auto", copyLimit: number) {
    this.dir = dir;
    this.canClone = canClone;
    this.canFuse = canFuse;
    this.strategy = strategy;
    this.copyLimit = copyLimit;
    this.dev = statSync(dir).dev;
  }

  /**
   * Makes the private directory and probes it. A strategy named in `options` that cannot
   * work here is refused now (`LWLOG_VIEW_UNSUPPORTED`, saying what would make it work).
   */
  static async open(options: ScratchOptions = {}): Promise<ScratchSpace> {
    const strategy = options.strategy ?? "auto";
    const copyLimit = options.copyLimit ?? DEFAULT_COPY_LIMIT;
    let dir: string | undefined;
    let canClone = false;
    if (options.dir === undefined && options.near !== undefined && strategy !== "overlay" && strategy !== "copy" && maybeFile(options.near)) {
      // Beside the base, in a hidden directory: kept only when that file system can clone.
      const near = resolve(options.near);
      try {
        const candidate = mkdtempSync(join(dirname(near), `.${basename(near)}.lwlog-views-`));
        if (probeClone(candidate)) {
          dir = candidate;
          canClone = true;
        } else rmSync(candidate, { recursive: true, force: true });
      } catch {
        // the directory is not writable: views go to the temporary directory
      }
    }
    if (dir === undefined) {
      const parent = options.dir ?? tmpdir();
      try {
        dir = mkdtempSync(join(parent, "lwlog-views-"));
      } catch (err) {
        throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `cannot make a scratch directory in ${parent}: ${err instanceof Error ? err.message : String(err)}`, { file: parent, cause: err });
      }
      canClone = probeClone(dir);
    }
    const fuse = fuseSupport();
    const space = new ScratchSpace(dir, canClone, fuse.ok, strategy, copyLimit);
    if (strategy === "reflink" && !canClone) {
      await space.close();
      const where = options.dir ?? (options.near !== undefined ? dirname(resolve(options.near)) : tmpdir());
      throw new ScratchError(
        ScratchErrorCodes.UNSUPPORTED,
        `the file system of ${where} cannot clone files (FICLONE): reflink views need xfs (mkfs.xfs -m reflink=1) or btrfs; give a scratch directory there, or another view strategy (overlay, copy)`,
      );
    }
    if (strategy === "reflink" && options.near !== undefined && sameDevice(dirname(resolve(options.near)), dir) === false) {
      await space.close();
      throw new ScratchError(
        ScratchErrorCodes.UNSUPPORTED,
        `cannot clone ${options.near} into ${options.dir ?? dir}: a reflink needs the scratch directory on the same file system; give one there, or another view strategy (overlay, copy)`,
      );
    }
    if (strategy === "overlay" && !fuse.ok) {
      await space.close();
      throw new ScratchError(ScratchErrorCodes.UNSUPPORTED, `overlay views cannot be shown as files: ${fuse.reason}; use another view strategy (reflink, copy)`);
    }
    return space;
  }

  /** A path inside the scratch space, for a base image views will be made of (reflink needs it here). */
  path(name: string): string {
    if (name.includes("/") || name === "" || name === "." || name === "..") throw new RangeError(`not a plain file name: ${JSON.stringify(name)}`);
    return join(this.dir, name);
  }

  /** The strategy a view of `base` gets, and why. */
  choose(base: string): StrategyChoice {
    return this.pick(base, this.canClone);
  }

  private pick(base: string, clone: boolean): StrategyChoice {
    const st = statBase(base);
    const sameFs = st.isFile() && st.dev === this.dev;
    if (this.strategy === "reflink") {
      if (!sameFs) throw new ScratchError(ScratchErrorCodes.UNSUPPORTED, `cannot clone ${base}: reflink views need the base on the scratch directory's file system (${this.dir})`, { file: base });
      return { strategy: "reflink", reason: "asked for" };
    }
    if (this.strategy !== "auto") return { strategy: this.strategy, reason: "asked for" };
    if (clone && sameFs) return { strategy: "reflink", reason: "the base's file system can clone files" };
    const allocated = st.isFile() ? st.blocks * 512 : Number.POSITIVE_INFINITY;
    if (allocated <= this.copyLimit) return { strategy: "copy", reason: `no reflink here, and the base has only ${allocated} bytes allocated (copy limit ${this.copyLimit})` };
    if (this.canFuse) return { strategy: "overlay", reason: st.isFile() ? `no reflink here, and the base has ${allocated} bytes allocated (copy limit ${this.copyLimit})` : "the base is a block device" };
    return { strategy: "copy", reason: "no reflink here and no FUSE for an overlay" };
  }

  /**
   * Makes a view of `base` (a regular file, or a block device for `overlay` and `copy`):
   * `size` defaults to the base's size (a larger view reads zeros past the base's end).
   */
  async view(base: string, options: { size?: number; strategy?: ViewStrategy } = {}): Promise<ScratchView> {
    if (this.closed) throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `the scratch space ${this.dir} is closed`);
    const strategy = options.strategy ?? this.choose(base).strategy;
    if (strategy === "reflink" && options.strategy === undefined && this.strategy === "auto") {
      // The probe said this file system clones; should this base still refuse (another
      // mount of it, a file with other attributes), auto goes on without reflink.
      try {
        return await this.make(base, "reflink", options.size);
      } catch {
        return this.make(base, this.pick(base, false).strategy, options.size);
      }
    }
    return this.make(base, strategy, options.size);
  }

  private async make(base: string, strategy: ViewStrategy, wanted: number | undefined): Promise<ScratchView> {
    const st = statBase(base);
    const size = wanted ?? (st.isBlockDevice() ? blockSize(base) : st.size);
    const dir = join(this.dir, `view-${++this.next}`);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `cannot make ${dir}: ${err instanceof Error ? err.message : String(err)}`, { file: dir, cause: err });
    }
    let view: ScratchView;
    const forget = () => this.live.delete(view);
    try {
      view = strategy === "overlay" ? OverlayView.create(base, dir, size, forget) : FileView.create(strategy, base, dir, size, forget);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      const msg = err instanceof Error ? err.message : String(err);
      throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `cannot make a ${strategy} view of ${base} in ${this.dir}: ${msg}`, { file: base, cause: err });
    }
    this.live.add(view);
    return view;
  }

  /** Views made and not yet disposed. */
  get liveViews(): number {
    return this.live.size;
  }

  /** Disposes every live view and removes the directory (idempotent). The first failure is thrown after everything was tried. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let first: unknown;
    for (const view of [...this.live]) {
      try {
        await view.dispose();
      } catch (err) {
        first ??= err;
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    if (first !== undefined) throw first;
  }
}

/** Whether `dir`'s file system clones files (FICLONE): two small files, cloned and removed. */
function probeClone(dir: string): boolean {
  const a = join(dir, ".probe-a");
  const b = join(dir, ".probe-b");
  try {
    writeFileSync(a, new Uint8Array(4096).fill(1));
    copyFileSync(a, b, constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(a, { force: true });
    rmSync(b, { force: true });
  }
}

/** Whether two paths are on one file system (undefined when one cannot be looked at). */
function sameDevice(a: string, b: string): boolean | undefined {
  try {
    return statSync(a).dev === statSync(b).dev;
  } catch {
    return undefined;
  }
}

/** False when `path` exists and is not a regular file (a block device's directory is /dev: no views there). */
function maybeFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return true; // not made yet: it will be a file
  }
}

function statBase(base: string): Stats {
  let st: Stats;
  try {
    st = statSync(base);
  } catch (err) {
    throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, `cannot make a view of it: ${err instanceof Error ? err.message : String(err)}`, { file: base, cause: err });
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new ScratchError(ScratchErrorCodes.VIEW_FAILED, "is neither a regular file nor a block device: no view can be made of it", { file: base });
  return st;
}

function blockSize(path: string): number {
  const fd = openSync(path, "r");
  try {
    return native.blockDeviceSize(fd);
  } finally {
    closeSync(fd);
  }
}
