/**
 * A counter that lets the event loop run every `n` calls (so a SIGINT handler, stream
 * drains and timers get their turn during a long synchronous walk over a log). The
 * returned function resolves to true on the calls where it yielded.
 */
export function yieldEvery(n: number): () => Promise<boolean> {
  let calls = 0;
  return async () => {
    calls += 1;
    if (calls % n !== 0) return false;
    await new Promise<void>((resolve) => setImmediate(resolve));
    return true;
  };
}
