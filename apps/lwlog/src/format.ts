import { createRequire } from "node:module";
import { u64ToJson } from "@lwlog/codec/core";
import type { CliIo, OutStream } from "./io.js";
import { useColor } from "./io.js";

// cli-table3 is loaded only when a table is drawn on a terminal: commands that print JSON
// or plain text should not pay for it at start-up.
const require = createRequire(import.meta.url);
let tableClass: typeof import("cli-table3") | undefined;

/** JSON text for a value that may hold bigints (u64s become numbers or exact decimal strings). */
export function toJson(value: unknown, indent: number | undefined = 2): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? u64ToJson(v) : v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v), indent);
}

/** Column alignment for `renderTable`. */
export type Align = "left" | "right";

/**
 * A table: boxed (cli-table3) on a terminal, plain space-aligned columns when piped so
 * that `cut`, `awk` and `column` work on it.
 */
export function renderTable(io: CliIo, head: string[], rows: string[][], align: Align[] = [], stream: OutStream = io.stdout): string {
  if (stream.isTTY === true) {
    tableClass ??= require("cli-table3") as typeof import("cli-table3");
    const t = new tableClass({
      head,
      colAligns: head.map((_, i) => align[i] ?? "left"),
      // No rule between rows: a long listing stays one line per row.
      chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
      style: { head: useColor(io, stream) ? ["cyan"] : [], border: useColor(io, stream) ? ["grey"] : [] },
    });
    for (const r of rows) t.push(r);
    return t.toString() + "\n";
  }
  return plainTable(head, rows, align);
}

/** Space-aligned columns with a header line. */
export function plainTable(head: string[], rows: string[][], align: Align[] = []): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (align[i] === "right" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [fmt(head), ...rows.map(fmt)].join("\n") + "\n";
}

/** Bytes in a human unit (binary prefixes): `4.0 KiB`, `1.5 GiB`. */
export function humanBytes(n: number | bigint): string {
  const v = Number(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let x = v;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${x.toFixed(1)} ${units[i]}`;
}
