export * from "./backend.js";
export * from "./server.js";
export * from "./file-backend.js";
export type { NbdCloseInfo, NbdCloseReason, NbdConnectionInfo, NbdLogEvent } from "./connection.js";
export { RequestScheduler, type AccessKind } from "./scheduler.js";
export * as protocol from "./protocol.js";
