import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { kernelLogs, makeTempDir, sha256File, sha256FileAsync } from "@lwlog/testkit";
import { ImageTarget, replayLog } from "./index.js";

const tmp = makeTempDir("lwlog-replay-kernel-");
afterAll(() => tmp.cleanup());

describe("replaying the kernel logs to every mark reproduces the data device's sha256", () => {
  for (const k of kernelLogs()) {
    it(`${k.file}: all ${k.marks.length} marks`, async () => {
      for (const m of k.marks) {
        const image = join(tmp.path, `${k.file}-${m.entry_index}.img`);
        const s = await replayLog({ log: k.path, target: image, size: k.data_device_bytes, until: { mark: m.name } });
        expect(s.last, `${k.file} mark ${m.name.slice(0, 20)}`).toBe(m.entry_index);
        expect(s.stopReason).toBe("mark");
        expect(sha256File(image), `${k.file} at mark ${m.name.slice(0, 20)} (entry ${m.entry_index})`).toBe(m.sha256);
      }
    });
  }

  it("--until-entry N is inclusive and matches the mark at N", async () => {
    const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;
    const m = k.marks.find((x) => x.name === "files")!;
    const image = join(tmp.path, "ext4-4k-entry.img");
    const s = await replayLog({ log: k.path, target: image, size: k.data_device_bytes, until: { entry: m.entry_index } });
    expect(s.last).toBe(m.entry_index);
    expect(s.entries).toBe(m.entry_index + 1);
    expect(sha256File(image)).toBe(m.sha256);
  });

  it("a whole-log replay with size auto (no header pass first) ends at the end mark, sized to the device", async () => {
    for (const k of kernelLogs()) {
      const image = join(tmp.path, `${k.file}-whole.img`);
      const s = await replayLog({ log: k.path, target: image, size: "auto" });
      const end = k.marks.at(-1)!;
      expect([s.last, s.stop, s.stopReason, s.declared, s.tailEntries]).toEqual([end.entry_index, end.entry_index, "end", k.entries, 0]);
      expect(s.targetSize).toBe(k.data_device_bytes);
      expect(sha256File(image), k.file).toBe(end.sha256);
    }
  });

  it("replaying in two legs (--until-mark A, then --from-mark A --until-mark B onto the same image) equals one leg", async () => {
    for (const k of kernelLogs().filter((l) => l.file === "raw-4k.log" || l.file === "ext4-512.log")) {
      const image = join(tmp.path, `${k.file}-legs.img`);
      let prev: string | undefined;
      for (const m of k.marks) {
        const s = await replayLog({
          log: k.path,
          target: image,
          size: k.data_device_bytes,
          ...(prev !== undefined ? { from: { mark: prev } } : {}),
          until: { mark: m.name },
        });
        expect(s.last).toBe(m.entry_index);
        expect(sha256File(image), `${k.file} leg to ${m.name.slice(0, 20)}`).toBe(m.sha256);
        prev = m.name;
      }
    }
  });
});

describe("syncing the target", () => {
  const tmp = makeTempDir("lwlog-replay-sync-");
  afterAll(() => tmp.cleanup());
  const k = kernelLogs().find((l) => l.file === "ext4-4k.log")!;

  async function syncsDuring(options: Partial<Parameters<typeof replayLog>[0]>): Promise<number> {
    const spy = vi.spyOn(ImageTarget.prototype, "sync");
    try {
      await replayLog({ log: k.path, target: join(tmp.path, `s${Math.random()}.img`), size: "auto", ...options } as Parameters<typeof replayLog>[0]);
      return spy.mock.calls.length;
    } finally {
      spy.mockRestore();
    }
  }

  it("happens at the end only with sync (as cp and replay-log, the page cache is enough otherwise)", async () => {
    expect(await syncsDuring({ until: { mark: "files" } })).toBe(0);
    expect(await syncsDuring({ until: { mark: "files" }, sync: true })).toBe(1);
    expect(await syncsDuring({ sync: true })).toBe(1);
  });

  it("is not needed by checkpoints: each checker gets a scratch view of the state (never the target), made from the page cache", async () => {
    const seen: { entry: number; image: string; target: string; state: string; hash: string }[] = [];
    const target = join(tmp.path, "views.img");
    const n = await syncsDuring({
      target,
      until: { mark: "files" },
      check: {
        rules: ["mark"],
        run: async (cp) => {
          seen.push({ entry: cp.entry, image: cp.image, target: cp.target, state: cp.state, hash: await sha256FileAsync(cp.image) });
          return { ok: true };
        },
      },
    });
    expect(n).toBe(0);
    expect(seen.map((s) => s.entry)).toEqual([38, 256]);
    for (const s of seen) {
      expect(s.image).not.toBe(target);
      expect(s.target).toBe(target);
      expect(s.state).toBe(String(s.entry));
    }
    // The view at the last checkpoint holds the state at mark "files" (the ground truth's hash).
    expect(seen[1]!.hash).toBe(k.marks.find((m) => m.name === "files")!.sha256);
  });
});
