import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { randomBytes, runAsync, sha256, sha256File } from "@lwlog/testkit";
import { FileBackend } from "./file-backend.js";
import { NbdServer } from "./server.js";
import type { NbdCloseInfo, NbdConnectionInfo, NbdLogEvent } from "./connection.js";
import { RawClient, startServer, waitFor, type TestServer } from "./test-support.js";
import * as P from "./protocol.js";

const MiB = 1024 * 1024;
let servers: TestServer[] = [];

async function serve(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(options);
  servers.push(s);
  return s;
}

afterEach(async () => {
  for (const s of servers) await s.stop();
  servers = [];
});

interface NbdinfoExport {
  "export-name": string;
  description?: string;
  "export-size": number;
  is_read_only: boolean;
  can_flush: boolean;
  can_fua: boolean;
  can_trim: boolean;
  can_zero: boolean;
  can_fast_zero: boolean;
  can_df: boolean;
  can_multi_conn: boolean;
  can_cache: boolean;
  block_size_minimum: number;
  block_size_preferred: number;
  block_size_maximum: number;
}

async function nbdinfoJson(
  uri: string,
  extra: string[] = [],
): Promise<{ protocol: string; structured: boolean; exports: NbdinfoExport[] }> {
  return JSON.parse((await runAsync("nbdinfo", ["--json", ...extra, uri])).stdout);
}

describe.each([false, true])("nbdinfo (unix socket: %s)", (unix) => {
  it("shows the export with its size, flags and block sizes", async () => {
    const s = await serve({ unix, size: 12 * MiB, server: { description: "test disk" } });
    expect(s.uri).toMatch(unix ? /^nbd\+unix:\/\/\/disk\?socket=\/.*nbd\.sock$/ : /^nbd:\/\/127\.0\.0\.1:\d+\/disk$/);
    const info = await nbdinfoJson(s.uri);
    expect(info.protocol).toBe("newstyle-fixed");
    expect(info.structured).toBe(true);
    expect(info.exports).toHaveLength(1);
    expect(info.exports[0]).toMatchObject({
      "export-name": "disk",
      description: "test disk",
      "export-size": 12 * MiB,
      is_read_only: false,
      can_flush: true,
      can_fua: true,
      can_trim: true,
      can_zero: true,
      can_fast_zero: true,
      can_df: true,
      can_multi_conn: false, // one client at a time by default
      can_cache: false,
      block_size_minimum: 1,
      block_size_preferred: 4096,
      block_size_maximum: 32 * MiB,
    });
  });

  it("lists the export with --list", async () => {
    const s = await serve({ unix, server: { description: "listed" } });
    const info = await nbdinfoJson(s.uri, ["--list"]);
    expect(info.exports.map((e) => [e["export-name"], e.description])).toEqual([["disk", "listed"]]);
  });
});

describe("export properties", () => {
  it("advertises a read-only export and refuses writes with EPERM", async () => {
    const s = await serve({ overrides: { readOnly: true } });
    const info = (await nbdinfoJson(s.uri)).exports[0]!;
    expect(info).toMatchObject({ is_read_only: true, can_trim: false, can_zero: false, can_fua: false, can_flush: true });
    // qemu refuses to open it for writing; a client that writes anyway gets EPERM (nbdsh tests).
    const r = await runAsync("qemu-io", ["-f", "raw", s.uri, "-c", "write 0 4k"], { check: false });
    expect(r.status).not.toBe(0);
    await runAsync("qemu-io", ["-f", "raw", "-r", s.uri, "-c", "read -P 0 0 4k"]);
    expect(s.backend.calls.filter((c) => c.op === "write")).toEqual([]);
  });

  it("advertises the backend's block sizes and what it supports", async () => {
    const s = await serve({
      overrides: {
        blockSizes: { minimum: 512, preferred: 65536, maximum: 4 * MiB },
        supports: { flush: false, fua: false, trim: false, writeZeroes: false },
      },
    });
    const info = (await nbdinfoJson(s.uri)).exports[0]!;
    expect(info).toMatchObject({
      block_size_minimum: 512,
      block_size_preferred: 65536,
      block_size_maximum: 4 * MiB,
      can_flush: false,
      can_fua: false,
      can_trim: false,
      can_zero: false,
      can_fast_zero: false,
    });
  });

  it("accepts the empty (default) export name and refuses unknown names with a message", async () => {
    const s = await serve();
    const logs: NbdLogEvent[] = [];
    s.server.on("log", (e: NbdLogEvent) => logs.push(e));
    const port = (s.server.address as { port: number }).port;
    expect((await nbdinfoJson(`nbd://127.0.0.1:${port}/`)).exports[0]!["export-size"]).toBe(8 * MiB);
    const r = await runAsync("nbdinfo", [`nbd://127.0.0.1:${port}/nope`], { check: false });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("No such file or directory for export: nope"); // libnbd's words for NBD_REP_ERR_UNKNOWN
    expect(logs.map((e) => e.message)).toContain('refused NBD_OPT_GO: unknown export "nope"; this server exports "disk"');
  });

  it("rejects block sizes the spec forbids", async () => {
    const file = await FileBackend.create(join((await serve()).dir, "other.img"), MiB);
    try {
      for (const blockSizes of [
        { minimum: 3, preferred: 4096, maximum: MiB },
        { minimum: 512, preferred: 256, maximum: MiB },
        { minimum: 4096, preferred: 4096, maximum: 6000 },
      ]) {
        const backend = { ...file, size: file.size, supports: file.supports, blockSizes } as unknown as FileBackend;
        expect(() => new NbdServer({ backend })).toThrow(RangeError);
      }
    } finally {
      await file.close();
    }
  });
});

