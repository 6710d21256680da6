/**
 * `@lwlog/judge`: is a crashed disk's state sound? `fsJudge` does what a kernel does when it
 * mounts the state (ext4 journal replay, xfs log recovery, btrfs log tree replay) and then
 * the file system's read-only check; `readFiles` says what files a recovered state holds
 * (for a data judge: did what fsync made durable survive?). Judges change the image they are
 * given: give them a scratch view (`@lwlog/scratch`).
 */
export { fsJudge, type FsChoice } from "./judge.js";
export { judgeExt4, requireExt4Tools, type Ext4Recovery } from "./ext4.js";
export { judgeKernelFs, requireKernelFsTools } from "./kernel-fs.js";
export { detectFileSystems, ext4HasErrors } from "./detect.js";
export { readFiles, FileReadError, FILE_CONTENT_LIMIT, type FileFacts } from "./files.js";
export { loopMount, kernelMessages, requireMount, type LoopMount } from "./mount.js";
export { JudgeUnavailableError, JudgeErrorCodes, type FsKind, type Judge, type JudgeTarget, type Verdict } from "./verdict.js";
