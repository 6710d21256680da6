import { describe, expect, it } from "vitest";
import { Output, palette, useColor, type CliIo } from "./io.js";
import { MemoryStream } from "./testing.js";

function io(tty: boolean, env: Record<string, string | undefined> = {}): CliIo {
  return { stdout: new MemoryStream(tty), stderr: new MemoryStream(tty), env, cwd: "/" };
}

describe("colour", () => {
  it("colours only an injected terminal stream, whatever the real process stdout is", () => {
    expect(palette(io(true)).red("x")).toBe("\u001b[31mx\u001b[39m");
    expect(palette(io(false)).red("x")).toBe("x");
  });

  it("honours NO_COLOR (any non-empty value) and FORCE_COLOR", () => {
    expect(useColor(io(true, { NO_COLOR: "1" }))).toBe(false);
    expect(palette(io(true, { NO_COLOR: "1" })).green("ok")).toBe("ok");
    expect(useColor(io(true, { NO_COLOR: "" }))).toBe(true);
    expect(useColor(io(false, { FORCE_COLOR: "1" }))).toBe(true);
  });
});

describe("Output", () => {
  it("batches writes and waits for drain when the stream is full", async () => {
    const writes: string[] = [];
    let drain: (() => void) | undefined;
    const stream = {
      write(s: string | Uint8Array) {
        writes.push(String(s));
        return false;
      },
      once(_e: "drain", fn: () => void) {
        drain = fn;
      },
    };
    const out = new Output(stream);
    expect(out.line("a")).toBeUndefined();
    const flushed = out.flush();
    expect(writes).toEqual(["a\n"]);
    let done = false;
    void flushed.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    drain!();
    await flushed;
    expect(done).toBe(true);
  });
});
