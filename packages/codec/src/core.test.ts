import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as core from "./core.js";
import * as full from "./index.js";

const here = dirname(fileURLToPath(import.meta.url));
const SCHEMAS = ["U64Json", "LogSuperJsonSchema", "LogEntryJsonSchema"];

/** Every module `file` imports at run time (not `import type`), transitively, as paths. */
function runtimeGraph(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?\sfrom\s+"([^"]+)"/gms)) {
    const spec = m[1]!;
    if (spec.startsWith("./")) runtimeGraph(join(here, spec.replace(/\.js$/, ".ts")), seen);
    else seen.add(spec);
  }
  return seen;
}

describe("@lwlog/codec/core", () => {
  it("exports everything @lwlog/codec does except the zod schemas, as the same objects", () => {
    const expected = Object.keys(full).filter((k) => !SCHEMAS.includes(k)).sort();
    expect(Object.keys(core).sort()).toEqual(expected);
    for (const k of expected) expect((core as Record<string, unknown>)[k]).toBe((full as Record<string, unknown>)[k]);
    for (const k of SCHEMAS) expect(full).toHaveProperty(k);
  });

  it("does not load zod, while the full entry does", () => {
    const coreGraph = runtimeGraph(join(here, "core.ts"));
    expect(coreGraph.has(join(here, "reader.ts"))).toBe(true);
    expect([...coreGraph].filter((m) => m === "zod" || m.startsWith("zod/"))).toEqual([]);
    expect(runtimeGraph(join(here, "index.ts")).has("zod")).toBe(true);
  });
});
