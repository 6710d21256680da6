/**
 * `@lwlog/driver`: a logging block device. `LoggingDevice` is an image plus a dm-log-writes
 * log that records every change a client makes; `Recorder` serves it over NBD with a control
 * socket for marks and status (`lwlog record`, `lwlog mark`, `lwlog status`).
 */
export { LoggingDevice, zeroPieces, validMarkName, type LoggingDeviceOptions, type DeviceEvent, type DeviceStatus, type ZeroPiece } from "./device.js";
export { ImageFile } from "./image.js";
export { RangeLocks } from "./range-lock.js";
export { Recorder, END_MARK, NBD_PORT, type RecorderOptions, type RecorderStatus } from "./recorder.js";
export { ControlServer, controlRequest, claimSocketPath, ControlErrorCodes, type ControlRequest, type ControlReply, type ControlHandler } from "./control.js";
