import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, randomBytes, runAsync, sha256File } from "@lwlog/testkit";
import { OverlayBackend } from "./overlay-backend.js";
import { NbdServer } from "./server.js";

const tmp = makeTempDir("lwlog-overlay-");
afterAll(() => tmp.cleanup());
const MiB = 1 << 20;

describe("OverlayBackend", () => {
  it("serves base bytes, then written and zeroed ones, over NBD (qemu-io, nbdcopy) and never writes the base", async () => {
    const base = join(tmp.path, "base.img");
    const bytes = randomBytes(4 * MiB, 7);
    writeFileSync(base, bytes);
    const before = sha256File(base);
    const overlay = OverlayBackend.open(base, { store: join(tmp.path, "store-1") });
    // Written directly first (as a crash state's extra writes are), then by a client.
    const direct = randomBytes(5000, 9);
    overlay.writeSync(1000, direct);
    overlay.zeroSync(3 * MiB, 100_000);
    const server = new NbdServer({ backend: overlay, name: "view", listen: { socket: join(tmp.path, "s1.sock") } });
    await server.listen();
    try {
      await runAsync("qemu-io", ["-f", "raw", "-c", "write -P 0xab 65536 4096", "-c", "write -z 1048576 12288", "-c", "discard 2097152 4096", server.uri]);
      const copy = join(tmp.path, "copy-1.img");
      await runAsync("nbdcopy", [server.uri, copy]);
      const expected = Uint8Array.from(bytes);
      expected.set(direct, 1000);
      expected.fill(0, 3 * MiB, 3 * MiB + 100_000);
      expected.fill(0xab, 65536, 65536 + 4096);
      expected.fill(0, MiB, MiB + 12288);
      expected.fill(0, 2 * MiB, 2 * MiB + 4096);
      expect(Buffer.compare(readFileSync(copy), expected)).toBe(0);
      // What the overlay answers for: the ranges written, zeroed and trimmed, not more.
      expect(overlay.overlaid).toBe(5000 + 100_000 + 4096 + 12288 + 4096);
    } finally {
      await server.close();
      overlay.close();
    }
    expect(sha256File(base)).toBe(before);
    expect(existsSync(join(tmp.path, "store-1"))).toBe(false);
  });

  it("reads zeros past the base's end when the view is larger, and refuses bytes past the view", () => {
    const base = join(tmp.path, "small.img");
    writeFileSync(base, randomBytes(1000, 3));
    const overlay = OverlayBackend.open(base, { store: join(tmp.path, "store-2"), size: 4096 });
    try {
      const out = new Uint8Array(200);
      overlay.readInto(out, 900);
      expect(Buffer.compare(out.subarray(0, 100), readFileSync(base).subarray(900, 1000))).toBe(0);
      expect(out.subarray(100).every((b) => b === 0)).toBe(true);
      expect(() => overlay.writeSync(4000, new Uint8Array(100))).toThrow(/outside the 4096-byte view/);
    } finally {
      overlay.close();
    }
  });

  it("refuses an existing store file (it is never overwritten)", () => {
    const base = join(tmp.path, "b3.img");
    writeFileSync(base, new Uint8Array(4096));
    writeFileSync(join(tmp.path, "store-3"), "keep");
    expect(() => OverlayBackend.open(base, { store: join(tmp.path, "store-3") })).toThrow(/EEXIST/);
    expect(readFileSync(join(tmp.path, "store-3"), "utf8")).toBe("keep");
  });
});
