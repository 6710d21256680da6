import { nearestNames } from "@lwlog/codec/core";
import { UsageError } from "./errors.js";

/** Parses a non-negative whole number option (`--from 12`). */
export function parseCount(name: string): (value: string) => number {
  return (value: string) => {
    if (!/^[0-9]+$/.test(value)) throw new UsageError(`${name} takes a whole number ≥ 0, not ${JSON.stringify(value)}`);
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new UsageError(`${name} ${value} is too large`);
    return n;
  };
}

/** Parses a positive whole number option. */
export function parsePositive(name: string): (value: string) => number {
  const count = parseCount(name);
  return (value: string) => {
    const n = count(value);
    if (n === 0) throw new UsageError(`${name} takes a whole number ≥ 1`);
    return n;
  };
}

const SIZE_UNITS: Record<string, bigint> = {
  "": 1n,
  b: 1n,
  k: 1n << 10n,
  kb: 1n << 10n,
  kib: 1n << 10n,
  m: 1n << 20n,
  mb: 1n << 20n,
  mib: 1n << 20n,
  g: 1n << 30n,
  gb: 1n << 30n,
  gib: 1n << 30n,
  t: 1n << 40n,
  tb: 1n << 40n,
  tib: 1n << 40n,
  s: 512n,
};

/** Parses a byte size: `4096`, `64M`, `1G`, `1GiB`, `8s` (512-byte sectors). Binary units. */
export function parseSize(name: string): (value: string) => number {
  return (value: string) => {
    const m = /^([0-9]+)\s*([a-zA-Z]*)$/.exec(value.trim());
    const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) throw new UsageError(`${name} takes a size such as 4096, 64M or 1G, not ${JSON.stringify(value)}`);
    const bytes = BigInt(m[1]!) * unit;
    if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${name} ${value} is too large`);
    return Number(bytes);
  };
}

/** An inclusive range `A-B` of sectors (either end may be left out: `A-`, `-B`). */
export interface SectorRange {
  from: bigint;
  to: bigint;
}

/** Parses `--sectors A-B` (inclusive, in the log's sector units). */
export function parseSectorRange(name: string): (value: string) => SectorRange {
  return (value: string) => {
    const m = /^([0-9]*)-([0-9]*)$/.exec(value.trim()) ?? /^([0-9]+)()$/.exec(value.trim());
    if (!m || (m[1] === "" && m[2] === "")) throw new UsageError(`${name} takes a sector range A-B, not ${JSON.stringify(value)}`);
    const from = m[1] ? BigInt(m[1]) : 0n;
    const to = m[2] ? BigInt(m[2]) : m[0]!.includes("-") ? (1n << 64n) - 1n : from;
    const max = (1n << 64n) - 1n;
    if (from > max || to > max) throw new UsageError(`${name} ${value}: sectors are 64-bit numbers, at most ${max}`);
    if (to < from) throw new UsageError(`${name} ${value}: the end is before the start`);
    return { from, to };
  };
}

/** Parses a comma-separated list against the allowed words. */
export function parseList<T extends string>(name: string, allowed: readonly T[]): (value: string) => T[] {
  return (value: string) => {
    const items = value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    for (const it of items) {
      if (!allowed.includes(it as T)) throw new UsageError(`${name}: unknown value ${JSON.stringify(it)} (one of ${allowed.join(", ")})${didYouMean(it, allowed)}`);
    }
    if (items.length === 0) throw new UsageError(`${name} needs at least one of ${allowed.join(", ")}`);
    return items as T[];
  };
}

/** Parses one word of a fixed set. */
export function parseChoice<T extends string>(name: string, allowed: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!allowed.includes(value as T)) throw new UsageError(`${name} is one of ${allowed.join(", ")}, not ${JSON.stringify(value)}${didYouMean(value, allowed)}`);
    return value as T;
  };
}

/** `; did you mean "zero"?` when a word is near one of the allowed ones, else nothing. */
function didYouMean(value: string, allowed: readonly string[]): string {
  const near = nearestNames(value, allowed, 2);
  return near.length > 0 ? `; did you mean ${near.map((n) => JSON.stringify(n)).join(" or ")}?` : "";
}
