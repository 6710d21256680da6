import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kernelLogs, makeTempDir, sha256File, type KernelLog } from "@lwlog/testkit";
import { diffLogs } from "./diff.js";
import { proveWithImages } from "./images.js";
import { diffStates, entriesUntil, scanState } from "./state.js";

const tmp = makeTempDir("lwlog-diff-kernel-");
afterAll(() => tmp.cleanup());

const logs = kernelLogs();
const byFile = (f: string): KernelLog => logs.find((l) => l.file === f)!;
/** 64 MiB of zeros: the data devices the kernel logs were written on started as this. */
const zeros = join(tmp.path, "zeros.img");
writeFileSync(zeros, new Uint8Array(byFile("ext4-512.log").data_device_bytes));

describe("state diff of real kernel logs (Linux 6.1 dm-log-writes)", () => {
  it.each([
    ["ext4-512.log", "xfs-512.log", "files"],
    ["ext4-4k.log", "xfs-512.log", "mkfs"],
    ["xfs-4k.log", "ext4-512.log", "umount"],
    ["raw-512.log", "raw-4k.log", "(end)"],
  ])("%s against %s at %s: the interval maps give exactly the blocks where the replayed images differ", async (fa, fb, at) => {
    const mark = at === "(end)" ? undefined : at;
    const d = await diffLogs(byFile(fa).path, byFile(fb).path);
    const [ua, ub] = [entriesUntil(d.a, mark), entriesUntil(d.b, mark)];
    const state = diffStates(d.a, scanState(d.a, ua), d.b, scanState(d.b, ub));
    expect(state.identical).toBe(false);
    expect(state.differingBytes).toBeGreaterThan(0);
    expect(state.granularity).toBe(Math.min(d.a.sectorSize, d.b.sectorSize));
    const proof = await proveWithImages(d.a, d.b, state);
    expect(proof.ranges).toEqual(state.ranges.map(({ start, end }) => ({ start, end })));
    expect(proof.agree).toBe(true);
  });

  it("rebuilds, at every mark, the disk whose sha256 the kernel's guest recorded", async () => {
    for (const file of ["ext4-4k.log", "raw-512.log"]) {
      const k = byFile(file);
      const d = await diffLogs(k.path, k.path);
      for (const m of k.marks.filter((_, i) => i % 4 === 1)) {
        const until = entriesUntil(d.a, m.name);
        expect(until).toBe(m.entry_index + 1);
        const state = diffStates(d.a, scanState(d.a, until), d.b, scanState(d.b, until), { base: zeros });
        // The same log on both sides: every piece is the same entry, nothing is read.
        expect(state).toMatchObject({ identical: true, comparedByRead: 0 });
        const dir = join(tmp.path, `${file}-${m.entry_index}`);
        const { mkdirSync } = await import("node:fs");
        mkdirSync(dir);
        const proof = await proveWithImages(d.a, d.b, state, { dir, base: zeros });
        expect(proof.agree).toBe(true);
        expect(sha256File(proof.a!)).toBe(m.sha256);
      }
    }
  });

  it("says which mark is missing, naming the log", async () => {
    const d = await diffLogs(byFile("raw-512.log").path, byFile("ext4-512.log").path);
    expect(() => entriesUntil(d.b, "fua-8K")).toThrow(expect.objectContaining({ code: "LWLOG_NO_SUCH_MARK", file: byFile("ext4-512.log").path }));
  });
});
