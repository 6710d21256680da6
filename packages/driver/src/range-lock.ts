/**
 * Exclusive locks on byte ranges `[start, end)` of the image.
 *
 * Invariants:
 * - `held` lists the ranges granted and not yet released; no two overlap.
 * - `waiting` is FIFO: a request is granted only when it overlaps no held range and no
 *   earlier waiting request, so overlapping requests are granted in arrival order and
 *   none starves.
 */
export class RangeLocks {
  private held: { start: number; end: number }[] = [];
  private waiting: { start: number; end: number; grant: () => void }[] = [];

  /** Resolves with a release function once `[start, end)` is exclusively held. */
  acquire(start: number, end: number): Promise<() => void> {
    const range = { start, end };
    const release = (): void => {
      const i = this.held.indexOf(range);
      if (i < 0) return;
      this.held.splice(i, 1);
      this.wake();
    };
    if (!this.conflicts(range, this.waiting.length)) {
      this.held.push(range);
      return Promise.resolve(release);
    }
    return new Promise((resolve) => {
      this.waiting.push({
        ...range,
        grant: () => {
          this.held.push(range);
          resolve(release);
        },
      });
    });
  }

  /** Ranges held now (for status and tests). */
  get heldCount(): number {
    return this.held.length;
  }

  private conflicts(r: { start: number; end: number }, waitersBefore: number): boolean {
    for (const h of this.held) if (h.start < r.end && r.start < h.end) return true;
    for (let i = 0; i < waitersBefore; i++) {
      const w = this.waiting[i]!;
      if (w.start < r.end && r.start < w.end) return true;
    }
    return false;
  }

  private wake(): void {
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i]!;
      if (!this.conflicts(w, i)) {
        this.waiting.splice(i, 1);
        w.grant();
      } else {
        i++;
      }
    }
  }
}
