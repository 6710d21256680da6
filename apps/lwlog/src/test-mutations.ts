/**
 * The mutations of the CLI fuzzer (fuzz.test.ts), test-only: of logs (a field of a real
 * entry's header, bit flips, extreme u64s, superblock fields, truncation, splices of another
 * log) and of exports' text (cut, lines dropped, repeated or swapped, a character, a field's
 * value, a CSV cell).
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { LogFile, SUPER_FIELDS, decodeEntryHeader, entryDataBytes } from "@lwlog/codec";

/** Entries `[from, from+n)` of a log, as a log of their own (a superblock declaring them), at most ~`maxBytes`. */
export function excerpt(path: string, from: number, maxBytes: number): Uint8Array {
  const all = new Uint8Array(readFileSync(path));
  const log = LogFile.openSync(path);
  try {
    const c = log.cursor();
    const offsets: number[] = [];
    let end = 0;
    for (let e = c.next(); e !== undefined; e = c.next()) {
      if (e.index < from) continue;
      if (offsets.length > 0 && e.nextOffset - offsets[0]! > maxBytes) break;
      offsets.push(e.offset);
      end = e.nextOffset;
    }
    const S = log.sectorSize;
    const out = new Uint8Array(S + end - offsets[0]!);
    out.set(all.subarray(0, S));
    out.set(all.subarray(offsets[0]!, end), S);
    new DataView(out.buffer).setBigUint64(SUPER_FIELDS.nrEntries, BigInt(offsets.length), true);
    return out;
  } finally {
    log.close();
  }
}

const EXTREMES = [0n, 1n, 7n, 0xffn, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 44n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];

export type LogMutation =
  | { kind: "entry"; which: number; field: number; value: bigint }
  | { kind: "flip"; at: number; bit: number }
  | { kind: "u64"; block: number; field: number; value: bigint }
  | { kind: "super"; field: "nrEntries" | "sectorSize"; value: bigint }
  | { kind: "truncate"; at: number }
  | { kind: "splice"; at: number; from: number; start: number; length: number };

/** Flag sets entries have (and a few nobody defines). */
const FLAG_VALUES = [0n, 1n, 2n, 3n, 4n, 8n, 16n, 17n, 18n, 19n, 5n, 12n, 9n, 0x20n, 2n ** 63n];

export const logMutation: fc.Arbitrary<LogMutation> = fc.oneof(
  // A field of a real entry's header: most such logs still read, oddly (a sector anywhere, other flags).
  {
    weight: 5,
    arbitrary: fc.oneof(
      fc.record({ kind: fc.constant("entry" as const), which: fc.nat(), field: fc.constant(0), value: fc.oneof(fc.constantFrom(...EXTREMES), fc.bigInt({ min: 0n, max: 1n << 20n })) }),
      fc.record({ kind: fc.constant("entry" as const), which: fc.nat(), field: fc.constant(16), value: fc.constantFrom(...FLAG_VALUES) }),
      fc.record({ kind: fc.constant("entry" as const), which: fc.nat(), field: fc.constantFrom(8, 24), value: fc.oneof(fc.constantFrom(...EXTREMES), fc.bigInt({ min: 0n, max: 16n })) }),
    ),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("u64" as const),
      block: fc.nat({ max: 64 }),
      field: fc.constantFrom(0, 8, 16, 24),
      value: fc.oneof(fc.constantFrom(...EXTREMES), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 4096n })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("super" as const),
      field: fc.constantFrom("nrEntries" as const, "sectorSize" as const),
      value: fc.oneof(fc.constantFrom(...EXTREMES), fc.bigInt({ min: 0n, max: 64n }), fc.constantFrom(32n, 512n, 4096n, 8n << 20n)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("splice" as const), at: fc.nat(), from: fc.nat(), start: fc.nat(), length: fc.nat({ max: 8192 }) }) },
);

/** Byte offsets of the entry headers of a log, walked as the format lays them out (up to 200, or the first that does not fit). */
function headerOffsets(bytes: Uint8Array): number[] {
  if (bytes.length < 28) return [];
  const S = new DataView(bytes.buffer, bytes.byteOffset).getUint32(SUPER_FIELDS.sectorSize, true);
  if (S < 32 || S > 1 << 23 || (S & (S - 1)) !== 0) return [];
  const out: number[] = [];
  for (let at = S; at + 32 <= bytes.length && out.length < 200; ) {
    out.push(at);
    const data = entryDataBytes(decodeEntryHeader(bytes, at), S);
    if (data > BigInt(bytes.length)) break;
    at += S + Math.ceil(Number(data) / S) * S;
  }
  return out;
}

