import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { NativeRangeError, toNativeError } from "./errors.js";
import { mapCopy, releaseCopy } from "./fallback.js";
import { MAX_MAP_LENGTH, checkCopy, checkFd, checkRange, checkRanges, type CopyState, type LinuxIo, type LoopBacking } from "./io.js";

/** Where `npm run build` (node-gyp) puts the addon, from `src/` and from `dist/` alike. */
export const addonPath = fileURLToPath(new URL("../build/Release/lwlog_native.node", import.meta.url));

/** The functions `csrc/lwlog_native.c` exports (arguments checked again there). */
interface Addon {
  pageSize: number;
  map(fd: number, offset: number, length: number, advice: number): Uint8Array;
  unmap(buffer: ArrayBufferLike): boolean;
  copyFileRange(fdIn: number, offsetIn: number, fdOut: number, offsetOut: number, length: number, state?: Int32Array): number;
  copyRanges(fdIn: number, fdOut: number, ranges: Float64Array, count: number, state: Int32Array): number;
  useIoUring(enable: boolean): boolean;
  punchHole(fd: number, offset: number, length: number): boolean;
  zeroRange(fd: number, offset: number, length: number): boolean;
  blockZeroOut(fd: number, offset: number, length: number): boolean;
  blockDiscard(fd: number, offset: number, length: number): boolean;
  blockDeviceSize(fd: number): number;
  loopBacking(fd: number): LoopBacking | null;
  xxh64Into(data: Uint8Array, seedLo: number, seedHi: number, out: Uint32Array, index: number): void;
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
}

const FUNCTIONS = ["map", "unmap", "copyFileRange", "copyRanges", "useIoUring", "punchHole", "zeroRange", "blockZeroOut", "blockDiscard", "blockDeviceSize", "loopBacking", "xxh64Into", "seekData", "seekHole"] as const;
/** madvise(2) MADV_SEQUENTIAL: read ahead further, and the pages behind may go sooner. */
const MADV_SEQUENTIAL = 2;

/**
 * Loads the addon at `path` (default `addonPath`) and wraps it as a `LinuxIo`. With
 * `mmap: false`, `mapRange` reads copies instead of mapping; with `ioUring: false`,
 * `copyRanges` does its reads and writes one system call each instead of through io_uring. Throws when it cannot be
 * loaded (not built, not Linux, a broken build): `native` catches that and falls back.
 */
