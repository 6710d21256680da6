/**
 * Test helpers that run the examples of a Markdown document as written (not part of the CLI):
 * the `$ ` lines of its ```console and ```sh blocks, in order, each block as one bash script
 * in a scratch directory, and the output each one printed, to compare with the lines the
 * document shows under it.
 *
 * Conventions the documents follow:
 * - A command is a line starting with `$ `, continued by lines after one ending in `\`. The
 *   lines after it, up to the next command or the end of the block, are its output (stdout
 *   and stderr as a terminal shows them: merged, in order). A command with no lines under it
 *   is run but its output is not compared (the document leaves it out).
 * - `…` in a shown line stands for any text; times (`0.05 s`, qemu-io's `00.03 sec (…)`)
 *   and ISO 8601 timestamps compare equal whatever their value.
 * - A command ending in `&` runs in the background with its output kept apart; the lines
 *   shown under it are what it prints first, and the next command waits for them (as a
 *   reader waits for a server to say it is ready). `kill … %N` is followed by `wait %N`, so
 *   the next command sees what the stopped job finished (as a person typing would).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** One `$ ` command of a document and the output shown under it. */
export interface DocCommand {
  /** 1-based line of the `$ ` in the document. */
  line: number;
  /** The command as bash reads it (continuation lines joined with newlines). */
  command: string;
  /** The lines shown under it (trailing blank lines dropped). */
  expected: string[];
}

/** A fenced block and its commands. */
export interface DocBlock {
  line: number;
  lang: string;
  commands: DocCommand[];
}

/** The ```console and ```sh blocks of `markdown` that hold `$ ` commands. */
export function docBlocks(markdown: string, langs: readonly string[] = ["console", "sh"]): DocBlock[] {
  const lines = markdown.split("\n");
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i += 1; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    if (!langs.includes(open[1]!)) continue;
    const commands: DocCommand[] = [];
    for (let j = 0; j < body.length; j++) {
      const text = body[j]!;
      if (text.startsWith("$ ")) {
        const parts = [text.slice(2)];
        const line = start + j + 2;
        while (parts.at(-1)!.endsWith("\\") && j + 1 < body.length) parts.push(body[++j]!);
        commands.push({ line, command: parts.join("\n"), expected: [] });
      } else if (commands.length > 0) {
        commands.at(-1)!.expected.push(text);
      }
    }
    for (const c of commands) while (c.expected.length > 0 && c.expected.at(-1)!.trim() === "") c.expected.pop();
    if (commands.length > 0) blocks.push({ line: start + 1, lang: open[1]!, commands });
  }
  return blocks;
}

/** What one command did. */
export interface DocResult {
  command: DocCommand;
  /** Exit status (of the whole line, as `$?` after it). */
  status: number;
  /** What it printed, stdout and stderr merged. */
  output: string[];
}

const MARK = "@@lwlog-doc@@";

/**
 * Runs the commands of `block` in `cwd` as one bash script (`env` for it, e.g. a PATH with
 * `lwlog` on it) and returns what each did. Throws when bash cannot run or a background
 * command never prints what the document shows for it.
 */
export function runDocBlock(block: DocBlock, cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 300_000): DocResult[] {
  const script: string[] = ["exec 2>&1"];
  block.commands.forEach((c, i) => {
    script.push(`echo "${MARK} begin ${i}"`);
    const background = /&\s*$/.test(c.command);
    if (background) {
      const out = `.lwlog-doc-bg-${block.line}-${i}.out`;
      script.push(`${c.command.replace(/&\s*$/, "")} > ${out} 2>&1 &`);
      // Wait (up to 30 s) for the lines the document shows, then print them as its output.
      const want = c.expected.length;
      script.push(`for _ in $(seq 300); do [ "$(cat ${out} 2>/dev/null | wc -l)" -ge ${want} ] && break; sleep 0.1; done`);
      script.push(`head -n ${want} ${out}`);
      script.push(`echo "${MARK} end ${i} 0"`);
      return;
    }
    script.push(c.command);
    script.push(`echo "${MARK} end ${i} $?"`);
    const job = /^kill\b.*(%\d+)/.exec(c.command);
    if (job) script.push(`wait ${job[1]} 2>/dev/null`);
  });
  script.push("wait");
  const path = join(cwd, `.lwlog-doc-${block.line}.sh`);
  writeFileSync(path, script.join("\n") + "\n");
  const r = spawnSync("bash", [path], { cwd, env, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`bash could not run the block at line ${block.line}: ${r.error.message}`);
  const results: DocResult[] = [];
  let current: { index: number; lines: string[] } | undefined;
  for (const line of (r.stdout ?? "").split("\n")) {
    const begin = new RegExp(`^${MARK} begin (\\d+)$`).exec(line);
    const end = new RegExp(`^(.*)${MARK} end (\\d+) (\\d+)$`).exec(line);
    if (begin) {
      current = { index: Number(begin[1]), lines: [] };
    } else if (end && current) {
      if (end[1]) current.lines.push(end[1]);
      results.push({ command: block.commands[current.index]!, status: Number(end[3]), output: current.lines });
      current = undefined;
    } else if (current) {
      current.lines.push(line);
    }
  }
  if (results.length !== block.commands.length) {
    throw new Error(`the block at line ${block.line} stopped after ${results.length} of ${block.commands.length} commands:\n${r.stdout}${r.stderr}`);
  }
  return results;
}

/** Path prefixes to rewrite in what commands print, so they read as in the document. */
export type PathMap = [from: string, to: string][];

/** A line as compared: paths rewritten, times and timestamps made equal. */
function normalized(line: string, paths: PathMap): string {
  let s = line;
  for (const [from, to] of paths) s = s.split(from).join(to);
  return s
    .replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\b/g, "<time>")
    .replace(/\b\d+(\.\d+)? s\b/g, "<secs> s")
    .replace(/\b\d+\.\d+ sec \([^)]*\)/g, "<secs> sec (<rate>)");
}

/** True when the printed `actual` line is what the document's `shown` line says. */
export function lineMatches(shown: string, actual: string, paths: PathMap): boolean {
  const want = normalized(shown, []);
  const got = normalized(actual, paths);
  if (!want.includes("…")) return want === got;
  const pattern = want.split("…").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*");
  return new RegExp(`^${pattern}$`).test(got) || want === got;
}

/**
 * The differences between what a command printed and what the document shows, as text for
 * a failed expectation (empty when they agree). Output is compared only where some is shown.
 */
export function outputDifferences(r: DocResult, paths: PathMap): string {
  const shown = r.command.expected;
  if (shown.length === 0) return "";
  const actual = [...r.output];
  while (actual.length > 0 && actual.at(-1)!.trim() === "") actual.pop();
  const problems: string[] = [];
  const n = Math.max(shown.length, actual.length);
  for (let i = 0; i < n; i++) {
    const want = shown[i];
    const got = actual[i];
    if (want === undefined || got === undefined || !lineMatches(want, got, paths)) {
      problems.push(`  line ${i + 1}:\n    shown:   ${want ?? "(nothing)"}\n    printed: ${got === undefined ? "(nothing)" : normalized(got, paths)}`);
    }
  }
  return problems.length === 0 ? "" : `$ ${r.command.command} (line ${r.command.line})\n${problems.join("\n")}`;
}