describe.each([false, true])("nbdcopy (unix socket: %s)", (unix) => {
  it("copies a random file into the export and back, byte for byte", async () => {
    const size = 24 * MiB;
    const s = await serve({ unix, size });
    const src = join(s.dir, "src.bin");
    const data = randomBytes(size, unix ? 7 : 8);
    writeFileSync(src, data);
    await runAsync("nbdcopy", ["--flush", src, s.uri]);
    expect(sha256File(s.image)).toBe(sha256(data));
    const back = join(s.dir, "back.bin");
    await runAsync("nbdcopy", [s.uri, back]);
    expect(sha256File(back)).toBe(sha256(data));
    expect(s.backend.calls.some((c) => c.op === "flush")).toBe(true);
    expect(s.backend.maxConcurrent).toBeGreaterThan(1); // nbdcopy pipelines; the server runs requests concurrently
  });
});

describe("qemu-io", () => {
  it("writes, FUA writes, discards, write-zeroes and flushes reach the backend with the right flags", async () => {
    const s = await serve({ unix: true });
    const commands = [
      "write -P 0xaa 0 64k",
      "write -f -P 0xbb 64k 4k",
      "discard 128k 64k",
      "write -z 256k 32k",
      "write -z -u 320k 32k",
      "write -z -f 384k 4k",
      "flush",
      "read -P 0xaa 0 64k",
      "read -P 0xbb 64k 4k",
      "read -P 0 256k 32k",
    ];
    const r = await runAsync("qemu-io", ["-f", "raw", "-t", "writeback", s.uri, ...commands.flatMap((c) => ["-c", c])]);
    expect(r.stdout).not.toMatch(/fail|error|mismatch/i);
    const mutating = s.backend.calls.filter((c) => c.op !== "read");
    expect(mutating).toEqual([
      { op: "write", offset: 0, length: 65536, fua: false },
      { op: "write", offset: 65536, length: 4096, fua: true },
      { op: "trim", offset: 131072, length: 65536, fua: false },
      { op: "writeZeroes", offset: 262144, length: 32768, fua: false, noHole: true },
      { op: "writeZeroes", offset: 327680, length: 32768, fua: false, noHole: false },
      { op: "writeZeroes", offset: 393216, length: 4096, fua: true, noHole: true },
      { op: "flush", offset: 0, length: 0 },
      { op: "flush", offset: 0, length: 0 }, // qemu flushes again when it closes the image
    ]);
  });

  it("sees its writes through a second connection after the first one closed", async () => {
    const s = await serve();
    await runAsync("qemu-io", ["-f", "raw", s.uri, "-c", "write -P 0x5c 1M 1M"]);
    await runAsync("qemu-io", ["-f", "raw", s.uri, "-c", "read -P 0x5c 1M 1M", "-c", "read -P 0 0 1M"]);
  });
});

