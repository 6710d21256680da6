/**
 * Wire constants and message layouts of the NBD protocol (NetworkBlockDevice/nbd
 * doc/proto.md). Every field is big-endian. Names follow the spec without the `NBD_`
 * prefix where the object name already says it (`Option.GO` is `NBD_OPT_GO`).
 */

/** `NBDMAGIC`: first 8 bytes the server sends. */
export const INIT_MAGIC = 0x4e42444d41474943n;
/** `IHAVEOPT`: newstyle magic, and the prefix of every option the client sends. */
export const OPTION_MAGIC = 0x49484156454f5054n;
/** Magic of every option reply (fixed newstyle). */
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
/** `NBD_REQUEST_MAGIC`. */
export const REQUEST_MAGIC = 0x25609513;
/** `NBD_SIMPLE_REPLY_MAGIC`. */
export const SIMPLE_REPLY_MAGIC = 0x67446698;
/** `NBD_STRUCTURED_REPLY_MAGIC`. */
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server, 16 bits). */
export const HandshakeFlag = {
  FIXED_NEWSTYLE: 1 << 0,
  NO_ZEROES: 1 << 1,
} as const;

/** Client flags (32 bits). */
export const ClientFlag = {
  FIXED_NEWSTYLE: 1 << 0,
  NO_ZEROES: 1 << 1,
} as const;

/** Transmission flags (16 bits), sent with the export size. */
export const TransmissionFlag = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

/** Option types (`NBD_OPT_*`). */
export const Option = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

/** Option reply types (`NBD_REP_*`); errors have bit 31 set. */
export const Reply = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: 0x80000001,
  ERR_POLICY: 0x80000002,
  ERR_INVALID: 0x80000003,
  ERR_PLATFORM: 0x80000004,
  ERR_TLS_REQD: 0x80000005,
  ERR_UNKNOWN: 0x80000006,
  ERR_SHUTDOWN: 0x80000007,
  ERR_BLOCK_SIZE_REQD: 0x80000008,
  ERR_TOO_BIG: 0x80000009,
} as const;

/** Information types of `NBD_REP_INFO` (`NBD_INFO_*`). */
export const Info = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

/** Request types (`NBD_CMD_*`). */
export const Command = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
  RESIZE: 8,
} as const;

/** Command flags (`NBD_CMD_FLAG_*`). */
export const CommandFlag = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
} as const;

/** Structured reply chunk types (`NBD_REPLY_TYPE_*`). */
export const ChunkType = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
} as const;

/** Structured reply flag: the last chunk of a reply. */
export const REPLY_FLAG_DONE = 1;

/** The error values the spec allows on the wire (`NBD_E*`). */
export const ErrorCode = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** Name of an NBD error value. */
export type ErrnoName = keyof typeof ErrorCode;

/** Size of a request header (compact, non-extended). */
export const REQUEST_HEADER_SIZE = 28;
/** Size of an option header: magic, option, length. */
export const OPTION_HEADER_SIZE = 16;
/** The longest string the spec allows (export names, messages). */
export const MAX_STRING = 4096;

/** Printable name of a command type, for messages. */
export function commandName(type: number): string {
  for (const [name, value] of Object.entries(Command)) if (value === type) return `NBD_CMD_${name}`;
  return `command ${type}`;
}

/** Printable name of an option, for messages. */
export function optionName(option: number): string {
  for (const [name, value] of Object.entries(Option)) if (value === option) return `NBD_OPT_${name}`;
  return `option ${option}`;
}

/** Server greeting: NBDMAGIC, IHAVEOPT, handshake flags. */
export function encodeGreeting(handshakeFlags: number): Uint8Array {
  const out = new Uint8Array(18);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, INIT_MAGIC);
  v.setBigUint64(8, OPTION_MAGIC);
  v.setUint16(16, handshakeFlags);
  return out;
}

/** One option reply: magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, type: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(20 + data.length);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, OPTION_REPLY_MAGIC);
  v.setUint32(8, option);
  v.setUint32(12, type);
  v.setUint32(16, data.length);
  out.set(data, 20);
  return out;
}

/** Reply to `NBD_OPT_EXPORT_NAME`: size, transmission flags, and 124 zeroes unless NO_ZEROES. */
export function encodeExportNameReply(size: number, flags: number, noZeroes: boolean): Uint8Array {
  const out = new Uint8Array(noZeroes ? 10 : 134);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, BigInt(size));
  v.setUint16(8, flags);
  return out;
}