/** `bytes` mutated by `m` (in place when the size stays; `corpus` gives the pieces spliced in). */
export function mutateLog(bytes: Uint8Array, m: LogMutation, corpus: readonly { bytes: Uint8Array }[]): Uint8Array {
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (m.kind) {
    case "entry": {
      const at = headerOffsets(bytes);
      if (at.length > 0) view.setBigUint64(at[m.which % at.length]! + m.field, m.value, true);
      return bytes;
    }
    case "flip":
      if (n > 0) bytes[m.at % n]! ^= 1 << m.bit;
      return bytes;
    case "u64": {
      // A field of a header block: one sector of the log's own size in.
      const S = n >= 28 ? view.getUint32(SUPER_FIELDS.sectorSize, true) : 512;
      const unit = S >= 32 && S <= 1 << 23 && (S & (S - 1)) === 0 ? S : 512;
      const at = (m.block * unit) % Math.max(n, 1);
      const field = at - (at % unit) + m.field;
      if (field + 8 <= n) view.setBigUint64(field, m.value, true);
      return bytes;
    }
    case "super":
      if (m.field === "nrEntries" && n >= 24) view.setBigUint64(SUPER_FIELDS.nrEntries, m.value, true);
      if (m.field === "sectorSize" && n >= 28) view.setUint32(SUPER_FIELDS.sectorSize, Number(m.value & 0xffffffffn), true);
      return bytes;
    case "truncate":
      return bytes.slice(0, m.at % (n + 1));
    case "splice": {
      const src = corpus[m.from % corpus.length]!.bytes;
      const start = m.start % (src.length + 1);
      const piece = src.subarray(start, start + m.length);
      const at = m.at % (n + 1);
      const out = new Uint8Array(n + piece.length);
      out.set(bytes.subarray(0, at));
      out.set(piece, at);
      out.set(bytes.subarray(at), at + piece.length);
      return out;
    }
  }
}

/** Values a field of a record may be edited to: extremes of every type. */
const ODD_VALUES = [
  "0",
  "-1",
  "1.5",
  "1e400",
  "9007199254740993",
  '"18446744073709551615"',
  '"18446744073709551616"',
  '"9223372036854775808"',
  '"0x10"',
  '""',
  "null",
  "true",
  "[]",
  "{}",
  '"mkfs"',
  '"write"',
  '"flush"',
  '"AAAA"',
  '"=="',
];
const FIELDS = ["index", "offset", "kind", "flags", "flagNames", "sector", "nrSectors", "byteOffset", "byteLength", "dataLen", "tail", "mark", "markBase64", "base64", "type", "entries", "sectorSize", "nrEntries", "version", "padding", "magic"];

export type TextMutation =
  | { kind: "cut"; at: number }
  | { kind: "dropLine"; line: number }
  | { kind: "dupLine"; line: number }
  | { kind: "swapLines"; line: number }
  | { kind: "char"; at: number; char: string }
  | { kind: "field"; which: number; field: string; value: string }
  | { kind: "cell"; line: number; column: number; value: string };

export const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("dropLine" as const), line: fc.nat() }),
  fc.record({ kind: fc.constant("dupLine" as const), line: fc.nat() }),
  fc.record({ kind: fc.constant("swapLines" as const), line: fc.nat() }),
  fc.record({ kind: fc.constant("char" as const), at: fc.nat(), char: fc.constantFrom("", "0", "9", '"', ",", "{", "}", "[", "]", ":", "\n", "\r", "\\", "x", "-", "é", "\u0000") }),
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("field" as const), which: fc.nat(), field: fc.constantFrom(...FIELDS), value: fc.constantFrom(...ODD_VALUES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("cell" as const), line: fc.nat(), column: fc.nat({ max: 14 }), value: fc.constantFrom("", "0", "-1", "x", "18446744073709551616", "9223372036854775808", "1.5", "true", "FLUSH|FUA", '"a,b"', "AAAA") }) },
);

/** `text` mutated by `m`. */
export function mutateText(text: string, m: TextMutation): string {
  const lines = text.split("\n");
  const n = lines.length;
  switch (m.kind) {
    case "cut":
      return text.slice(0, m.at % (text.length + 1));
    case "dropLine":
      lines.splice(m.line % n, 1);
      return lines.join("\n");
    case "dupLine":
      lines.splice(m.line % n, 0, lines[m.line % n]!);
      return lines.join("\n");
    case "swapLines": {
      const i = m.line % n;
      const j = (i + 1) % n;
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join("\n");
    }
    case "char": {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.char + text.slice(at + 1);
    }
    case "field": {
      // The `which`-th occurrence of the field, its value replaced.
      const re = new RegExp(`"${m.field}":("(?:[^"\\\\]|\\\\.)*"|[^,}\\]]*)`, "g");
      const hits = [...text.matchAll(re)];
      if (hits.length === 0) return text;
      const hit = hits[m.which % hits.length]!;
      return text.slice(0, hit.index) + `"${m.field}":${m.value}` + text.slice(hit.index! + hit[0].length);
    }
    case "cell": {
      const i = m.line % n;
      const cells = lines[i]!.split(",");
      cells[m.column % cells.length] = m.value;
      lines[i] = cells.join(",");
      return lines.join("\n");
    }
  }
}
