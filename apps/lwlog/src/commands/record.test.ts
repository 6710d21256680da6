import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { LogFile, type LogEntry } from "@lwlog/codec/core";
import { makeTempDir, randomBytes, runAsync, sha256File } from "@lwlog/testkit";
import { runLwlog } from "../testing.js";
import { RawNbd, recordInProcess, type InProcessRecorder } from "./test-record.js";

const tmp = makeTempDir("lwlog-record-");
const live = new Set<InProcessRecorder>();
afterAll(async () => {
  for (const r of live) await r.stop().catch(() => undefined);
  tmp.cleanup();
});

let n = 0;
function names(): { image: string; log: string; ctl: string } {
  n += 1;
  return { image: join(tmp.path, `img-${n}`), log: join(tmp.path, `log-${n}`), ctl: join(tmp.path, `ctl-${n}`) };
}
async function record(args: string[]): Promise<InProcessRecorder> {
  const r = await recordInProcess(args);
  live.add(r);
  return r;
}
async function stop(r: InProcessRecorder) {
  live.delete(r);
  return r.stop();
}

function entries(path: string, tail = true): LogEntry[] {
  const log = LogFile.openSync(path);
  try {
    const c = log.cursor({ tail });
    const out: LogEntry[] = [];
    for (let e = c.next(); e; e = c.next()) out.push(e);
    return out;
  } finally {
    log.close();
  }
}

const qemuIo = (uri: string, ...commands: string[]) => runAsync("qemu-io", ["-f", "raw", "-t", "writeback", uri, ...commands.flatMap((c) => ["-c", c])]);

