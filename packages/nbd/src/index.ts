export * from "./backend.js";
export * from "./server.js";
export { FileBackend, type FileBackendOptions } from "./file-backend.js";
export { OverlayBackend, type OverlayBackendOptions } from "./overlay-backend.js";
export { RangeMap } from "./range-map.js";
export type { NbdCloseInfo, NbdCloseReason, NbdConnectionInfo, NbdLogEvent } from "./connection.js";
export { RequestScheduler, type AccessKind } from "./scheduler.js";
export * as protocol from "./protocol.js";
