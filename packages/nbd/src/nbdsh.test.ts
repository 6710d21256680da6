import { afterEach, describe, expect, it } from "vitest";
import { NbdBackendError } from "./backend.js";
import { nbdsh, startServer, type TestServer } from "./test-support.js";

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

/** Python helper: the errno name a call fails with, or "ok". */
const ERR = `
def err(f):
    try:
        f()
        return "ok"
    except nbd.Error as e:
        return errno.errorcode.get(e.errnum, str(e.errnum))
`;

function lines(stdout: string): string[] {
  return stdout.trim().split("\n");
}

describe("pipelined requests (nbdsh, libnbd aio)", () => {
  it("serves 64 writes and 64 overlapping reads in flight at once, reads seeing the writes before them", async () => {
    const s = await serve();
    // Slow, uneven writes: a server that let the reads overtake them would return stale data.
    s.backend.gate = (call) =>
      call.op === "write" ? new Promise((r) => setTimeout(r, (call.offset / 65536) % 7)) : Promise.resolve();
    const r = await nbdsh(
      s.uri,
      `
h.connect_uri(URI)
N = 64
cookies = []
reads = []
for i in range(N):
    cookies.append(h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray([i + 1]) * 65536), i * 65536))
for i in range(N):
    b = nbd.Buffer(65536)
    reads.append(b)
    cookies.append(h.aio_pread(b, i * 65536))
print("in flight", h.aio_in_flight())
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    assert h.aio_command_completed(c)
bad = [i for i in range(N) if reads[i].to_bytearray() != bytearray([i + 1]) * 65536]
print("bad", bad)
`,
    );
    const out = lines(r.stdout);
    expect(Number(out[0]!.split(" ")[2])).toBeGreaterThan(1);
    expect(out[1]).toBe("bad []");
    expect(s.backend.maxConcurrent).toBeGreaterThan(1);
    for (let i = 0; i < 64; i++) {
      const w = s.backend.calls.findIndex((c) => c.op === "write" && c.offset === i * 65536);
      const rd = s.backend.calls.findIndex((c) => c.op === "read" && c.offset === i * 65536);
      expect(w).toBeGreaterThanOrEqual(0);
      expect(rd).toBeGreaterThan(w);
    }
  });

  it("keeps a flush after every write sent before it, and holds later writes until it is done", async () => {
    const s = await serve();
    const timeline: string[] = [];
    const tag = (c: { op: string; offset: number }) => (c.op === "flush" ? "F" : c.offset < 100 * 4096 ? "a" : "b");
    s.backend.gate = async (call) => {
      timeline.push(`+${tag(call)}`);
      await new Promise((r) => setTimeout(r, call.op === "flush" ? 20 : 2));
      timeline.push(`-${tag(call)}`);
    };
    await nbdsh(
      s.uri,
      `
h.connect_uri(URI)
cs = [h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(4096)), i * 4096) for i in range(8)]
cs.append(h.aio_flush())
cs += [h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(4096)), (100 + i) * 4096) for i in range(8)]
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cs:
    assert h.aio_command_completed(c)
`,
    );
    const flushStart = timeline.indexOf("+F");
    const flushEnd = timeline.indexOf("-F");
    expect(timeline.filter((e) => e === "-a")).toHaveLength(8);
    expect(timeline.lastIndexOf("-a")).toBeLessThan(flushStart);
    expect(timeline.indexOf("+b")).toBeGreaterThan(flushEnd);
    expect(timeline.filter((e) => e === "-b")).toHaveLength(8);
  });
});

