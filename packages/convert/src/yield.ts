/**
 * Lets the event loop run now and then during a long synchronous walk over a log, so a
 * SIGINT handler, stream drains and timers get their turn: `tick()` is called once an
 * entry and says when to `await pause()`, about every `intervalMs` milliseconds. Yielding by
 * time rather than by count keeps the number of trips through the event loop (each a
 * system call, and a reschedule on a busy machine) small however small the entries are.
 */
export class Yielder {
  private count = 0;
  private last = performance.now();
  constructor(private readonly intervalMs = 20) {}

  /** Counts one step; true when it is time to yield. */
  tick(): boolean {
    this.count += 1;
    if ((this.count & 63) !== 0) return false;
    const now = performance.now();
    if (now - this.last < this.intervalMs) return false;
    this.last = now;
    return true;
  }

  /** Lets the event loop run. */
  pause(): Promise<void> {
    return new Promise<void>((resolve) => setImmediate(resolve));
  }
}
