import { lastWriters, type StateMap } from "./last-writers.js";

/** Bytes `StateBuilder.build` needs a piece at most while it builds a map (its ids and `lastWriters` work). */
export const MAP_BYTES_PER_PIECE = 92;

/** Options of `StateBuilder`. */
export interface StateBuilderOptions {
  /**
   * Memory a segment may take, in bytes (default 64 MiB): the pieces' columns, the map built
   * from them and `extraBytesPerPiece` for the caller's own metadata. A segment holds at
   * least 64 pieces whatever the budget.
   */
  budgetBytes?: number;
  /** Bytes a piece costs the caller beside the builder (its per-piece metadata). */
  extraBytesPerPiece?: number;
}

/**
 * Collects pieces in log order, one segment at a time, for building the segment's last-writer
 * map in bounded memory. Invariants: pieces `[0, count)` of the current segment sit in
 * `offsets` / `lengths` with ids equal to their index, in ascending priority; `count` never
 * exceeds `capacity`, which the budget fixes once; `reset()` empties the segment and keeps the
 * columns for the next one.
 *
 * The caller adds pieces until `full`, then builds the map, applies it (the later segments'
 * pieces overlay it, as they come later in the log), resets and goes on; at an observation
 * point it does the same with whatever the segment holds.
 */
export class StateBuilder {
  /** Pieces a segment holds at most. */
  readonly capacity: number;
  private offs: Float64Array;
  private lens: Float64Array;
  private n = 0;

  constructor(options: StateBuilderOptions = {}) {
    const budget = options.budgetBytes ?? 64 << 20;
    const perPiece = 16 + MAP_BYTES_PER_PIECE + (options.extraBytesPerPiece ?? 0);
    this.capacity = Math.max(64, Math.floor(budget / perPiece));
    const initial = Math.min(this.capacity, 4096);
    this.offs = new Float64Array(initial);
    this.lens = new Float64Array(initial);
  }

  /** Pieces in the current segment. */
  get count(): number {
    return this.n;
  }

  /** True when the segment holds `capacity` pieces: build, apply and reset before adding more. */
  get full(): boolean {
    return this.n >= this.capacity;
  }

  /** The current segment's piece offsets (a view of `count` elements). */
  get offsets(): Float64Array {
    return this.offs.subarray(0, this.n);
  }

  /** The current segment's piece lengths (a view of `count` elements). */
  get lengths(): Float64Array {
    return this.lens.subarray(0, this.n);
  }

  /**
   * Adds a piece of `length` bytes at target byte `offset` and returns its id in the segment.
   * Throws a `RangeError` when the segment is full.
   */
  add(offset: number, length: number): number {
    if (this.n >= this.offs.length) this.grow();
    const id = this.n++;
    this.offs[id] = offset;
    this.lens[id] = length;
    return id;
  }

  /** The last-writer map of the segment's pieces (ids are the order they were added in). */
  build(): StateMap {
    const ids = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) ids[i] = i;
    return lastWriters(this.offs, this.lens, ids);
  }

  /** Empties the segment. */
  reset(): void {
    this.n = 0;
  }

  private grow(): void {
    if (this.n >= this.capacity) throw new RangeError(`the segment is full (${this.capacity} pieces): build and reset it first`);
    const size = Math.min(this.capacity, this.offs.length * 2);
    const offs = new Float64Array(size);
    const lens = new Float64Array(size);
    offs.set(this.offs);
    lens.set(this.lens);
    this.offs = offs;
    this.lens = lens;
  }
}