describe("clients and events", () => {
  it("reports connections opening and closing, and counts clients", async () => {
    const s = await serve();
    const events: string[] = [];
    s.server.on("connect", (c: NbdConnectionInfo) => events.push(`connect ${c.id} ${c.phase}`));
    s.server.on("open", (c: NbdConnectionInfo) => events.push(`open ${c.id} ${c.exportName} ${c.structuredReplies}`));
    s.server.on("close", (c: NbdConnectionInfo, i: NbdCloseInfo) => events.push(`close ${c.id} ${i.reason}`));
    const raw = await RawClient.connect(s.server);
    await raw.handshake({ structured: true });
    await waitFor(() => s.server.clientCount === 1, 2000, "client count 1");
    raw.request(P.Command.DISC);
    await raw.closed();
    await waitFor(() => s.server.connectionCount === 0, 2000, "no connections");
    expect(s.server.clientCount).toBe(0);
    expect(events).toEqual(["connect 1 handshake", "open 1 disk true", "close 1 disconnect"]);
  });

  it("refuses a second client by default, with a message, and accepts one after the first leaves", async () => {
    const s = await serve();
    const logs: NbdLogEvent[] = [];
    s.server.on("log", (e: NbdLogEvent) => logs.push(e));
    const first = await RawClient.connect(s.server);
    await first.handshake();
    // Handshake-only questions are still answered while a client is connected.
    expect((await runAsync("nbdinfo", ["--list", s.uri])).stdout).toContain('export="disk"');
    const refused = await runAsync("qemu-io", ["-f", "raw", s.uri, "-c", "read 0 512"], { check: false });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("in use by another client");
    const second = await RawClient.connect(s.server);
    await second.greet();
    second.sendOption(P.Option.GO, RawClient.goData("disk"));
    const reply = await second.readOptionReply();
    expect(reply.type).toBe(P.Reply.ERR_POLICY);
    expect(reply.data.toString()).toMatch(/in use by another client \(connection 1 from 127\.0\.0\.1:\d+\); this server serves one client at a time/);
    expect(logs.some((e) => e.level === "warn" && e.message.includes("refused NBD_OPT_GO"))).toBe(true);
    first.request(P.Command.DISC);
    await first.closed();
    await waitFor(() => s.server.clientCount === 0, 2000, "first client gone");
    // The refused connection may retry on the same socket.
    second.sendOption(P.Option.GO, RawClient.goData("disk"));
    const retry = await second.readOptionReply();
    expect(retry.type).toBe(P.Reply.INFO);
    second.destroy();
  });

  it("serves several clients in share mode, with CAN_MULTI_CONN and one order", async () => {
    const s = await serve({ size: 16 * MiB, server: { multiClient: "share" } });
    expect((await nbdinfoJson(s.uri)).exports[0]!.can_multi_conn).toBe(true);
    const a = await RawClient.connect(s.server);
    const b = await RawClient.connect(s.server);
    await a.handshake();
    await b.handshake();
    expect(s.server.clientCount).toBe(2);
    const src = join(s.dir, "src.bin");
    const data = randomBytes(16 * MiB, 3);
    writeFileSync(src, data);
    await runAsync("nbdcopy", ["-C", "4", src, s.uri]);
    expect(sha256File(s.image)).toBe(sha256(data));
    a.destroy();
    b.destroy();
  });
});

describe("listening", () => {
  it("listens on 127.0.0.1 and a free port by default, and frees a Unix socket path on close", async () => {
    const s = await serve();
    const server = new NbdServer({ backend: s.backend });
    await server.listen();
    expect(server.address).toMatchObject({ host: "127.0.0.1" });
    expect(server.uri).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await nbdinfoJson(server.uri)).exports[0]!["export-name"]).toBe("");
    const busy = new NbdServer({ backend: s.backend });
    await expect(busy.listen({ port: (server.address as { port: number }).port })).rejects.toThrow(/EADDRINUSE/);
    await server.close();
    const path = join(s.dir, "other.sock");
    const unix = new NbdServer({ backend: s.backend, listen: { socket: path } });
    await unix.listen();
    expect(existsSync(path)).toBe(true);
    await unix.close();
    expect(existsSync(path)).toBe(false);
  });
});

describe("close()", () => {
  it("lets requests in flight finish, answers later ones with ESHUTDOWN, then closes", async () => {
    const s = await serve();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    s.backend.gate = (call) => (call.op === "write" ? held : Promise.resolve());
    const raw = await RawClient.connect(s.server);
    await raw.handshake();
    raw.request(P.Command.WRITE, { handle: 1n, offset: 0, data: new Uint8Array(4096).fill(7) });
    await waitFor(() => s.backend.calls.length === 1, 2000, "write in flight");
    let closed = false;
    const closing = s.server.close({ timeoutMs: 5000 }).then(() => (closed = true));
    raw.request(P.Command.READ, { handle: 2n, offset: 0, length: 512 });
    const late = await raw.readSimpleReply();
    expect(late).toEqual({ error: P.ErrorCode.ESHUTDOWN, handle: 2n });
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    release();
    expect(await raw.readSimpleReply()).toEqual({ error: 0, handle: 1n });
    await closing;
    await raw.closed();
    expect(s.server.connectionCount).toBe(0);
    // New connections are no longer accepted.
    await expect(RawClient.connect(s.server)).rejects.toThrow();
  });

  it("cuts clients off after the timeout but still waits for the backend", async () => {
    const s = await serve();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    s.backend.gate = () => held;
    const raw = await RawClient.connect(s.server);
    await raw.handshake();
    raw.request(P.Command.FLUSH, { handle: 9n });
    await waitFor(() => s.backend.calls.length === 1, 2000, "flush in flight");
    let closed = false;
    const closing = s.server.close({ timeoutMs: 100 }).then(() => (closed = true));
    await raw.closed(); // hard disconnect at the timeout
    expect(closed).toBe(false); // the flush is still running
    release();
    await closing;
    expect(s.backend.concurrent).toBe(0);
  });
});
