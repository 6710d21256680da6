/**
 * `@lwlog/codec`: the dm-log-writes format core. Everything in lwlog that reads or lays
 * out log bytes goes through this package. `@lwlog/codec/core` is the same without the
 * zod schemas (and without loading zod).
 */
export * from "./core.js";
export { U64Json, LogSuperJsonSchema, LogEntryJsonSchema, type LogSuperJson, type LogEntryJson } from "./json.js";
