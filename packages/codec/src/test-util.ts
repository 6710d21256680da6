/** Small helpers for the codec's tests (not built into dist: `test-*.ts`). */
import { expect } from "vitest";
import { LwlogError } from "./index.js";

/** The error `fn` throws; fails the test when it does not throw, or throws something that is not an `LwlogError`. */
export function caught(fn: () => unknown): LwlogError {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LwlogError);
    return err as LwlogError;
  }
  throw new Error(`expected an LwlogError, got a result: ${String(result)}`);
}

/** The error the promise rejects with; fails the test when it resolves. */
export async function rejected(p: Promise<unknown>): Promise<LwlogError> {
  let result: unknown;
  try {
    result = await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LwlogError);
    return err as LwlogError;
  }
  throw new Error(`expected an LwlogError, got a result: ${String(result)}`);
}
