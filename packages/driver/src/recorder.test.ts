import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFlags, type LogEntry } from "@lwlog/codec/core";
import { makeTempDir, qemuLog, randomBytes, runAsync, sha256 } from "@lwlog/testkit";
import { controlRequest } from "./control.js";
import { Recorder, type RecorderOptions } from "./recorder.js";
import { fileBytes, firstDifference, readEntries, replayEntries, zeroImage } from "./test-helpers.js";

const tmp = makeTempDir("lwlog-recorder-");
const running = new Set<Recorder>();
afterAll(async () => {
  for (const r of running) await r.stop().catch(() => undefined);
  tmp.cleanup();
});

let n = 0;
async function start(options: Partial<RecorderOptions> & { size?: number } = {}): Promise<Recorder> {
  n += 1;
  const image = options.image ?? zeroImage(join(tmp.path, `img-${n}`), options.size ?? 16 << 20);
  const log = options.log ?? join(tmp.path, `log-${n}`);
  const r = await Recorder.start({ listen: { host: "127.0.0.1", port: 0 }, ...options, image, log });
  running.add(r);
  return r;
}
async function stop(r: Recorder) {
  running.delete(r);
  return r.stop();
}

/** An entry as the comparison with QEMU sees it: kind, place, length, flags and a hash of the data. */
function describeEntry(e: LogEntry): string {
  return `${e.kind} ${e.sector}+${e.nrSectors} flags=${e.flags}${e.data && e.data.length > 0 ? ` ${sha256(e.data).slice(0, 12)}` : ""}`;
}

describe("Recorder with real NBD clients", () => {
  it("nbdinfo shows the export with its size, flags and block sizes", async () => {
    const r = await start({ size: 32 << 20, sectorSize: 4096 });
    const info = JSON.parse((await runAsync("nbdinfo", ["--json", r.uri])).stdout) as { exports: Record<string, unknown>[] };
    expect(info.exports[0]).toMatchObject({
      "export-size": 32 << 20,
      is_read_only: false,
      can_flush: true,
      can_fua: true,
      can_trim: true,
      can_zero: true,
      can_multi_conn: true,
      block_size_minimum: 1,
      block_size_preferred: 4096,
      block_size_maximum: 32 << 20,
    });
    await stop(r);
  });

  for (const S of [512, 4096]) {
    it(`the same qemu-io script through QEMU's blklogwrites and through lwlog gives the same log (S=${S})`, async () => {
      const script = [
        "write -P 0xaa 0 8192",
        "write -P 0xbb 1000 100",
        "write -z 100 5000",
        "write -z 16384 8192",
        "discard 32768 16384",
        "flush",
        "write -f -P 0xcc 65536 4096",
        "write -P 0xdd 70000 3000",
        "write -z -f 81920 4096",
        "write -z 90000 30",
        "write -P 0xee 131072 65536",
        "discard 262144 65536",
        "flush",
        "write -P 0x11 200000 12345",
      ];
      const dir = join(tmp.path, `qemu-${S}`);
      await runAsync("mkdir", ["-p", dir]);
      const qemu = qemuLog({ dir, sectorSize: S, cache: "writeback", commands: script, imageSize: 1 << 20 });

      const kinds = new Map<number, string>();
      const r = await start({ size: 1 << 20, sectorSize: S, trace: (e) => e.type === "entry" && kinds.set(e.index, e.kind) });
      const args = ["-f", "raw", "-t", "writeback", r.uri];
      for (const c of script) args.push("-c", c);
      await runAsync("qemu-io", args);
      await stop(r);

      const theirs = readEntries(qemu.log).entries.map(describeEntry);
      // Ours, with the documented differences undone (docs/driver.md): marks go; a FUA entry loses
      // its flag, and one for a run of zeros gains the FLUSH entry QEMU emulates its FUA with
      // (for ordinary writes QEMU hands FUA to the file driver below it, which logs nothing).
      const ours: string[] = [];
      for (const e of readEntries(r.device.logPath).entries) {
        if (e.kind === "mark") continue;
        if ((e.flags & LogFlags.FUA) !== 0n) {
          ours.push(describeEntry({ ...e, flags: e.flags & ~LogFlags.FUA }));
          if (kinds.get(e.index) === "zeros") ours.push("flush 0+0 flags=1");
        } else {
          ours.push(describeEntry(e));
        }
      }
      expect(ours).toEqual(theirs);
      expect(theirs.length).toBeGreaterThan(14);
      // And the images agree.
      expect(firstDifference(fileBytes(r.device.imagePath), fileBytes(qemu.image))).toBe(-1);
    });
  }

  it("nbdcopy of 64 MiB of random data: the image equals the file, and so does the log replayed onto zeros", async () => {
    const src = join(tmp.path, "random.bin");
    const data = randomBytes(64 << 20, 7);
    writeFileSync(src, data);
    const r = await start({ size: 64 << 20 });
    await runAsync("nbdcopy", [src, r.uri]);
    const summary = await stop(r);
    expect(summary.bytesWritten).toBe(64 << 20);
    expect(firstDifference(fileBytes(r.device.imagePath), data)).toBe(-1);
    expect(firstDifference(replayEntries(r.device.logPath, 64 << 20), data)).toBe(-1);
    const { entries, declared } = readEntries(r.device.logPath);
    expect(declared).toBe(entries.length);
    expect(entries.at(-1)!.mark).toBe("lwlog-end");
  });

  it("serves two clients at once with one shared order", async () => {
    const r = await start({ size: 8 << 20 });
    const client = (pattern: number, base: number) => {
      const args = ["-f", "raw", "-t", "writeback", r.uri];
      for (let i = 0; i < 40; i++) args.push("-c", `aio_write -P ${pattern} ${base + i * 65536} 65536`);
      args.push("-c", "aio_flush", "-c", "flush");
      return runAsync("qemu-io", args);
    };
    await Promise.all([client(0x5a, 0), client(0xa5, 4 << 20)]);
    await stop(r);
    const image = fileBytes(r.device.imagePath);
    expect(image.subarray(0, 40 * 65536).every((b) => b === 0x5a)).toBe(true);
    expect(image.subarray(4 << 20, (4 << 20) + 40 * 65536).every((b) => b === 0xa5)).toBe(true);
    expect(firstDifference(replayEntries(r.device.logPath, 8 << 20), image)).toBe(-1);
  });
});

