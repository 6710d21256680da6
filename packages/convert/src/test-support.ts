import { copyFileSync, createWriteStream, rmSync } from "node:fs";
import { LogFile } from "@lwlog/codec";
import { ImageTarget } from "@lwlog/replay";
import { sha256File } from "@lwlog/testkit";
import { exportLog, type ExportOptions } from "./export.js";

/** The image's sha256 after a flush or a mark, as a replay of the log sees it. */
export interface ReplayPoint {
  /** Entry index of the flush or mark. */
  index: number;
  kind: "flush" | "mark";
  /** The mark's name (marks only). */
  name?: string;
  sha256: string;
}

/**
 * Replays a log entry by entry (with `@lwlog/replay`'s `ImageTarget`) onto a zeroed image
 * of `size` bytes, or onto a copy of `base`, and hashes the image after every flush and
 * mark (or only marks, with `at: "marks"`).
 */
export function replayPoints(
  logPath: string,
  image: string,
  size: number,
  options: { tail?: boolean; base?: string; at?: "marks" | "all" } = {},
): ReplayPoint[] {
  rmSync(image, { force: true });
  if (options.base !== undefined) copyFileSync(options.base, image);
  const log = LogFile.openSync(logPath);
  const target = ImageTarget.open(image, { size });
  const wanted = options.at === "marks" ? ["mark"] : ["flush", "mark"];
  const points: ReplayPoint[] = [];
  try {
    const cursor = log.cursor({ tail: options.tail ?? false });
    for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
      target.applyEntry(e, log);
      if (wanted.includes(e.kind)) {
        const p: ReplayPoint = { index: e.index, kind: e.kind as ReplayPoint["kind"], sha256: sha256File(image) };
        if (e.mark !== undefined) p.name = e.mark;
        points.push(p);
      }
    }
  } finally {
    target.close();
    log.close();
  }
  return points;
}

/** Exports `logPath` to the file `out` (NDJSON by default, data as base64). */
export async function exportToFile(logPath: string, out: string, options: Partial<ExportOptions> = {}): Promise<void> {
  const log = LogFile.openSync(logPath);
  const ws = createWriteStream(out);
  try {
    await exportLog(log, (s) => void ws.write(s), { format: "ndjson", data: "base64", ...options });
  } finally {
    await new Promise((resolve) => ws.end(resolve));
    log.close();
  }
}

