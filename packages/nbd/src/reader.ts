import type { Socket } from "node:net";

/** The peer closed the connection (or it failed) before the bytes asked for arrived. */
export class ConnectionEndedError extends Error {
  /** Bytes that had arrived of the message being read (0: ended between messages). */
  readonly partial: number;
  constructor(message: string, partial: number) {
    super(message);
    this.name = "ConnectionEndedError";
    this.partial = partial;
  }
}

/**
 * Pull-style reader over a socket: `read(n)` resolves with exactly `n` bytes, `skip(n)`
 * discards `n` bytes without keeping them.
 *
 * Invariants:
 * - `chunks` holds received bytes not yet consumed, in order; `buffered` is their total.
 * - At most one `read`/`skip` is pending at a time (the connection's loop awaits each).
 * - The socket flows only while a pending read still needs bytes, or nothing is pending
 *   and fewer than `highWater` bytes are buffered: memory held is at most the pending
 *   read's size plus `highWater` plus one socket chunk, whatever the peer sends.
 * - Once the socket has ended (`ended`), a read that cannot be satisfied rejects with
 *   `ConnectionEndedError`; bytes already buffered can still be read.
 */
export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending: { need: number; wake: () => void } | undefined;
  private ended = false;
  private endReason = "connection closed by peer";

  constructor(
    private readonly socket: Socket,
    private readonly highWater = 256 * 1024,
  ) {
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.regulate();
      this.pending?.wake();
    });
    const end = (reason: string) => {
      if (this.ended) return;
      this.ended = true;
      this.endReason = reason;
      this.pending?.wake();
    };
    socket.on("end", () => end("connection closed by peer"));
    socket.on("close", () => end("connection closed"));
    socket.on("error", (err) => end(`connection error: ${err.message}`));
  }

  /** Bytes received and not yet consumed. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Exactly `n` bytes (n may be 0). Rejects with ConnectionEndedError if the peer goes first. */
  async read(n: number): Promise<Buffer> {
    await this.waitFor(n, n);
    return this.take(n);
  }

  /** Discards exactly `n` bytes, holding at most one socket chunk at a time. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      await this.waitFor(1, left);
      const first = this.chunks[0]!;
      const k = Math.min(first.length, left);
      if (k === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(k);
      this.buffered -= k;
      left -= k;
    }
    this.regulate();
  }

  /** Stops reading from the socket for good (the connection is finishing). */
  stop(): void {
    this.ended = true;
    this.chunks = [];
    this.buffered = 0;
    this.socket.pause();
    this.pending?.wake();
  }

  private async waitFor(min: number, want: number): Promise<void> {
    while (this.buffered < min) {
      if (this.ended) {
        throw new ConnectionEndedError(this.endReason, this.buffered);
      }
      await new Promise<void>((wake) => {
        this.pending = { need: want, wake };
        this.regulate();
      });
      this.pending = undefined;
    }
  }

  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.chunks[0];
    if (n === 0) {
      out = Buffer.alloc(0);
    } else if (first !== undefined && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    this.regulate();
    return out;
  }

  private regulate(): void {
    if (this.ended) return;
    const flow = this.pending ? this.buffered < this.pending.need : this.buffered < this.highWater;
    if (flow) {
      if (this.socket.isPaused()) this.socket.resume();
    } else if (!this.socket.isPaused()) {
      this.socket.pause();
    }
  }
}
