import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RequestScheduler, type AccessKind } from "./scheduler.js";

type Op = { kind: AccessKind; offset: number; length: number; value: number };

const DISK = 64;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant<AccessKind>("flush"), offset: fc.constant(0), length: fc.constant(0), value: fc.constant(0) }),
  fc
    .record({
      kind: fc.constantFrom<AccessKind>("read", "write"),
      offset: fc.integer({ min: 0, max: DISK - 1 }),
      length: fc.integer({ min: 1, max: 16 }),
      value: fc.integer({ min: 1, max: 255 }),
    })
    .map((o) => ({ ...o, length: Math.min(o.length, DISK - o.offset) })),
);

function yields(n: number): Promise<void> {
  let p = Promise.resolve();
  for (let i = 0; i < n; i++) p = p.then(() => new Promise<void>((r) => setImmediate(r)));
  return p;
}

describe("RequestScheduler", () => {
  it("gives every read and the final state what running the requests one by one in arrival order gives", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(opArb, fc.nat(4), fc.nat(4)), { maxLength: 40 }), async (script) => {
        // Expected: sequential execution.
        const model = new Uint8Array(DISK);
        const expected: string[] = [];
        for (const [op] of script) {
          if (op.kind === "write") model.fill(op.value, op.offset, op.offset + op.length);
          if (op.kind === "read") expected.push(model.slice(op.offset, op.offset + op.length).join(","));
        }
        // Actual: through the scheduler, each call taking its time and touching the disk in two halves.
        const disk = new Uint8Array(DISK);
        const scheduler = new RequestScheduler();
        const running = new Set<Op>();
        const violations: string[] = [];
        const results = script.map(([op, before, after]) =>
          scheduler.run(op.kind, op.offset, op.length, async () => {
            if (op.kind === "flush" && [...running].some((o) => o.kind === "write")) violations.push("flush ran with a write");
            if (op.kind === "write" && [...running].some((o) => o.kind === "flush")) violations.push("write ran with a flush");
            running.add(op);
            await yields(before);
            let out = "";
            if (op.kind === "write") {
              const mid = op.offset + Math.floor(op.length / 2);
              disk.fill(op.value, op.offset, mid);
              await yields(after);
              disk.fill(op.value, mid, op.offset + op.length);
            } else if (op.kind === "read") {
              const first = disk.slice(op.offset, op.offset + Math.floor(op.length / 2));
              await yields(after);
              const second = disk.slice(op.offset + Math.floor(op.length / 2), op.offset + op.length);
              out = [...first, ...second].join(",");
            }
            running.delete(op);
            return out;
          }),
        );
        const outs = await Promise.all(results);
        const reads = outs.filter((_, i) => script[i]![0].kind === "read");
        expect(violations).toEqual([]);
        expect(reads).toEqual(expected);
        expect([...disk]).toEqual([...model]);
        expect(scheduler.size).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it("runs non-overlapping writes and overlapping reads concurrently", async () => {
    const scheduler = new RequestScheduler();
    let now = 0;
    let max = 0;
    const call = async () => {
      max = Math.max(max, ++now);
      await yields(3);
      now--;
    };
    await Promise.all([
      scheduler.run("write", 0, 10, call),
      scheduler.run("write", 10, 10, call),
      scheduler.run("read", 20, 10, call),
      scheduler.run("read", 20, 10, call),
    ]);
    expect(max).toBe(4);
  });

  it("passes a failing call's error to its caller and keeps the order for the rest", async () => {
    const scheduler = new RequestScheduler();
    const order: string[] = [];
    const failing = scheduler.run("write", 0, 10, async () => {
      await yields(2);
      order.push("w1");
      throw new Error("boom");
    });
    const after = scheduler.run("read", 5, 1, async () => {
      order.push("r");
    });
    await expect(failing).rejects.toThrow("boom");
    await after;
    expect(order).toEqual(["w1", "r"]);
    await scheduler.idle();
  });
});
