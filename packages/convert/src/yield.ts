/**
 * A counter that lets the event loop run every `n` ticks (so a SIGINT handler, stream
 * drains and timers get their turn during a long synchronous walk over a log). `tick()` is
 * synchronous and cheap; only when it returns true does the caller `await pause()`.
 */
export class Yielder {
  private count = 0;
  constructor(private readonly every: number) {}

  /** Counts one step; true when it is time to yield. */
  tick(): boolean {
    this.count += 1;
    return this.count % this.every === 0;
  }

  /** Lets the event loop run. */
  pause(): Promise<void> {
    return new Promise<void>((resolve) => setImmediate(resolve));
  }
}