/** `NBD_INFO_EXPORT` payload: type, size, transmission flags. */
export function encodeInfoExport(size: number, flags: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  v.setUint16(0, Info.EXPORT);
  v.setBigUint64(2, BigInt(size));
  v.setUint16(10, flags);
  return out;
}

/** `NBD_INFO_BLOCK_SIZE` payload: type, minimum, preferred, maximum. */
export function encodeInfoBlockSize(minimum: number, preferred: number, maximum: number): Uint8Array {
  const out = new Uint8Array(14);
  const v = new DataView(out.buffer);
  v.setUint16(0, Info.BLOCK_SIZE);
  v.setUint32(2, minimum);
  v.setUint32(6, preferred);
  v.setUint32(10, maximum);
  return out;
}

/** `NBD_INFO_NAME` / `NBD_INFO_DESCRIPTION` payload: type then the string. */
export function encodeInfoString(type: number, text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(2 + bytes.length);
  new DataView(out.buffer).setUint16(0, type);
  out.set(bytes, 2);
  return out;
}

/** `NBD_REP_SERVER` payload: name length, name, then a human-readable description. */
export function encodeServerReply(name: string, description: string): Uint8Array {
  const n = new TextEncoder().encode(name);
  const d = new TextEncoder().encode(description);
  const out = new Uint8Array(4 + n.length + d.length);
  new DataView(out.buffer).setUint32(0, n.length);
  out.set(n, 4);
  out.set(d, 4 + n.length);
  return out;
}

/** A parsed request header. `offset` stays a bigint: a client may send any u64. */
export interface RequestHeader {
  flags: number;
  type: number;
  /** The client's opaque 64-bit handle, echoed in the reply. */
  handle: Uint8Array;
  offset: bigint;
  length: number;
}

/** Decodes a 28-byte request header, or undefined when the magic is wrong. */
export function decodeRequestHeader(bytes: Uint8Array): RequestHeader | undefined {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0) !== REQUEST_MAGIC) return undefined;
  return {
    flags: v.getUint16(4),
    type: v.getUint16(6),
    handle: bytes.slice(8, 16),
    offset: v.getBigUint64(16),
    length: v.getUint32(24),
  };
}

/** Simple reply header: magic, error, handle (the payload of a read follows). */
export function encodeSimpleReply(error: number, handle: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setUint32(0, SIMPLE_REPLY_MAGIC);
  v.setUint32(4, error);
  out.set(handle, 8);
  return out;
}

/** Structured reply chunk header: magic, flags, type, handle, payload length. */
export function encodeChunkHeader(flags: number, type: number, handle: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(20);
  const v = new DataView(out.buffer);
  v.setUint32(0, STRUCTURED_REPLY_MAGIC);
  v.setUint16(4, flags);
  v.setUint16(6, type);
  out.set(handle, 8);
  v.setUint32(16, length);
  return out;
}

/** Header plus the 8-byte offset of an `NBD_REPLY_TYPE_OFFSET_DATA` chunk; the data follows. */
export function encodeOffsetDataHeader(flags: number, handle: Uint8Array, offset: number, dataLength: number): Uint8Array {
  const out = new Uint8Array(28);
  out.set(encodeChunkHeader(flags, ChunkType.OFFSET_DATA, handle, 8 + dataLength), 0);
  new DataView(out.buffer).setBigUint64(20, BigInt(offset));
  return out;
}

/** A whole `NBD_REPLY_TYPE_ERROR` chunk with a message (cut to fit the spec's string limit). */
export function encodeErrorChunk(flags: number, handle: Uint8Array, error: number, message: string): Uint8Array {
  const text = truncateUtf8(message, MAX_STRING);
  const out = new Uint8Array(20 + 6 + text.length);
  out.set(encodeChunkHeader(flags, ChunkType.ERROR, handle, 6 + text.length), 0);
  const v = new DataView(out.buffer);
  v.setUint32(20, error);
  v.setUint16(24, text.length);
  out.set(text, 26);
  return out;
}

/** UTF-8 bytes of `text`, cut at a character boundary to at most `max` bytes. */
export function truncateUtf8(text: string, max: number): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.slice(0, end);
}
