/** What a request does to the export, as far as ordering is concerned. */
export type AccessKind = "read" | "write" | "flush";

interface ActiveOp {
  kind: AccessKind;
  start: number;
  end: number;
  /** Settles (never rejects) when the backend call has finished. */
  finished: Promise<void>;
}

/**
 * Orders backend calls so that concurrency never changes what a client observes.
 *
 * Rules (each against every earlier-submitted call still running):
 * - a read waits for overlapping writes (write, trim, write-zeroes);
 * - a write waits for overlapping reads and writes, and for every flush;
 * - a flush waits for every write (whatever its range) and every flush.
 * Reads never wait for reads or flushes. So overlapping requests take effect in the
 * order they arrived, non-overlapping ones run concurrently, and a flush is a barrier for
 * writes: it covers every write submitted before it, and no write submitted after it
 * starts until it has finished.
 *
 * Invariants: `active` lists the submitted calls that have not finished, in submission
 * order; a call only ever waits for calls earlier in that list, so waits cannot cycle.
 */
export class RequestScheduler {
  private active: ActiveOp[] = [];

  /** Calls still running or waiting their turn. */
  get size(): number {
    return this.active.length;
  }

  /**
   * Runs `call` once every earlier conflicting call has finished, and resolves or rejects
   * with its result. `offset`/`length` give the byte range (ignored for flush).
   */
  run<T>(kind: AccessKind, offset: number, length: number, call: () => Promise<T>): Promise<T> {
    const start = offset;
    const end = offset + length;
    const waits: Promise<void>[] = [];
    for (const op of this.active) {
      if (conflicts(op, kind, start, end)) waits.push(op.finished);
    }
    let finish!: () => void;
    const op: ActiveOp = { kind, start, end, finished: new Promise<void>((r) => (finish = r)) };
    this.active.push(op);
    const result = (waits.length === 0 ? Promise.resolve() : Promise.all(waits)).then(call);
    const done = () => {
      const i = this.active.indexOf(op);
      if (i >= 0) this.active.splice(i, 1);
      finish();
    };
    result.then(done, done);
    return result;
  }

  /** Resolves when every call submitted so far has finished. */
  async idle(): Promise<void> {
    while (this.active.length > 0) {
      await Promise.all(this.active.map((op) => op.finished));
    }
  }
}

function conflicts(earlier: ActiveOp, kind: AccessKind, start: number, end: number): boolean {
  if (kind === "flush") return earlier.kind !== "read";
  if (earlier.kind === "flush") return kind === "write";
  if (kind === "read" && earlier.kind === "read") return false;
  return earlier.start < end && start < earlier.end;
}
