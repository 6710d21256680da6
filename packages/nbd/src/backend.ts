/**
 * What an NBD export serves: the contract between the NBD protocol server (this package)
 * and whatever holds the data (a plain file, or lwlog's logging device in @lwlog/driver).
 * The server validates every request against `size` and the block sizes before calling
 * the backend, so a backend only ever sees in-range, well-formed requests.
 *
 * What the server guarantees a backend (see README "Ordering"):
 * - Never a zero-length read, write, trim or write-zeroes (those are answered without it);
 *   `offset + length <= size`; lengths within `blockSizes.maximum` for read and write (the
 *   commands with a payload); trim and write-zeroes may run up to the export size, so a
 *   backend handles them without a buffer of their length; aligned to `blockSizes.minimum`.
 * - Calls may run concurrently, but never two overlapping calls of which one modifies
 *   data (write, trim, write-zeroes): those run one after the other, in the order the
 *   requests arrived (across all clients when several are served).
 * - `flush` starts only after every modifying call that arrived before it has finished, and
 *   no modifying call that arrived after it starts until it has finished. Reads are not held.
 * - A request is answered only after its call has settled; the reply says what it resolved
 *   with or threw. Calls are never abandoned: even when the client goes away or the server
 *   closes, every call started runs to its end before `close()` resolves.
 * A backend must honour `fua` (data durable before the promise resolves) and make `flush`
 * cover every call that has resolved before it.
 */
export interface NbdBackend {
  /** Export size in bytes. */
  readonly size: number;
  /** Refuse writes (NBD_FLAG_READ_ONLY). */
  readonly readOnly?: boolean;
  /** Block size constraints advertised with NBD_INFO_BLOCK_SIZE. */
  readonly blockSizes?: { minimum: number; preferred: number; maximum: number };
  /** Which optional commands the backend implements (each advertised by a transmission flag). */
  readonly supports: {
    flush: boolean;
    fua: boolean;
    trim: boolean;
    writeZeroes: boolean;
    /** NBD_FLAG_CAN_MULTI_CONN: safe for several connections at once. */
    multiConn?: boolean;
    /**
     * Write-zeroes can honour NBD_CMD_FLAG_FAST_ZERO: `writeZeroes` is then called with
     * `fast: true` and must either zero faster than an equivalent write or throw
     * `NbdBackendError("ENOTSUP")` quickly without changing data. When absent or false, the
     * server answers fast-zero requests with ENOTSUP itself and never calls the backend.
     */
    fastZero?: boolean;
  };
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array, options: { fua: boolean }): Promise<void>;
  flush(): Promise<void>;
  trim(offset: number, length: number, options: { fua: boolean }): Promise<void>;
  writeZeroes(offset: number, length: number, options: { fua: boolean; noHole: boolean; fast?: boolean }): Promise<void>;
}

/** An error a backend throws to answer a request with a specific NBD error (errno name). */
export class NbdBackendError extends Error {
  readonly errno: "EPERM" | "EIO" | "ENOMEM" | "EINVAL" | "ENOSPC" | "EOVERFLOW" | "ENOTSUP" | "ESHUTDOWN";
  constructor(errno: NbdBackendError["errno"], message: string) {
    super(message);
    this.name = "NbdBackendError";
    this.errno = errno;
  }
}
