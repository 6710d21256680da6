/**
 * Command-line parsing the way glibc's `getopt_long(3)` does it, for commands that must accept
 * exactly what a C tool accepts (`lwlog replay-log`). Commander cannot: it does not take
 * abbreviated long options, and it treats `--opt -x` differently.
 *
 * What is reproduced, as glibc 2.36 does it with an option string that does not start with
 * `+`, `-` or `:`:
 * - arguments that are not options are set aside (permuted to the end) and parsing goes on,
 *   unless `POSIXLY_CORRECT` is set, which stops it at the first one; `--` stops it; a lone
 *   `-` is not an option;
 * - `--name=value` and `--name value` for an option that takes a value, the value being the
 *   next argument whatever it looks like (`--log --find` reads a log named `--find`);
 * - an exact name wins; otherwise a prefix of names is taken when it matches one option, or
 *   several that all take a value or all take none and return the same thing (glibc takes
 *   the first of them in table order: `--start` is `--start-entry` for replay-log), and is
 *   ambiguous when the options it matches differ there (`--f`: `--find` takes no value,
 *   `--fsck` does);
 * - clustered short options (`-vv`), a short option's value attached (`-xVALUE`) or next.
 */

/** One entry of a `getopt_long` option table. */
export interface LongOption {
  name: string;
  /** True for `required_argument`, false for `no_argument`. */
  hasArg: boolean;
  /** What getopt returns for it: entries that differ here make a shared prefix ambiguous. */
  val: string;
}

/** One option found, or the problem getopt reports at that point (it returns `?` there). */
export type GetoptItem = { kind: "option"; name: string; value?: string } | { kind: "error"; message: string };

/** What `getoptLong` found: the options and errors in the order met, and the other arguments. */
export interface GetoptResult {
  items: GetoptItem[];
  operands: string[];
}

/**
 * Parses `argv` (without the program name) against `shortOptions` (`"v"`, `"o:"`: a colon
 * after a letter that takes a value) and `longOptions`. A long option is reported by its full
 * table name, a short one by its letter. Never throws: a bad option is an `error` item in
 * place, after which getopt goes on (the caller usually stops at the first).
 */
export function getoptLong(argv: readonly string[], shortOptions: string, longOptions: readonly LongOption[], env: Record<string, string | undefined> = {}): GetoptResult {
  const shorts = parseShortOptions(shortOptions);
  const posixly = env.POSIXLY_CORRECT !== undefined;
  const items: GetoptItem[] = [];
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (posixly) {
        operands.push(...argv.slice(i));
        break;
      }
      operands.push(arg);
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const found = matchLong(name, longOptions);
      if (found.kind === "none") {
        items.push({ kind: "error", message: `unrecognized option '${arg}'` });
      } else if (found.kind === "ambiguous") {
        items.push({ kind: "error", message: `option '--${name}' is ambiguous; possibilities: ${found.options.map((o) => `'--${o.name}'`).join(" ")}` });
      } else if (!found.option.hasArg) {
        items.push(eq < 0 ? { kind: "option", name: found.option.name } : { kind: "error", message: `option '--${found.option.name}' doesn't allow an argument` });
      } else if (eq >= 0) {
        items.push({ kind: "option", name: found.option.name, value: arg.slice(eq + 1) });
      } else if (i + 1 < argv.length) {
        items.push({ kind: "option", name: found.option.name, value: argv[++i]! });
      } else {
        items.push({ kind: "error", message: `option '--${found.option.name}' requires an argument` });
      }
      continue;
    }
    // A cluster of short options: -vv, -xVALUE, -x VALUE.
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const hasArg = shorts.get(letter);
      if (hasArg === undefined) {
        items.push({ kind: "error", message: `invalid option -- '${letter}'` });
        continue;
      }
      if (!hasArg) {
        items.push({ kind: "option", name: letter });
        continue;
      }
      if (j + 1 < arg.length) items.push({ kind: "option", name: letter, value: arg.slice(j + 1) });
      else if (i + 1 < argv.length) items.push({ kind: "option", name: letter, value: argv[++i]! });
      else items.push({ kind: "error", message: `option requires an argument -- '${letter}'` });
      break;
    }
  }
  return { items, operands };
}

function parseShortOptions(spec: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c === ":") continue;
    out.set(c, spec[i + 1] === ":");
  }
  return out;
}

type LongMatch = { kind: "one"; option: LongOption } | { kind: "ambiguous"; options: LongOption[] } | { kind: "none" };

/** glibc's rule: an exact name, else the first prefix match unless a later one differs from it in `hasArg` or `val`. */
function matchLong(name: string, table: readonly LongOption[]): LongMatch {
  const exact = table.find((o) => o.name === name);
  if (exact !== undefined) return { kind: "one", option: exact };
  const matches = table.filter((o) => o.name.startsWith(name));
  const first = matches[0];
  if (first === undefined) return { kind: "none" };
  const differing = matches.filter((o) => o.hasArg !== first.hasArg || o.val !== first.val);
  if (differing.length > 0) return { kind: "ambiguous", options: [first, ...differing] };
  return { kind: "one", option: first };
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * A number read as C's `strtoull(text, &end, 0)` reads it, taken only when `*end == '\0'`
 * (the check replay-log makes): leading white space, an optional sign (a minus wraps modulo
 * 2^64: `-1` is 2^64 - 1), `0x` for hexadecimal, a leading `0` for octal (`010` is 8, `08` is
 * refused), too many digits saturating at 2^64 - 1. The empty string is 0, as strtoull
 * leaves `end` at its terminating NUL. Returns undefined for anything else (`12abc`, `  `, `-`).
 */
export function parseCUnsigned(text: string): bigint | undefined {
  let i = 0;
  while (i < text.length && " \t\n\v\f\r".includes(text[i]!)) i++;
  let negative = false;
  if (text[i] === "+" || text[i] === "-") {
    negative = text[i] === "-";
    i++;
  }
  let base = 10n;
  if (text[i] === "0") {
    if ((text[i + 1] === "x" || text[i + 1] === "X") && isDigit(text[i + 2], 16)) {
      base = 16n;
      i += 2;
    } else {
      base = 8n;
    }
  }
  const first = i;
  let value = 0n;
  let overflow = false;
  for (; i < text.length && isDigit(text[i], Number(base)); i++) {
    if (overflow) continue; // strtoull reads on to the end of the digits, then saturates
    value = value * base + BigInt(parseInt(text[i]!, 16));
    if (value > U64_MAX) overflow = true;
  }
  if (i === first) return text === "" ? 0n : undefined;
  if (i !== text.length) return undefined;
  if (overflow) return U64_MAX;
  return negative ? (-value) & U64_MAX : value;
}

function isDigit(c: string | undefined, base: number): boolean {
  if (c === undefined || c.length !== 1) return false;
  const d = parseInt(c, 16);
  return !Number.isNaN(d) && d < base && /[0-9a-fA-F]/.test(c);
}
