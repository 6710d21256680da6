import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ioError } from "@lwlog/codec/core";
import { PointNotFoundError } from "@lwlog/replay";
import { PersistedExpectationError, PersistedSyntaxError } from "./errors.js";
import type { FileFinding } from "./judge.js";
import type { CrashLog } from "./log-table.js";

/** One line of a `--persisted` list: a path made durable by a mark. */
export interface PersistedPath {
  mark: string;
  /** Path inside the file system, from its root, without a leading slash. */
  path: string;
  /** 1-based line number in the list. */
  line: number;
}

/** A parsed `--persisted` list. */
export interface PersistedList {
  file: string;
  paths: PersistedPath[];
}

/**
 * Parses a `--persisted` list: one `MARK: PATH` a line (`fsynced: dir/a.txt`), the mark that
 * made the path durable, then the path from the file system's root (a leading `/` is
 * optional). The first `": "` separates them, so a path may hold `": "` but a mark may not;
 * a mark that does may be written as a JSON string (`"a: b": dir/c`). Blank lines and lines
 * starting with `#` are skipped. Errors name the file and the line.
 */
export function parsePersisted(file: string, text?: string): PersistedList {
  let body = text;
  if (body === undefined) {
    try {
      body = readFileSync(file, "utf8");
    } catch (err) {
      throw ioError(err, file, "read the --persisted list");
    }
  }
  const paths: PersistedPath[] = [];
  body.split(/\r?\n/).forEach((raw, k) => {
    const line = k + 1;
    const s = raw.trim();
    if (s === "" || s.startsWith("#")) return;
    let mark: string;
    let rest: string;
    if (s.startsWith('"')) {
      const m = /^("(?:[^"\\]|\\.)*")\s*:\s?(.*)$/.exec(s);
      if (m === null) throw new PersistedSyntaxError(`line ${line}: a quoted mark name must be a JSON string followed by ": PATH"`, { file });
      try {
        mark = JSON.parse(m[1]!) as string;
      } catch {
        throw new PersistedSyntaxError(`line ${line}: ${m[1]} is not a JSON string`, { file });
      }
      rest = m[2]!;
    } else {
      const at = s.indexOf(": ");
      if (at < 0 && s.endsWith(":") && s.length > 1) throw new PersistedSyntaxError(`line ${line}: no path after the mark ${JSON.stringify(s.slice(0, -1))}`, { file });
      if (at <= 0) throw new PersistedSyntaxError(`line ${line}: expected "MARK: PATH" (a mark name, a colon and a space, the path), got ${JSON.stringify(s.slice(0, 80))}`, { file });
      mark = s.slice(0, at);
      rest = s.slice(at + 2);
    }
    const path = rest.trim().replace(/^\/+/, "");
    if (path === "") throw new PersistedSyntaxError(`line ${line}: no path after the mark ${JSON.stringify(mark)}`, { file });
    if (path.split("/").some((part) => part === ".." || part === ".")) throw new PersistedSyntaxError(`line ${line}: the path ${JSON.stringify(path)} has . or .. in it: give it from the file system's root`, { file });
    paths.push({ mark, path, line });
  });
  if (paths.length === 0) throw new PersistedSyntaxError("lists no path (lines read MARK: PATH, e.g. fsynced: dir/a.txt)", { file });
  return { file, paths };
}

/** What a file is in one state, as the data judge compares it. */
export interface FileProbe {
  /** `file` for a regular file; `missing` when no such path; `dir`, `symlink`, … otherwise. */
  kind: string;
  size: number;
  /** The content, when read (regular files up to the reader's limit). */
  content?: Uint8Array;
  /** sha256 of the content (hex), when read. */
  sha256?: string;
  /** Why it could not be read (a damaged inode, a tool's error), for `unreadable`. */
  error?: string;
}

/**
 * The windows of a `--persisted` list on a log: for each mark occurrence that has paths,
 * the states whose crash point lies after it and up to the next mark must hold those paths as
 * they were in the state at that mark.
 */
export interface PersistedWindow {
  mark: string;
  /** The mark's entry: the window is crash positions `(markEntry, until]`. */
  markEntry: number;
  until: number;
  paths: string[];
}

