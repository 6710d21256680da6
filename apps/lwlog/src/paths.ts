import { isAbsolute, resolve } from "node:path";
import type { CliIo } from "./io.js";

/** A path from the command line, resolved against the CLI's working directory. */
export function resolvePath(io: CliIo, p: string): string {
  return isAbsolute(p) ? p : resolve(io.cwd, p);
}
