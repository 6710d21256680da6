import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { resolve } from "node:path";
import { ioError } from "@lwlog/codec/core";
import { CampaignError, CampaignErrorCodes } from "./campaign-errors.js";
import type { CampaignFile } from "./campaign-plan.js";

/** sha256 (hex) and length of a file or device, read once in large chunks. */
export async function sha256OfFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
      h.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (err) {
    throw ioError(err, path, "read the log");
  }
  return { sha256: h.digest("hex"), bytes };
}

/** Where a campaign's log was found, and how. */
export interface FoundLog {
  path: string;
  how: "given" | "relative" | "absolute";
}

/**
 * Finds a campaign's log on this host: `given` (`--log PATH`) when there is one; else the
 * plan's path relative to the plan directory (a directory copied or mounted elsewhere with
 * the log beside it); else the absolute path it had at planning (a file system mounted at the
 * same place everywhere). `LWLOG_LOG_NOT_FOUND` names every place tried.
 */
export function findCampaignLog(dir: string, c: CampaignFile, given?: string): FoundLog {
  if (given !== undefined) {
    try {
      statSync(given);
    } catch (err) {
      throw ioError(err, given, "open the log given with --log");
    }
    return { path: given, how: "given" };
  }
  const rel = resolve(dir, c.log.relative);
  const tried: string[] = [];
  for (const [path, how] of [
    [rel, "relative"],
    [c.log.path, "absolute"],
  ] as const) {
    if (tried.includes(path)) continue;
    tried.push(path);
    try {
      statSync(path);
      return { path, how };
    } catch {
      // not here
    }
  }
  throw new CampaignError(
    CampaignErrorCodes.LOG_NOT_FOUND,
    `the plan's log is not at ${tried.join(" (relative to the plan directory), nor at ")}${tried.length > 1 ? " (where it was planned)" : ""}: put it there, or give it with --log PATH`,
    { file: dir },
  );
}

/**
 * Checks that `path` is the log the plan was made on: the same length and sha256 (a regular
 * file's length is checked before reading it). `LWLOG_LOG_MISMATCH` otherwise: a job on the
 * wrong log would judge states nobody planned.
 */
export async function verifyCampaignLog(path: string, c: CampaignFile): Promise<void> {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    throw ioError(err, path, "open the log");
  }
  const mismatch = (what: string) =>
    new CampaignError(CampaignErrorCodes.LOG_MISMATCH, `is not the log this campaign was planned on: ${what}; give the right log (--log PATH), or plan again on this one`, { file: path });
  if (st.isFile() && st.size !== c.log.bytes) throw mismatch(`it has ${st.size} bytes, the plan's log ${c.log.bytes}`);
  const got = await sha256OfFile(path);
  if (got.bytes !== c.log.bytes) throw mismatch(`it has ${got.bytes} bytes, the plan's log ${c.log.bytes}`);
  if (got.sha256 !== c.log.sha256) throw mismatch(`its sha256 is ${got.sha256}, the plan's log's ${c.log.sha256}`);
}
