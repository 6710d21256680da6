/**
 * `@lwlog/scratch`: copy-on-write scratch views of disk images, so that a checker may mount,
 * recover and repair a state while the image it came from stays untouched (`ScratchSpace`,
 * `ScratchView`), and the loop devices, mounts and processes that judges of such views use.
 */
export { ScratchSpace, DEFAULT_COPY_LIMIT, type ScratchOptions, type StrategyChoice } from "./scratch.js";
export { FileView, OverlayView, type ScratchView, type ViewStrategy, type ExposeOptions, type ExposedView } from "./views.js";
export { FuseFile, fuseSupport } from "./fuse.js";
export { attachLoop, detachLoop, mountFs, unmountFs, loopDevicesOf, mountPointsOf, releaseLoops, mountSupport, requireMountSupport } from "./loop.js";
export { runProcess, findProgram, toolEnv, describeExit, type ProcessOptions, type ProcessResult } from "./process.js";
export { ScratchError, ScratchErrorCodes } from "./errors.js";