export function openAddon(options: { path?: string; mmap?: boolean; ioUring?: boolean } = {}): LinuxIo {
  if (process.platform !== "linux") throw new Error(`the addon is Linux-only (this is ${process.platform})`);
  const path = options.path ?? addonPath;
  if (!existsSync(path)) throw new Error(`the addon is not built (no ${path}: \`npm run build\` in packages/native compiles it)`);
  const addon = createRequire(import.meta.url)(path) as Addon;
  const missing = FUNCTIONS.filter((f) => typeof addon[f] !== "function");
  if (missing.length > 0 || !Number.isInteger(addon.pageSize)) throw new Error(`${path} is not lwlog's addon (no ${missing.join(", ") || "pageSize"})`);
  const mmap = options.mmap ?? true;
  const pageSize = addon.pageSize;
  // One addon (and ring) per process: each LinuxIo sets its choice before its copies.
  const ioUring = options.ioUring ?? true;
  const ringChoice = () => {
    if (ringChosen.get(addon) !== ioUring) {
      addon.useIoUring(ioUring);
      ringChosen.set(addon, ioUring);
    }
  };
  return {
    available: true,
    reason: undefined,
    maps: mmap,
    pageSize,
    mapRange: mmap
      ? (fd, offset, length) => {
          checkRange("mapRange", fd, offset, length);
          if (length > MAX_MAP_LENGTH) throw new NativeRangeError(`mapRange: length ${length} is more than ${MAX_MAP_LENGTH} (map windows, not whole files)`);
          if (length === 0) return new Uint8Array(0);
          const lead = offset % pageSize;
          try {
            const whole = addon.map(fd, offset - lead, length + lead, MADV_SEQUENTIAL);
            return lead === 0 ? whole : whole.subarray(lead);
          } catch (err) {
            throw toNativeError(err, "mapRange");
          }
        }
      : mapCopy,
    unmap: mmap
      ? (view) => {
          if (!(view instanceof Uint8Array)) throw new NativeRangeError("unmap: not a Uint8Array");
          if (view.byteLength === 0) return false; // empty, or already released (detached)
          try {
            return addon.unmap(view.buffer);
          } catch (err) {
            throw toNativeError(err, "unmap");
          }
        }
      : releaseCopy,
    copyFileRange(fdIn, offsetIn, fdOut, offsetOut, length, state) {
      checkCopy(fdIn, offsetIn, fdOut, offsetOut, length);
      if (length === 0) return 0;
      const flag = stateIn(state);
      try {
        return addon.copyFileRange(fdIn, offsetIn, fdOut, offsetOut, length, flag);
      } catch (err) {
        throw toNativeError(err, "copyFileRange");
      } finally {
        stateOut(state, flag);
      }
    },
    copyRanges(fdIn, fdOut, ranges, count, state) {
      checkRanges(fdIn, fdOut, ranges, count);
      const flag = stateIn(state) ?? noKernel;
      ringChoice();
      try {
        return addon.copyRanges(fdIn, fdOut, ranges, count, flag);
      } catch (err) {
        throw toNativeError(err, "copyRanges");
      } finally {
        stateOut(state, flag);
      }
    },
    punchHole: (fd, offset, length) => rangeCall(addon.punchHole, "punchHole", fd, offset, length),
    zeroRange: (fd, offset, length) => rangeCall(addon.zeroRange, "zeroRange", fd, offset, length),
    blockZeroOut: (fd, offset, length) => rangeCall(addon.blockZeroOut, "blockZeroOut", fd, offset, length),
    blockDiscard: (fd, offset, length) => rangeCall(addon.blockDiscard, "blockDiscard", fd, offset, length),
    blockDeviceSize(fd) {
      checkFd("blockDeviceSize", fd);
      try {
        return addon.blockDeviceSize(fd);
      } catch (err) {
        throw toNativeError(err, "blockDeviceSize");
      }
    },
    loopBacking(fd) {
      checkFd("loopBacking", fd);
      try {
        return addon.loopBacking(fd);
      } catch (err) {
        throw toNativeError(err, "loopBacking");
      }
    },
    seekData: (fd, offset) => seekCall(addon.seekData, "seekData", fd, offset),
    seekHole: (fd, offset) => seekCall(addon.seekHole, "seekHole", fd, offset),
    // Called once an entry by a diff: no wrapper (the addon checks its arguments and throws
    // a RangeError with code LWLOG_RANGE, which is what NativeRangeError would carry).
    xxh64Into: addon.xxh64Into,
  };
}

/** The io_uring choice last set on each loaded addon (see `openAddon`'s `ioUring`). */
const ringChosen = new WeakMap<Addon, boolean>();

/** The addon's form of a `CopyState`: one shared Int32Array (calls are synchronous). */
const kernelFlag = new Int32Array(1);
/** The flag passed when no state is given to `copyRanges`: the kernel is not asked. */
const noKernel = new Int32Array(1);

function stateIn(state: CopyState | undefined): Int32Array | undefined {
  if (state === undefined) return undefined;
  kernelFlag[0] = state.kernel ? 1 : 0;
  return kernelFlag;
}

function stateOut(state: CopyState | undefined, flag: Int32Array | undefined): void {
  if (state !== undefined && flag !== undefined) state.kernel = flag[0] !== 0;
}

function seekCall(fn: (fd: number, offset: number) => number, op: string, fd: number, offset: number): number {
  checkRange(op, fd, offset, 0);
  try {
    return fn(fd, offset);
  } catch (err) {
    throw toNativeError(err, op);
  }
}

function rangeCall(fn: (fd: number, offset: number, length: number) => boolean, op: string, fd: number, offset: number, length: number): boolean {
  checkRange(op, fd, offset, length);
  try {
    return fn(fd, offset, length);
  } catch (err) {
    throw toNativeError(err, op);
  }
}
