import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Says how to build lwlog when `file` (under apps/lwlog/) is missing, and exits with `code`;
 * rethrows any other error.
 */
export function notBuilt(err, file, code) {
  const missing = join(dirname(dirname(fileURLToPath(import.meta.url))), file);
  if (err?.code !== "ERR_MODULE_NOT_FOUND" || !String(err.message).includes(missing)) throw err;
  process.stderr.write(`lwlog: error: ${missing} is missing: lwlog is not built (run npm run build at the top of the repository) [LWLOG_NOT_BUILT]\n`);
  process.exit(code);
}
