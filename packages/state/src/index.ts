/**
 * `@lwlog/state`: the state of a disk after some writes and discards, as a last-writer
 * interval map (which piece last wrote each byte), built exactly in O(n log n). Replay's
 * compaction, the diff of two disks and crash states all build on this one map.
 */
export { lastWriters, rangeAt, MAX_STATE_BYTE, type StateMap } from "./last-writers.js";
export { StateBuilder, MAP_BYTES_PER_PIECE, type StateBuilderOptions } from "./builder.js";