describe.each([true, false])("odd requests (structured replies: %s)", (structured) => {
  const connect = `${ERR}
h.set_request_structured_replies(${structured ? "True" : "False"})
h.set_strict_mode(0)
h.connect_uri(URI)
assert h.get_structured_replies_negotiated() == ${structured ? "True" : "False"}
size = h.get_size()
`;

  it("answers zero-length requests with success without calling the backend", async () => {
    const s = await serve();
    const r = await nbdsh(
      s.uri,
      `${connect}
print(err(lambda: h.pread(0, 4096)))
print(err(lambda: h.pwrite(b"", 4096)))
print(err(lambda: h.trim(0, 4096)))
print(err(lambda: h.zero(0, 8192)))
print(err(lambda: h.pread(0, size)))
print(err(lambda: h.pread(0, size + 512)))
print(err(lambda: h.pwrite(b"", size + 512)))
`,
    );
    expect(lines(r.stdout)).toEqual(["ok", "ok", "ok", "ok", "ok", "EINVAL", "ENOSPC"]);
    expect(s.backend.calls).toEqual([]);
  });

  it("refuses requests past the end: ENOSPC for writes, EINVAL for reads and trims", async () => {
    const s = await serve();
    const r = await nbdsh(
      s.uri,
      `${connect}
print(err(lambda: h.pwrite(b"x" * 1024, size - 512)))
print(err(lambda: h.zero(1024, size - 512)))
print(err(lambda: h.pread(1024, size - 512)))
print(err(lambda: h.trim(1024, size - 512)))
print(err(lambda: h.pread(512, 2**63)))
print(err(lambda: h.pwrite(b"y" * 512, 2**64 - 256)))
print(err(lambda: h.pread(512, size - 512)))
`,
    );
    expect(lines(r.stdout)).toEqual(["ENOSPC", "ENOSPC", "EINVAL", "EINVAL", "EINVAL", "ENOSPC", "ok"]);
    expect(s.backend.calls).toEqual([{ op: "read", offset: 8 * MiB - 512, length: 512 }]);
  });

  it("refuses reads and writes over the maximum block size with EINVAL and stays in sync", async () => {
    const s = await serve({ size: 40 * MiB });
    const r = await nbdsh(
      s.uri,
      `${connect}
big = 33 * 1024 * 1024
print(h.get_block_size(nbd.SIZE_MAXIMUM))
print(err(lambda: h.pread(big, 0)))
print(err(lambda: h.pwrite(b"z" * big, 0)))
print(err(lambda: h.zero(big, 0, nbd.CMD_FLAG_FAST_ZERO)))
h.pwrite(b"q" * 512, 512)
print(h.pread(512, 512) == b"q" * 512)
`,
    );
    expect(lines(r.stdout)).toEqual([String(32 * MiB), "EINVAL", "EINVAL", "ENOTSUP", "True"]);
    expect(s.backend.calls.map((c) => `${c.op} ${c.length}`)).toEqual(["write 512", "read 512"]);
  });

  it("runs trim and write-zeroes (no payload) past the maximum block size, up to the export size", async () => {
    const s = await serve({ size: 40 * MiB });
    const r = await nbdsh(
      s.uri,
      `${connect}
size = h.get_size()
h.pwrite(b"d" * 4096, 36 * 1024 * 1024)
h.pwrite(b"e" * 4096, size - 4096)
print(err(lambda: h.zero(36 * 1024 * 1024 + 4096, 0)))
print(h.pread(4096, 36 * 1024 * 1024) == bytes(4096))
print(err(lambda: h.trim(size, 0)))
print(err(lambda: h.zero(size, 0)))
print(h.pread(4096, size - 4096) == bytes(4096))
print(err(lambda: h.zero(size + 512, 0)))
print(err(lambda: h.trim(size, 512)))
`,
    );
    expect(lines(r.stdout)).toEqual(["ok", "True", "ok", "ok", "True", "ENOSPC", "EINVAL"]);
    expect(s.backend.calls.filter((c) => c.op !== "read").map((c) => `${c.op} ${c.offset}+${c.length}`)).toEqual([
      `write ${36 * MiB}+4096`,
      `write ${40 * MiB - 4096}+4096`,
      `writeZeroes 0+${36 * MiB + 4096}`,
      `trim 0+${40 * MiB}`,
      `writeZeroes 0+${40 * MiB}`,
    ]);
  });

  it("refuses unknown and misplaced command flags with EINVAL", async () => {
    const s = await serve();
    const r = await nbdsh(
      s.uri,
      `${connect}
print(err(lambda: h.pread(512, 0, 0x40)))
print(err(lambda: h.pwrite(b"a" * 512, 0, nbd.CMD_FLAG_NO_HOLE)))
print(err(lambda: h.pread(512, 0, nbd.CMD_FLAG_FAST_ZERO)))
print(err(lambda: h.trim(512, 0, nbd.CMD_FLAG_DF)))
print(err(lambda: h.pread(512, 0, nbd.CMD_FLAG_DF)))
print(err(lambda: h.pread(512, 0, nbd.CMD_FLAG_FUA)))
`,
    );
    // DF is valid on reads only once structured replies are negotiated.
    expect(lines(r.stdout)).toEqual(["EINVAL", "EINVAL", "EINVAL", "EINVAL", structured ? "ok" : "EINVAL", "ok"]);
  });

  it("passes FUA, NO_HOLE and FAST_ZERO through to the backend", async () => {
    const s = await serve({
      overrides: { supports: { flush: true, fua: true, trim: true, writeZeroes: true, fastZero: true } },
    });
    s.backend.fail = (call) =>
      call.op === "writeZeroes" && call.fast && call.offset === 0 ? new NbdBackendError("ENOTSUP", "not fast here") : undefined;
    const r = await nbdsh(
      s.uri,
      `${connect}
print(err(lambda: h.pwrite(b"f" * 4096, 0, nbd.CMD_FLAG_FUA)))
print(err(lambda: h.trim(4096, 4096, nbd.CMD_FLAG_FUA)))
print(err(lambda: h.zero(4096, 8192, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)))
print(err(lambda: h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO)))
print(err(lambda: h.zero(4096, 12288, nbd.CMD_FLAG_FAST_ZERO)))
print(err(lambda: h.flush(nbd.CMD_FLAG_FUA)))
`,
    );
    expect(lines(r.stdout)).toEqual(["ok", "ok", "ok", "ENOTSUP", "ok", "ok"]);
    expect(s.backend.calls).toEqual([
      { op: "write", offset: 0, length: 4096, fua: true },
      { op: "trim", offset: 4096, length: 4096, fua: true },
      { op: "writeZeroes", offset: 8192, length: 4096, fua: true, noHole: true },
      { op: "writeZeroes", offset: 0, length: 4096, fua: false, noHole: false, fast: true },
      { op: "writeZeroes", offset: 12288, length: 4096, fua: false, noHole: false, fast: true },
      { op: "flush", offset: 0, length: 0 },
    ]);
  });

  it("maps backend failures to the errors the spec allows", async () => {
    const s = await serve();
    s.backend.fail = (call) => {
      if (call.offset === 0) return new NbdBackendError("EIO", "disk on fire");
      if (call.offset === 4096) return Object.assign(new Error("quota"), { code: "EDQUOT" });
      if (call.offset === 8192) return new NbdBackendError("ENOTSUP", "no");
      if (call.offset === 12288) return new Error("plain bug");
      return undefined;
    };
    const r = await nbdsh(
      s.uri,
      `${connect}
print(err(lambda: h.pread(512, 0)))
print(err(lambda: h.pwrite(b"w" * 512, 4096)))
print(err(lambda: h.trim(512, 8192)))
print(err(lambda: h.pwrite(b"w" * 512, 12288)))
print(err(lambda: h.pread(512, 16384)))
`,
    );
    expect(lines(r.stdout)).toEqual(["EIO", "ENOSPC", "EINVAL", "EIO", "ok"]);
  });

  it("answers writes on a read-only export with EPERM", async () => {
    const s = await serve({ overrides: { readOnly: true } });
    const r = await nbdsh(
      s.uri,
      `${connect}
print(h.is_read_only())
print(err(lambda: h.pwrite(b"a" * 512, 0)))
print(err(lambda: h.trim(512, 0)))
print(err(lambda: h.zero(512, 0)))
print(err(lambda: h.pread(512, 0)))
`,
    );
    expect(lines(r.stdout)).toEqual(["True", "EPERM", "EPERM", "EPERM", "ok"]);
    expect(s.backend.calls.map((c) => c.op)).toEqual(["read"]);
  });
});
