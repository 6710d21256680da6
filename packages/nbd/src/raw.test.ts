import { afterEach, describe, expect, it } from "vitest";
import { runAsync } from "@lwlog/testkit";
import type { NbdCloseInfo, NbdConnectionInfo } from "./connection.js";
import * as P from "./protocol.js";
import { RawClient, startServer, waitFor, type TestServer } from "./test-support.js";

const MiB = 1024 * 1024;
let servers: TestServer[] = [];

async function serve(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer & { closes: NbdCloseInfo[] }> {
  const s = await startServer(options);
  servers.push(s);
  const closes: NbdCloseInfo[] = [];
  s.server.on("close", (_c: NbdConnectionInfo, info: NbdCloseInfo) => closes.push(info));
  return Object.assign(s, { closes });
}

afterEach(async () => {
  for (const s of servers) await s.stop();
  servers = [];
});

/** The server still serves a real client. */
async function stillServes(s: TestServer): Promise<void> {
  await runAsync("qemu-io", ["-f", "raw", s.uri, "-c", "write -P 0x11 0 4k", "-c", "read -P 0x11 0 4k"]);
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

describe("handshake: bad input", () => {
  it("closes a connection that sends garbage instead of client flags, and serves the next client", async () => {
    const s = await serve();
    const c = await RawClient.connect(s.server);
    await c.read(18);
    c.write(text("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await c.closed();
    await waitFor(() => s.closes.length === 1, 2000, "close event");
    expect(s.closes[0]).toMatchObject({ reason: "protocol", message: "client sent unknown client flags 0x47455420" });
    await stillServes(s);
  });

  it("closes a connection that sends garbage instead of an option", async () => {
    const s = await serve();
    const c = await RawClient.connect(s.server);
    await c.greet();
    c.write(new Uint8Array(64).fill(0xee));
    await c.closed();
    await waitFor(() => s.closes.length === 1, 2000, "close event");
    expect(s.closes[0]!.reason).toBe("protocol");
    await stillServes(s);
  });

  it("closes a connection that sends nothing at all once the handshake times out", async () => {
    const s = await serve({ server: { handshakeTimeoutMs: 150 } });
    const c = await RawClient.connect(s.server);
    await c.closed();
    await waitFor(() => s.closes.length === 1, 2000, "close event");
    expect(s.closes[0]).toMatchObject({ reason: "timeout" });
    await stillServes(s);
  });

  it("answers unknown and unsupported options with NBD_REP_ERR_UNSUP and a message, then carries on", async () => {
    const s = await serve();
    const c = await RawClient.connect(s.server);
    await c.greet();
    for (const option of [99, P.Option.STARTTLS, P.Option.SET_META_CONTEXT, P.Option.LIST_META_CONTEXT, P.Option.EXTENDED_HEADERS]) {
      c.sendOption(option, new Uint8Array(10).fill(1));
      const r = await c.readOptionReply();
      expect(r.option).toBe(option);
      expect(r.type).toBe(P.Reply.ERR_UNSUP);
      expect(r.data.toString()).toMatch(/not supported by this server/);
    }
    c.sendOption(P.Option.GO, RawClient.goData("disk"));
    expect((await c.readOptionReply()).type).toBe(P.Reply.INFO);
    c.destroy();
  });

  it("answers malformed options with NBD_REP_ERR_INVALID", async () => {
    const s = await serve();
    const c = await RawClient.connect(s.server);
    await c.greet();
    const cases: Array<[number, Uint8Array, RegExp]> = [
      [P.Option.LIST, new Uint8Array(3), /takes no data/],
      [P.Option.STRUCTURED_REPLY, new Uint8Array(1), /takes no data/],
      [P.Option.GO, new Uint8Array(5), /too short/],
      [P.Option.GO, new Uint8Array([0, 0, 1, 0, 0, 0]), /runs past the option data/],
      [P.Option.INFO, new Uint8Array([0, 0, 0, 0, 0, 2, 0, 3]), /do not match the option length/],
      [P.Option.GO, new Uint8Array([0, 0, 0, 2, 0xff, 0xfe, 0, 0]), /not valid UTF-8/],
    ];
    for (const [option, data, message] of cases) {
      c.sendOption(option, data);
      const r = await c.readOptionReply();
      expect(r.type).toBe(P.Reply.ERR_INVALID);
      expect(r.data.toString()).toMatch(message);
    }
    c.destroy();
  });

  it("answers NBD_OPT_INFO with the export, block sizes, name and description, and stays in negotiation", async () => {
    const s = await serve({ server: { description: "about disk" } });
    const c = await RawClient.connect(s.server);
    await c.greet();
    c.sendOption(P.Option.INFO, RawClient.goData("", [P.Info.NAME, P.Info.DESCRIPTION, 77]));
    const infos = new Map<number, Buffer>();
    for (;;) {
      const r = await c.readOptionReply();
      if (r.type === P.Reply.ACK) break;
      expect(r.type).toBe(P.Reply.INFO);
      infos.set(r.data.readUInt16BE(0), r.data.subarray(2));
    }
    expect([...infos.keys()].sort()).toEqual([P.Info.EXPORT, P.Info.NAME, P.Info.DESCRIPTION, P.Info.BLOCK_SIZE]);
    expect(infos.get(P.Info.EXPORT)!.readBigUInt64BE(0)).toBe(8n * BigInt(MiB));
    expect(infos.get(P.Info.NAME)!.toString()).toBe("disk");
    expect(infos.get(P.Info.DESCRIPTION)!.toString()).toBe("about disk");
    const bs = infos.get(P.Info.BLOCK_SIZE)!;
    expect([bs.readUInt32BE(0), bs.readUInt32BE(4), bs.readUInt32BE(8)]).toEqual([1, 4096, 32 * MiB]);
    expect(s.server.clientCount).toBe(0);
    c.sendOption(P.Option.LIST);
    const server = await c.readOptionReply();
    expect(server.type).toBe(P.Reply.SERVER);
    expect(server.data.readUInt32BE(0)).toBe(4);
    expect(server.data.subarray(4).toString()).toBe("diskabout disk");
    expect((await c.readOptionReply()).type).toBe(P.Reply.ACK);
    c.sendOption(P.Option.ABORT);
    expect((await c.readOptionReply()).type).toBe(P.Reply.ACK);
    await c.closed();
    await waitFor(() => s.closes.length === 1, 2000, "close event");
    expect(s.closes[0]!.reason).toBe("abort");
  });

  it("reads and refuses an over-long option with NBD_REP_ERR_TOO_BIG, and hangs up on a huge one without waiting for it", async () => {
    const s = await serve();
    const c = await RawClient.connect(s.server);
    await c.greet();
    c.sendOption(P.Option.GO, new Uint8Array(100_000));
    const r = await c.readOptionReply();
    expect(r.type).toBe(P.Reply.ERR_TOO_BIG);
    c.sendOption(P.Option.GO, RawClient.goData("disk"));
    expect((await c.readOptionReply()).type).toBe(P.Reply.INFO);
    c.destroy();

    const huge = await RawClient.connect(s.server);
    await huge.greet();
    huge.sendOption(P.Option.GO, new Uint8Array(0), 0xffffffff);
    await huge.closed();
    await waitFor(() => s.closes.length === 2, 2000, "close events");
    expect(s.closes[1]).toMatchObject({ reason: "protocol", message: "NBD_OPT_GO of 4294967295 bytes exceeds the limit of 16384" });
  });

  it("hangs up on a client that keeps sending options past the limit", async () => {
    const s = await serve({ server: { maxOptions: 5 } });
    const c = await RawClient.connect(s.server);
    await c.greet();
    for (let i = 0; i < 6; i++) c.sendOption(P.Option.STRUCTURED_REPLY);
    for (let i = 0; i < 5; i++) expect((await c.readOptionReply()).type).toBe(P.Reply.ACK);
    await c.closed();
    await waitFor(() => s.closes.length === 1, 2000, "close event");
    expect(s.closes[0]).toMatchObject({ reason: "protocol", message: "more than 5 options in one handshake" });
  });

  it("serves NBD_OPT_EXPORT_NAME with and without the 124 zero bytes, and hangs up on unknown names", async () => {
    const s = await serve();
    for (const noZeroes of [true, false]) {
      const c = await RawClient.connect(s.server);
      await c.greet(P.ClientFlag.FIXED_NEWSTYLE | (noZeroes ? P.ClientFlag.NO_ZEROES : 0));
      c.sendOption(P.Option.EXPORT_NAME, text("disk"));
      const reply = await c.read(noZeroes ? 10 : 134);
      expect(reply.readBigUInt64BE(0)).toBe(8n * BigInt(MiB));
      expect(reply.readUInt16BE(8) & P.TransmissionFlag.HAS_FLAGS).toBe(1);
      if (!noZeroes) expect(reply.subarray(10).every((b) => b === 0)).toBe(true);
      c.request(P.Command.READ, { handle: 5n, offset: 0, length: 8 });
      expect(await c.readSimpleReply()).toEqual({ error: 0, handle: 5n });
      expect([...(await c.read(8))]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
      c.request(P.Command.DISC);
      await c.closed();
    }
    const bad = await RawClient.connect(s.server);
    await bad.greet();
    bad.sendOption(P.Option.EXPORT_NAME, text("other"));
    await bad.closed();
    await waitFor(() => s.closes.length === 3, 2000, "close events");
    expect(s.closes[2]).toMatchObject({ reason: "refused", message: 'unknown export "other" (NBD_OPT_EXPORT_NAME)' });
  });

  it("closes connections beyond maxConnections at once", async () => {
    const s = await serve({ server: { maxConnections: 2 } });
    const a = await RawClient.connect(s.server);
    const b = await RawClient.connect(s.server);
    await a.read(18);
    await b.read(18);
    const c = await RawClient.connect(s.server);
    await c.closed();
    a.destroy();
    b.destroy();
    await waitFor(() => s.server.connectionCount === 0, 2000, "no connections");
    await stillServes(s);
  });
});

describe.each([false, true])("transmission: bad input (structured replies: %s)", (structured) => {
  async function client(s: TestServer): Promise<RawClient> {
    const c = await RawClient.connect(s.server);
    await c.handshake({ structured });
    return c;
  }

  /** Reads one reply to a non-read request: its error and, for structured errors, the message. */
  async function reply(c: RawClient): Promise<{ handle: bigint; error: number; message?: string }> {
    if (!structured) return c.readSimpleReply();
    const head = await c.read(4);
    const magic = head.readUInt32BE(0);
    if (magic === P.SIMPLE_REPLY_MAGIC) {
      const rest = await c.read(12);
      return { error: rest.readUInt32BE(0), handle: rest.readBigUInt64BE(4) };
    }
    const rest = await c.read(16);
    expect(rest.readUInt16BE(0)).toBe(P.REPLY_FLAG_DONE);
    expect(rest.readUInt16BE(2)).toBe(P.ChunkType.ERROR);
    const payload = await c.read(rest.readUInt32BE(12));
    const length = payload.readUInt16BE(4);
    return { handle: rest.readBigUInt64BE(4), error: payload.readUInt32BE(0), message: payload.subarray(6, 6 + length).toString() };
  }

  it("answers unknown and unsupported commands with EINVAL", async () => {
    const s = await serve();
    const c = await client(s);
    for (const [type, text] of [
      [99, "command 99 is not supported by this server"],
      [P.Command.BLOCK_STATUS, "NBD_CMD_BLOCK_STATUS is not supported by this server"],
      [P.Command.CACHE, "NBD_CMD_CACHE is not supported by this server"],
    ] as const) {
      c.request(type, { handle: 42n, offset: 0, length: 512 });
      const r = await reply(c);
      expect(r).toMatchObject({ handle: 42n, error: P.ErrorCode.EINVAL });
      if (structured) expect(r.message).toBe(text);
    }
    c.request(P.Command.FLUSH, { handle: 43n, offset: 1, length: 0 });
    expect(await reply(c)).toMatchObject({ handle: 43n, error: P.ErrorCode.EINVAL });
    expect(s.backend.calls).toEqual([]);
    c.destroy();
  });

  it("reads a refused write's payload and stays in sync", async () => {
    const s = await serve();
    const c = await client(s);
    const payload = new Uint8Array(64 * 1024).fill(0x99);
    c.request(P.Command.WRITE, { handle: 1n, offset: 8 * MiB - 512, data: payload });
    c.request(P.Command.WRITE, { handle: 2n, offset: 0, flags: 0x4000, data: payload });
    c.request(P.Command.WRITE, { handle: 3n, offset: 4096, data: payload.subarray(0, 512) });
    const replies = [await reply(c), await reply(c), await reply(c)].sort((a, b) => Number(a.handle - b.handle));
    expect(replies.map((r) => [r.handle, r.error])).toEqual([
      [1n, P.ErrorCode.ENOSPC],
      [2n, P.ErrorCode.EINVAL],
      [3n, 0],
    ]);
    if (structured) expect(replies[0]!.message).toBe("NBD_CMD_WRITE of 65536 bytes at offset 8388096 is past the end of the export (8388608 bytes)");
    expect(s.backend.calls).toEqual([{ op: "write", offset: 4096, length: 512, fua: false }]);
    c.destroy();
  });

  it("answers a read with its data, in the reply style negotiated", async () => {
    const s = await serve();
    await s.file.write(1000, new Uint8Array([1, 2, 3, 4, 5]), { fua: false });
    const c = await client(s);
    c.request(P.Command.READ, { handle: 7n, offset: 1000, length: 5, flags: structured ? P.CommandFlag.DF : 0 });
    if (structured) {
      const chunk = await c.readChunk();
      expect(chunk).toMatchObject({ flags: P.REPLY_FLAG_DONE, type: P.ChunkType.OFFSET_DATA, handle: 7n });
      expect(chunk.payload.readBigUInt64BE(0)).toBe(1000n);
      expect([...chunk.payload.subarray(8)]).toEqual([1, 2, 3, 4, 5]);
    } else {
      expect(await c.readSimpleReply()).toEqual({ error: 0, handle: 7n });
      expect([...(await c.read(5))]).toEqual([1, 2, 3, 4, 5]);
    }
    c.request(P.Command.READ, { handle: 8n, offset: 8 * MiB, length: 1 });
    if (structured) {
      const chunk = await c.readChunk();
      expect(chunk).toMatchObject({ flags: P.REPLY_FLAG_DONE, type: P.ChunkType.ERROR, handle: 8n });
      expect(chunk.payload.readUInt32BE(0)).toBe(P.ErrorCode.EINVAL);
    } else {
      // No payload follows a failed simple read reply.
      expect(await c.readSimpleReply()).toEqual({ error: P.ErrorCode.EINVAL, handle: 8n });
    }
    c.request(P.Command.DISC);
    await c.closed();
  });

  it("closes the connection on a bad request magic", async () => {
    const s = await serve();
    const c = await client(s);
    c.write(new Uint8Array(28).fill(0x42));
    await c.closed();
    await waitFor(() => s.closes.length === 1, 2000, "close event");
    expect(s.closes[0]).toMatchObject({ reason: "protocol" });
    await stillServes(s);
  });

  it("copes with a client that disconnects in the middle of a request header or payload", async () => {
    const s = await serve();
    const half = await client(s);
    half.write(new Uint8Array([0x25, 0x60, 0x95, 0x13, 0, 0, 0, 1, 0, 0]));
    await new Promise((r) => setTimeout(r, 20));
    half.destroy();
    const torn = await client(s);
    const header = new Uint8Array(28);
    const v = new DataView(header.buffer);
    v.setUint32(0, P.REQUEST_MAGIC);
    v.setUint16(6, P.Command.WRITE);
    v.setUint32(24, MiB);
    torn.write(header);
    torn.write(new Uint8Array(1000));
    await new Promise((r) => setTimeout(r, 20));
    torn.destroy();
    await waitFor(() => s.closes.length === 2, 2000, "close events");
    expect(s.closes.map((c) => c.reason)).toEqual(["eof", "eof"]);
    expect(s.closes[0]!.message).toMatch(/in the middle of a message \(10 bytes of it received\)/);
    expect(s.closes[1]!.message).toMatch(/in the middle of a message \(1000 bytes of it received\)/);
    expect(s.backend.calls).toEqual([]);
    await stillServes(s);
  });

  it("lets backend calls of a vanished client finish before reporting it closed", async () => {
    const s = await serve();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    s.backend.gate = () => held;
    const c = await client(s);
    for (let i = 0; i < 8; i++) c.request(P.Command.WRITE, { handle: BigInt(i), offset: i * 4096, data: new Uint8Array(4096) });
    await waitFor(() => s.backend.calls.length === 8, 2000, "writes in flight");
    c.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(s.closes).toEqual([]);
    expect(s.server.clientCount).toBe(1); // still owns the export: a new client would be refused
    release();
    await waitFor(() => s.closes.length === 1, 2000, "close event");
    expect(s.backend.concurrent).toBe(0);
    expect(s.server.clientCount).toBe(0);
    await stillServes(s);
  });

  it("finishes requests in flight before honouring NBD_CMD_DISC", async () => {
    const s = await serve();
    s.backend.gate = () => new Promise((r) => setTimeout(r, 30));
    const c = await client(s);
    for (let i = 0; i < 4; i++) c.request(P.Command.WRITE, { handle: BigInt(i), offset: i * 4096, data: new Uint8Array(4096).fill(i + 1) });
    c.request(P.Command.DISC);
    const handles: bigint[] = [];
    for (let i = 0; i < 4; i++) handles.push((await reply(c)).handle);
    expect(handles.sort()).toEqual([0n, 1n, 2n, 3n]);
    await c.closed();
    await waitFor(() => s.closes.length === 1, 2000, "close event");
    expect(s.closes[0]).toMatchObject({ reason: "disconnect", requests: 4 });
  });
});

describe("floods", () => {
  it("reads no further than the in-flight limit while the backend is busy, then answers every request", async () => {
    const s = await serve({ server: { maxInFlightRequests: 16 } });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    s.backend.gate = () => held;
    const c = await RawClient.connect(s.server);
    await c.handshake();
    const n = 5000;
    for (let i = 0; i < n; i++) c.request(P.Command.READ, { handle: BigInt(i), offset: (i % 2048) * 4096, length: 4096 });
    await waitFor(() => s.backend.calls.length === 16, 2000, "16 reads in flight");
    await new Promise((r) => setTimeout(r, 100));
    expect(s.backend.calls.length).toBe(16);
    release();
    const seen = new Set<bigint>();
    for (let i = 0; i < n; i++) {
      const r = await c.readSimpleReply();
      expect(r.error).toBe(0);
      seen.add(r.handle);
      await c.read(4096);
    }
    expect(seen.size).toBe(n);
    c.request(P.Command.DISC);
    await c.closed();
  });

  it("holds write payloads within the byte limit", async () => {
    const s = await serve({ server: { maxInFlightBytes: MiB } });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    s.backend.gate = () => held;
    const c = await RawClient.connect(s.server);
    await c.handshake();
    const data = new Uint8Array(64 * 1024).fill(0x3c);
    for (let i = 0; i < 200; i++) c.request(P.Command.WRITE, { handle: BigInt(i), offset: (i % 100) * data.length, data });
    await waitFor(() => s.backend.calls.length >= 10, 2000, "writes in flight");
    await new Promise((r) => setTimeout(r, 100));
    // 64 KiB + 512 bytes of overhead each: at most 15 fit in 1 MiB.
    expect(s.backend.calls.length).toBeLessThanOrEqual(15);
    release();
    for (let i = 0; i < 200; i++) expect((await c.readSimpleReply()).error).toBe(0);
    expect(s.backend.calls).toHaveLength(200);
  });

  it("stops reading from a client that does not read its replies, and recovers when it goes", async () => {
    const s = await serve({ size: 256 * MiB });
    const c = await RawClient.connect(s.server);
    await c.handshake();
    c.socket.pause(); // never read: replies pile up in the kernel, then the server must stop
    const n = 4096;
    for (let i = 0; i < n; i++) c.request(P.Command.READ, { handle: BigInt(i), offset: i * 65536, length: 65536 });
    // Wait until the server has stopped: no new backend call over a 200 ms window.
    const deadline = Date.now() + 10_000;
    for (let before = -1; ; ) {
      const now = s.backend.calls.length;
      if (now === before && now > 0) break;
      if (Date.now() > deadline) throw new Error(`the server kept reading (${now} requests)`);
      before = now;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(s.backend.calls.length).toBeLessThan(n);
    c.destroy();
    await waitFor(() => s.server.connectionCount === 0, 5000, "the connection to go");
    expect(s.closes[0]!.reason).toMatch(/eof|error/);
    await stillServes(s);
  });
});
