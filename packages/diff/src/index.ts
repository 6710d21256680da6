/**
 * `@lwlog/diff`: where two dm-log-writes logs part ways, and whether the disks they leave
 * are the same. Each entry is reduced to a signature (kind, byte offset and length, flags,
 * XXH64 of its data or mark name) while the log streams past; the two signature sequences
 * are aligned segment by segment between the marks both logs share (patience + Myers); the
 * disks are compared from last-writer interval maps, reading only the bytes that may differ.
 */
export { scanLog, scanLogs, sameEntry, differingFields, LogScan, KIND, KIND_CODES, type ScanMark, type ScanOptions, type ScanManyOptions } from "./scan.js";
export { alignRange, pairChanged, type Region, type Equal, type AlignOptions } from "./align.js";
export { pairMarks, type Anchor } from "./anchors.js";
export { epochOrder, isEpochBoundary } from "./epochs.js";
export { diffLogs, alignScans, LogDiff, type DiffOptions, type Segment, type Hunk, type Change } from "./diff.js";
export { scanState, diffStates, entriesUntil, type ScanState, type StateRange, type StateDiff, type StateDiffOptions } from "./state.js";
export { hashHex } from "./hash.js";
export { proveWithImages, compareFiles, type ImageProof, type ImageProofOptions } from "./images.js";