describe("lwlog record, mark and status (in-process)", () => {
  it("records a client's writes, takes marks and reports status, then stops with lwlog-end and a summary", async () => {
    const p = names();
    const r = await record(["--image", p.image, "--log", p.log, "--create", "--size", "8M", "--listen", "127.0.0.1:0", "--control", p.ctl]);
    expect(r.uri).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+\/$/);
    expect(statSync(p.image).size).toBe(8 << 20);

    await qemuIo(r.uri, "write -P 0x61 0 65536", "flush", "write -P 0x62 65536 4096");
    const mark = await runLwlog(["mark", "after-first", "--control", p.ctl]);
    expect(mark).toMatchObject({ code: 0, stderr: "" });
    // write, flush, write, and qemu-io's own flush when it closed the image: the mark is entry 4.
    expect(mark.stdout).toBe("4\n");

    const status = await runLwlog(["status", "--control", p.ctl, "--json"]);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({
      uri: r.uri,
      control: p.ctl,
      image: p.image,
      log: p.log,
      sectorSize: 512,
      size: 8 << 20,
      entries: 5,
      marks: 1,
      lastMark: { name: "after-first", entry: 4 },
      lastFlush: { entry: 3 },
      bytesWritten: 65536 + 4096,
      clients: 0,
    });
    expect((s.requests as Record<string, number>).flushes).toBe(2);
    const both = await runLwlog(["status", "--log", p.log, "--control", p.ctl]);
    expect(both.code).toBe(2); // --log and --control are alternatives
    const plain = await runLwlog(["status", "--control", p.ctl]);
    expect(plain.stdout).toMatch(/^uri\s+nbd:\/\/127\.0\.0\.1:\d+\/$/m);
    expect(plain.stdout).toMatch(/^entries\s+5$/m);
    expect(plain.stdout).toMatch(/^marks\s+1 \(last: after-first at entry 4\)$/m);
    expect(plain.stdout).toMatch(/^last flush\s+entry 3 at \d{4}-/m);

    const done = await stop(r);
    expect(done.code).toBe(0);
    expect(done.stdout.split("\n")[0]).toBe(r.uri);
    expect(done.stdout).toMatch(/^entries\s+6$/m);
    expect(done.stdout).toMatch(/^marks\s+2 \(last: lwlog-end at entry 5\)$/m);
    expect(done.stderr).toMatch(/recording .*img-\d+ \(8\.0 MiB\) to .*log-\d+ \(512-byte sectors\)/);
    expect(existsSync(p.ctl)).toBe(false);

    // Only what the client asked for: its 2 flushes, no FLUSH entries for the recorder's own syncs.
    const es = entries(p.log);
    expect(es.map((e) => e.kind)).toEqual(["write", "flush", "write", "flush", "mark", "mark"]);
    expect(es.at(-1)!.mark).toBe("lwlog-end");
    const check = await runLwlog(["check", p.log]);
    expect(check.code).toBe(0);
    expect(LogFile.openSync(p.log).declared).toBe(6);
  });

  it("prints JSON lines for ready and stopped with --json, and serves a Unix socket with --socket and an export --name", async () => {
    const p = names();
    writeFileSync(p.image, new Uint8Array(4 << 20));
    const sock = join(tmp.path, `nbd-${n}.sock`);
    const r = await record(["--image", p.image, "--log", p.log, "--socket", sock, "--control", p.ctl, "--sector-size", "4096", "--json", "--name", "disk"]);
    expect(r.uri).toBe(`nbd+unix:///disk?socket=${sock}`);
    const info = JSON.parse((await runAsync("nbdinfo", ["--json", r.uri])).stdout) as { exports: { "export-size": number; block_size_preferred: number }[] };
    expect(info.exports[0]).toMatchObject({ "export-size": 4 << 20, block_size_preferred: 4096 });
    await qemuIo(r.uri, "write -P 1 0 4096");
    const done = await stop(r);
    const lines = done.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ event: "ready", uri: r.uri, control: p.ctl, sectorSize: 4096, size: 4 << 20, entries: 0 });
    expect(lines[1]).toMatchObject({ event: "stopped", entries: 3, marks: 1, sectorSize: 4096 });
    expect(existsSync(sock)).toBe(false);
  });

  it("nbdcopy of 64 MiB of random data: the image equals the file, and lwlog replay of the log onto zeros does too", async () => {
    const p = names();
    const src = join(tmp.path, "random-64m.bin");
    writeFileSync(src, randomBytes(64 << 20, 11));
    const r = await record(["--image", p.image, "--log", p.log, "--create", "--size", "64M", "--listen", "127.0.0.1:0"]);
    await runAsync("nbdcopy", ["--flush", src, r.uri]);
    expect((await stop(r)).code).toBe(0);
    const want = sha256File(src);
    expect(sha256File(p.image)).toBe(want);
    const replayed = join(tmp.path, `replayed-${n}`);
    const replay = await runLwlog(["replay", p.log, "--to", replayed, "--size", "64M"]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(sha256File(replayed)).toBe(want);
  });

  it("appends to an existing log with --append, keeping its entries and sector size", async () => {
    const p = names();
    const first = await record(["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--sector-size", "1024", "--listen", "127.0.0.1:0"]);
    await qemuIo(first.uri, "write -P 1 0 2048");
    await stop(first);
    const refused = await runLwlog(["record", "--image", p.image, "--log", p.log, "--listen", "127.0.0.1:0"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already exists.*LWLOG_EXISTS/);
    const mismatch = await runLwlog(["record", "--image", p.image, "--log", p.log, "--append", "--sector-size", "512", "--listen", "127.0.0.1:0"]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/1024-byte sectors, not 512/);

    const second = await record(["--image", p.image, "--log", p.log, "--append", "--listen", "127.0.0.1:0"]);
    expect(second.status).toMatchObject({ sectorSize: 1024, entries: 3 });
    await qemuIo(second.uri, "write -P 2 4096 1024");
    const done = await stop(second);
    expect(done.stdout).toMatch(/^entries\s+6 \(3 new\)$/m);
    expect(entries(p.log).map((e) => `${e.kind}${e.mark ? `:${e.mark}` : ""}`)).toEqual(["write", "flush", "mark:lwlog-end", "write", "flush", "mark:lwlog-end"]);
  });

  it("logs write-zeroes as writes of zeros, or as discards with --zeroes-as-discard", async () => {
    for (const asDiscard of [false, true]) {
      const p = names();
      const r = await record(["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--listen", "127.0.0.1:0", ...(asDiscard ? ["--zeroes-as-discard"] : [])]);
      await qemuIo(r.uri, "write -P 7 0 65536", "write -z 4096 8192");
      await stop(r);
      const z = entries(p.log)[1]!;
      expect([z.kind, z.sector, z.nrSectors]).toEqual([asDiscard ? "discard" : "write", 8n, 16n]);
      expect(readFileSync(p.image).subarray(4096, 12288).every((b) => b === 0)).toBe(true);
    }
  });

  it("\"written\" is what lwlog info counts as data written: unaligned writes widened, write-zeroes logged as zeros; requests show what clients sent", async () => {
    const p = names();
    const r = await record(["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--listen", "127.0.0.1:0"]);
    await qemuIo(r.uri, "write -P 7 0 65536", "write -z 65536 8192", "write -P 9 100000 100", "flush");
    const status = JSON.parse((await runLwlog(["status", "--control", r.control, "--json"])).stdout) as Record<string, unknown>;
    expect(status).toMatchObject({ bytesWritten: 65536 + 100, bytesZeroed: 8192, dataBytes: 65536 + 8192 + 512 });
    const done = await stop(r);
    expect(done.stdout).toMatch(/^requests\s+2 writes of 65636 bytes, \d+ flushes, 0 discards, 1 write-zeroes of 8192 bytes, \d+ reads$/m);
    const written = /^written\s+(\d+) bytes \(([^)]+)\) of data logged, as lwlog info counts it \(write-zeroes as zeros\)$/m.exec(done.stdout);
    expect(written, done.stdout).not.toBeNull();
    const info = JSON.parse((await runLwlog(["info", "--json", p.log])).stdout) as { dataBytes: number };
    expect(Number(written![1])).toBe(info.dataBytes);
    expect(info.dataBytes).toBe(65536 + 8192 + 512);
    const text = (await runLwlog(["info", p.log])).stdout;
    expect(text).toContain(`data           ${written![2]} (${info.dataBytes} bytes) written`);
  });

  it("--super-interval N rewrites the superblock every N entries while recording, without any flush", async () => {
    const p = names();
    const r = await record(["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--listen", "127.0.0.1:0", "--super-interval", "3"]);
    const src = join(tmp.path, `src-${n}`);
    writeFileSync(src, randomBytes(1 << 20, 5));
    // nbdcopy without --flush: four 256 KiB writes and no flush.
    await runAsync("nbdcopy", ["--request-size=262144", src, r.uri]);
    const status = JSON.parse((await runLwlog(["status", "--log", p.log, "--json"])).stdout) as { entries: number; lastFlush: unknown };
    expect(status).toMatchObject({ entries: 4, lastFlush: null });
    // The rewrite runs in the background, after a log sync.
    await vi.waitFor(() => expect(LogFile.openSync(p.log).declared).toBeGreaterThanOrEqual(3), { timeout: 10_000, interval: 20 });
    await stop(r);
  });

  it("exits 1 when logging fails while recording, after failing the client's writes with EIO", async () => {
    const mnt = join(tmp.path, "small-fs");
    await runAsync("mkdir", ["-p", mnt]);
    await runAsync("mount", ["-t", "tmpfs", "-o", "size=192k", "tmpfs", mnt]);
    try {
      const p = names();
      const log = join(mnt, "log");
      const r = await record(["--image", p.image, "--log", log, "--create", "--size", "4M", "--listen", "127.0.0.1:0"]);
      const io = await runAsync("qemu-io", ["-f", "raw", "-t", "writeback", r.uri, "-c", "write -P 1 0 1M", "-c", "flush", "-c", "write -P 2 1M 4096"], { check: false });
      expect(io.stdout + io.stderr).toMatch(/Input\/output error/);
      const status = JSON.parse((await runLwlog(["status", "--log", log, "--json"])).stdout) as { failure?: string };
      expect(status.failure).toMatch(/cannot write the log/);
      const done = await stop(r);
      expect(done.code).toBe(1);
      expect(done.stderr).toMatch(/logging stopped: .*every write now fails with EIO/);
      expect(done.stderr).toMatch(/logging failed: /);
      expect((await runLwlog(["check", log])).code).toBe(0);
    } finally {
      await runAsync("umount", [mnt], { check: false });
    }
  });

  it("refuses bad options with exit 2 and leaves no files behind", async () => {
    const p = names();
    const cases: [string[], RegExp][] = [
      [["--image", p.image, "--log", p.log, "--create"], /--create needs --size/],
      [["--image", p.image, "--log", p.log, "--size", "1M"], /--size only applies with --create/],
      [["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--sector-size", "1000"], /power of two from 32 to 8388608, not 1000/],
      [["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--listen", "localhost"], /--listen takes HOST:PORT/],
      [["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--listen", "127.0.0.1:0", "--socket", "x"], /alternatives/],
      [["--image", p.image, "--log", p.log], /img-\d+: no such file/],
    ];
    for (const [args, message] of cases) {
      const r = await runLwlog(["record", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(p.image)).toBe(false);
    expect(existsSync(p.log)).toBe(false);
    writeFileSync(p.image, "x");
    const exists = await runLwlog(["record", "--image", p.image, "--log", p.log, "--create", "--size", "1M"]);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toMatch(/already exists; --create makes a new image/);
    expect(readFileSync(p.image, "utf8")).toBe("x");
    const odd = await runLwlog(["record", "--image", p.image, "--log", p.log, "--listen", "127.0.0.1:0"]);
    expect(odd.code).toBe(1);
    expect(odd.stderr).toMatch(/the image is 1 bytes, not a whole number of 512-byte log sectors/);
    expect(existsSync(p.log)).toBe(false);
  });

  it("refuses a second recorder on the same control socket, and a busy port, without touching their files", async () => {
    const p = names();
    const r = await record(["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--listen", "127.0.0.1:0"]);
    const q = names();
    const again = await runLwlog(["record", "--image", p.image, "--log", q.log, "--control", `${p.log}.ctl`, "--listen", "127.0.0.1:0"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/another process is listening on the control socket \[LWLOG_CONTROL_IN_USE\]/);
    const port = new URL(r.uri).port;
    const busy = await runLwlog(["record", "--image", q.image, "--log", q.log, "--create", "--size", "1M", "--listen", `127.0.0.1:${port}`]);
    expect(busy.code).toBe(1);
    // Said once (not also as a "server error" message), with what to do.
    expect(busy.stderr).toBe(
      `lwlog: error: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}; the port is taken: --listen 127.0.0.1:0 picks a free port, or --socket PATH serves on a Unix socket [LWLOG_LISTEN]\n`,
    );
    expect(existsSync(q.log)).toBe(false);
    expect(existsSync(q.image)).toBe(false);
    await stop(r);
  });

  it("a second recorder on the default port: one error line, naming --listen 127.0.0.1:0 and --socket", async () => {
    // Hold 127.0.0.1:10809 (or find it held already: busy either way).
    const holder = createServer();
    await new Promise<void>((resolve) => {
      holder.once("error", () => resolve());
      holder.listen(10809, "127.0.0.1", () => resolve());
    });
    try {
      const q = names();
      const r = await runLwlog(["record", "--image", q.image, "--log", q.log, "--create", "--size", "1M"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        "lwlog: error: cannot listen on 127.0.0.1:10809: listen EADDRINUSE: address already in use 127.0.0.1:10809; the default NBD port is taken (another lwlog record, qemu-nbd or nbdkit?): --listen 127.0.0.1:0 picks a free port, or --socket PATH serves on a Unix socket [LWLOG_LISTEN]\n",
      );
      expect(existsSync(q.log) || existsSync(q.image)).toBe(false);
    } finally {
      await new Promise((resolve) => (holder.listening ? holder.close(resolve) : resolve(undefined)));
    }
  });

  it("an existing log without --append: refused, untouched, and the error names --append", async () => {
    const p = names();
    writeFileSync(p.image, Buffer.alloc(65536));
    writeFileSync(p.log, "a log from yesterday");
    const r = await runLwlog(["record", "--image", p.image, "--log", p.log, "--listen", "127.0.0.1:0"]);
    expect([r.code, r.stdout]).toEqual([2, ""]);
    expect(r.stderr).toBe(`lwlog: error: ${p.log}: already exists (refusing to overwrite it); --append adds to an existing log (or give --log a new file) [LWLOG_EXISTS]\n`);
    expect(readFileSync(p.log, "utf8")).toBe("a log from yesterday");
  });

  it("lwlog mark: errors for no recorder, an empty name and a name too long for S", async () => {
    const none = await runLwlog(["mark", "x", "--control", join(tmp.path, "nobody.ctl")]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/nobody\.ctl: no recorder is running here \(no such control socket\) \[LWLOG_NO_RECORDER\]/);
    const noStatus = await runLwlog(["status", "--control", join(tmp.path, "nobody.ctl")]);
    expect(noStatus.code).toBe(2);
    const which = await runLwlog(["mark", "x"]);
    expect(which.code).toBe(2);
    expect(which.stderr).toMatch(/--control PATH/);

    const p = names();
    const r = await record(["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--listen", "127.0.0.1:0", "--sector-size", "64"]);
    const empty = await runLwlog(["mark", "", "--log", p.log]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/a mark needs a name/);
    const long = await runLwlog(["mark", "x".repeat(32), "--log", p.log]);
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/the mark name is 32 bytes, too long for 64-byte log sectors \(at most 31\)/);
    const ok = await runLwlog(["mark", "y".repeat(31), "--log", p.log, "--json"]);
    expect(JSON.parse(ok.stdout)).toEqual({ name: "y".repeat(31), entry: 0 });
    await stop(r);
  });
});

describe("lwlog record: bad input on the NBD socket, end to end", () => {
  it("answers or drops each bad client, keeps serving the next, and the log stays valid", async () => {
    const p = names();
    const r = await record(["--image", p.image, "--log", p.log, "--create", "--size", "1M", "--listen", "127.0.0.1:0"]);

    // Garbage instead of the handshake: the connection is closed.
    const garbage = await RawNbd.connect(r.uri);
    await garbage.read(18);
    garbage.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await garbage.closed;

    // An unknown option: NBD_REP_ERR_UNSUP, and the handshake goes on.
    const unknown = await RawNbd.connect(r.uri);
    await unknown.greet();
    unknown.sendOption(0x7777);
    const rep = await unknown.readOptionReply();
    expect(rep.type).toBe(0x80000001); // NBD_REP_ERR_UNSUP
    expect(await unknown.go()).toBe(1048576n);

    // Past the end: EINVAL (or ENOSPC for writes); zero-length: success; oversized: EINVAL or drop.
    unknown.request(0, { handle: 1n, offset: 1048576n - 512n, length: 1024 });
    expect(await unknown.reply()).toEqual({ error: 22, handle: 1n });
    unknown.request(1, { handle: 2n, offset: 1048576n, data: new Uint8Array(512) });
    expect([22, 28]).toContain((await unknown.reply()).error);
    unknown.request(1, { handle: 3n, offset: 0n, length: 0 });
    expect(await unknown.reply()).toEqual({ error: 0, handle: 3n });
    unknown.request(0, { handle: 4n, offset: 0n, length: 64 << 20 });
    const big = await unknown.reply().catch(() => "closed");
    expect(big === "closed" || (big as { error: number }).error === 22).toBe(true);
    unknown.destroy();

    // A client that disconnects in the middle of a write's payload.
    const cut = await RawNbd.connect(r.uri);
    await cut.greet();
    await cut.go();
    cut.request(1, { handle: 9n, offset: 300n * 4096n, length: 65536 });
    cut.write(new Uint8Array(1000).fill(0xee));
    cut.destroy();

    // A flood: 2000 pipelined writes and reads without waiting for replies, then a flush.
    const flood = await RawNbd.connect(r.uri);
    await flood.greet();
    await flood.go();
    const payload = randomBytes(4096, 3);
    for (let i = 0; i < 2000; i++) {
      if (i % 2 === 0) flood.request(1, { handle: BigInt(i), offset: BigInt((i % 200) * 4096), data: payload });
      else flood.request(0, { handle: BigInt(i), offset: 0n, length: 4096 });
    }
    flood.request(3, { handle: 99999n });
    let errors = 0;
    for (let i = 0; i < 2001; i++) {
      const reply = await flood.reply();
      if (reply.error !== 0) errors += 1;
      if (reply.handle % 2n === 1n && reply.handle !== 99999n) await flood.read(4096);
    }
    expect(errors).toBe(0);
    flood.request(2); // NBD_CMD_DISC
    await flood.closed;

    // The next real client is served.
    await qemuIo(r.uri, "write -P 0x33 0 4096", "read -P 0x33 0 4096");
    const done = await stop(r);
    expect(done.code).toBe(0);
    const check = await runLwlog(["check", p.log]);
    expect(check).toMatchObject({ code: 0 });
    // Nothing of the cut-off write was logged; the flood's writes were.
    const es = entries(p.log);
    expect(es.filter((e) => e.kind === "write" && e.sector === 2400n)).toHaveLength(0);
    expect(es.filter((e) => e.kind === "write").length).toBe(1000 + 1);
  });
});
