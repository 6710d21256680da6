import { parentPort, workerData } from "node:worker_threads";
import { LwlogError } from "@lwlog/codec/core";
import { scanLog, type ScanOptions } from "./scan.js";

/** One scan in a worker thread: `workerData` names the log; the columns come back transferred, not copied. */
const { path, options } = workerData as { path: string; options: ScanOptions };
try {
  const s = await scanLog(path, options);
  parentPort!.postMessage({ ok: true, parts: { ...s } }, s.transferables());
} catch (err) {
  const e = err as Partial<LwlogError> & Error;
  parentPort!.postMessage({
    ok: false,
    error: { lwlog: err instanceof LwlogError, name: e.name, code: e.code, message: e.message, file: e.file, entry: e.entry, offset: e.offset, stack: e.stack },
  });
}
