/**
 * What an NBD export serves: the contract between the NBD protocol server (this package)
 * and whatever holds the data (a plain file, or lwlog's logging device in @lwlog/driver).
 * The server validates every request against `size` and the block sizes before calling
 * the backend, so a backend only ever sees in-range, well-formed requests.
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