describe("Recorder control channel", () => {
  it("adds marks and reports status over the control socket, and removes it on stop", async () => {
    const r = await start();
    const ctl = r.control.path;
    expect(await controlRequest(ctl, { op: "mark", name: "first" })).toEqual({ ok: true, entry: 0 });
    await runAsync("qemu-io", ["-f", "raw", r.uri, "-c", "write -P 1 0 4096"]);
    expect(await controlRequest(ctl, { op: "mark", name: "second" })).toEqual({ ok: true, entry: 3 }); // write + qemu-io's flush at close
    const reply = await controlRequest(ctl, { op: "status" });
    expect(reply).toMatchObject({ ok: true, status: { entries: 4, marks: 2, lastMark: { name: "second", entry: 3 }, uri: r.uri, clients: 0 } });
    expect(await controlRequest(ctl, { op: "mark", name: "" })).toMatchObject({ ok: false, error: { code: "LWLOG_BAD_MARK" } });
    expect(await controlRequest(ctl, { op: "mark", name: "x".repeat(480) })).toMatchObject({ ok: false, error: { code: "LWLOG_BAD_MARK" } });
    await stop(r);
    expect(existsSync(ctl)).toBe(false);
    await expect(controlRequest(ctl, { op: "status" })).rejects.toMatchObject({ code: "LWLOG_NO_RECORDER" });
  });

  it("answers malformed control requests with an error and keeps going", async () => {
    const r = await start();
    const lines = await new Promise<string[]>((resolve, reject) => {
      const s = connect(r.control.path);
      let text = "";
      s.setEncoding("utf8");
      s.on("data", (d: string) => {
        text += d;
        if (text.split("\n").length > 4) {
          s.destroy();
          resolve(text.trim().split("\n"));
        }
      });
      s.on("error", reject);
      s.write('not json\n{"op":"reboot"}\n{"op":"mark"}\n{"op":"mark","name":"ok"}\n');
    });
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { ok: false, error: { code: "LWLOG_CONTROL_PROTOCOL", message: "the request is not JSON" } },
      { ok: false, error: { code: "LWLOG_CONTROL_PROTOCOL", message: 'unknown op "reboot" (mark, status)' } },
      { ok: false, error: { code: "LWLOG_CONTROL_PROTOCOL", message: 'a mark request needs "name" (a string)' } },
      { ok: true, entry: 0 },
    ]);
    await stop(r);
  });

  it("refuses a second recorder on the same control socket, and replaces a stale one", async () => {
    const r = await start();
    const log2 = join(tmp.path, "second.log");
    await expect(start({ control: r.control.path, log: log2 })).rejects.toMatchObject({ code: "LWLOG_CONTROL_IN_USE" });
    expect(existsSync(log2)).toBe(false); // refused before the log was touched
    await stop(r);
    // A stale socket file (its recorder was killed) is replaced.
    const stale = join(tmp.path, "stale.ctl");
    const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(stale)}, () => console.log("up"))`]);
    await new Promise((resolve) => child.stdout.once("data", resolve));
    child.kill("SIGKILL"); // as a killed recorder: the socket file stays, nobody listens
    await new Promise((resolve) => child.once("exit", resolve));
    expect(existsSync(stale)).toBe(true);
    const r2 = await start({ control: stale });
    expect((await controlRequest(stale, { op: "status" })).ok).toBe(true);
    await stop(r2);
    // A file that is not a socket is never replaced.
    const plain = join(tmp.path, "plain.ctl");
    writeFileSync(plain, "keep me");
    await expect(start({ control: plain })).rejects.toMatchObject({ code: "LWLOG_CONTROL_IN_USE" });
    expect(fileBytes(plain)).toEqual(new TextEncoder().encode("keep me"));
  });

  it("removes a log it created when it cannot listen", async () => {
    const r = await start();
    const port = Number(new URL(r.uri).port);
    const log = join(tmp.path, "unused.log");
    await expect(start({ log, listen: { host: "127.0.0.1", port } })).rejects.toMatchObject({ code: "LWLOG_LISTEN" });
    expect(existsSync(log)).toBe(false);
    await stop(r);
  });
});