/** Every window of the list on the log, in log order. A mark of the list that the log lacks is an error. */
export function persistedWindows(list: PersistedList, log: CrashLog): PersistedWindow[] {
  const byMark = new Map<string, string[]>();
  for (const p of list.paths) {
    const l = byMark.get(p.mark) ?? [];
    if (!l.includes(p.path)) l.push(p.path);
    byMark.set(p.mark, l);
  }
  const names = new Set(log.marks.map((m) => m.name));
  for (const p of list.paths) {
    if (!names.has(p.mark)) {
      const known = [...names].slice(0, 8).map((n) => JSON.stringify(n)).join(", ");
      throw new PointNotFoundError(`${list.file}: line ${p.line}: the log has no mark named ${JSON.stringify(p.mark)} (its marks: ${known || "none"})`, { file: log.path });
    }
  }
  const out: PersistedWindow[] = [];
  log.marks.forEach((m, k) => {
    const paths = byMark.get(m.name);
    if (paths === undefined) return;
    const next = log.marks[k + 1];
    out.push({ mark: m.name, markEntry: m.index, until: next !== undefined ? next.index : log.count, paths });
  });
  return out;
}

/** The window a crash position lies in, or undefined. */
export function windowOf(windows: readonly PersistedWindow[], position: number): PersistedWindow | undefined {
  for (const w of windows) if (position > w.markEntry && position <= w.until) return w;
  return undefined;
}

/** What the files were in the state at a window's mark. */
export type Expectations = Map<string, FileProbe & { kind: "file" }>;

/**
 * Checks the expectations of a window at its mark: every path must be a regular file there
 * (else the list is wrong, or the state at the mark lacks what was fsynced: an error, not a
 * verdict).
 */
export function expectationsAt(window: PersistedWindow, probes: Map<string, FileProbe>, log: CrashLog): Expectations {
  const out: Expectations = new Map();
  for (const path of window.paths) {
    const p = probes.get(path);
    if (p === undefined || p.kind !== "file") {
      const what = p === undefined || p.kind === "missing" ? "does not exist" : p.kind === "unreadable" ? `cannot be read (${p.error ?? "?"})` : `is a ${p.kind}, not a regular file`;
      throw new PersistedExpectationError(
        `${path} ${what} in the state at mark ${JSON.stringify(window.mark)} (entry ${window.markEntry}): there is nothing to compare crash states with; check the --persisted list, and that the workload flushed before the mark`,
        { file: log.path },
      );
    }
    out.set(path, p as FileProbe & { kind: "file" });
  }
  return out;
}

/** Compares a crash state's files with the expectations: one finding for each that is missing or different. */
export function compareFiles(window: PersistedWindow, expected: Expectations, found: Map<string, FileProbe>): FileFinding[] {
  const findings: FileFinding[] = [];
  for (const [path, want] of expected) {
    const got = found.get(path) ?? { kind: "missing", size: 0 };
    const exp = { size: want.size, sha256: want.sha256 ?? "" };
    const base = { path, mark: window.mark, markEntry: window.markEntry, expected: exp };
    if (got.kind === "missing") {
      findings.push({ ...base, problem: "missing", message: `${path} is missing (it was fsynced by mark ${JSON.stringify(window.mark)}, ${want.size} bytes)` });
      continue;
    }
    const foundInfo = { size: got.size, sha256: got.sha256 ?? "", kind: got.kind };
    if (got.kind === "unreadable") {
      findings.push({ ...base, found: foundInfo, problem: "unreadable", message: `${path} cannot be read: ${got.error ?? "unknown error"}` });
      continue;
    }
    if (got.kind !== "file") {
      findings.push({ ...base, found: foundInfo, problem: "type", message: `${path} is a ${got.kind}, not the regular file of ${want.size} bytes it was at mark ${JSON.stringify(window.mark)}` });
      continue;
    }
    const diff = firstDifference(want.content, got.content);
    if (got.size !== want.size) {
      const at = diff !== undefined && diff < Math.min(got.size, want.size) ? `; the content differs from byte ${diff}` : "";
      findings.push({ ...base, found: foundInfo, problem: "size", ...(diff !== undefined ? { firstDifference: diff } : {}), message: `${path} has ${got.size} bytes, it had ${want.size} at mark ${JSON.stringify(window.mark)}${at}` });
      continue;
    }
    if (want.sha256 !== undefined && got.sha256 !== undefined && want.sha256 !== got.sha256) {
      const at = diff !== undefined ? ` from byte ${diff}` : "";
      const zeros = got.content !== undefined && diff !== undefined && isZero(got.content.subarray(diff)) ? " (zeros there: data blocks not written)" : "";
      findings.push({ ...base, found: foundInfo, problem: "content", ...(diff !== undefined ? { firstDifference: diff } : {}), message: `${path} differs${at}${zeros} (sha256 ${got.sha256.slice(0, 12)}…, was ${want.sha256.slice(0, 12)}… at mark ${JSON.stringify(window.mark)})` });
    }
  }
  return findings;
}

/** sha256 of some bytes, in hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function firstDifference(a: Uint8Array | undefined, b: Uint8Array | undefined): number | undefined {
  if (a === undefined || b === undefined) return undefined;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? undefined : n;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
