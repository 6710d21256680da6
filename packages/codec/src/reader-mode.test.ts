import { existsSync } from "node:fs";
import { addonPath, native } from "@lwlog/native";
import { describe, expect, it } from "vitest";
import { setReaderIo } from "./reader.js";

describe("the reader's mode", () => {
  it("is the one its vitest project asks for: mapped windows (LWLOG_MMAP=1), or plain reads", () => {
    const io = setReaderIo(native);
    setReaderIo(io);
    expect(io).toBe(native);
    const mapped = !!process.env.LWLOG_MMAP && !process.env.LWLOG_NO_NATIVE && !process.env.LWLOG_NO_MMAP && (process.env.CI === "true" || existsSync(addonPath));
    expect(native.maps, `native.reason: ${native.reason}`).toBe(mapped);
  });
});
