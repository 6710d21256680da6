import { join } from "node:path";
import { generateLog } from "../generate.js";
import type { Scenario } from "../harness.js";

const GiB = 1 << 30;

function scanSubjects(ctx: { root: string }, log: string) {
  const script = join(ctx.root, "bench/dist/scan-headers.js");
  return [
    { name: "skim", argv: [process.execPath, script, "skim", log] },
    { name: "cat", argv: ["sh", "-c", `cat ${log} > /dev/null`] },
    { name: "next", argv: [process.execPath, script, "next", log] },
    { name: "index", argv: [process.execPath, script, "index", log] },
    { name: "node", argv: [process.execPath, "-e", "0"] },
  ];
}

/**
 * The codec's headers-only scan (no CLI) on the 1 GiB log of 4 KiB writes of `info-4k`,
 * against `cat`: the part of `lwlog info` / `lwlog marks` the codec owns. `node -e 0` is
 * there to show how much of each run is Node's own start-up.
 */
export const codecScan4k: Scenario = {
  name: "codec-scan-4k",
  goal: "the codec's header scan of a 1 GiB log of 4 KiB writes (skim, next, LogIndex) against cat LOG > /dev/null",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-4k-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: 4096 });
    return { subjects: scanSubjects(ctx, log), maxRatio: 1.0, maxRssMiB: 150 };
  },
};

/** The same on a 1 GiB log of 64 KiB writes, where the scan reads each header on its own and skips the data. */
export const codecScan64k: Scenario = {
  name: "codec-scan-64k",
  goal: "the codec's header scan of a 1 GiB log of 64 KiB writes (lone header reads) against cat LOG > /dev/null",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-64k-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: 65536 });
    return { subjects: scanSubjects(ctx, log), maxRatio: 1.0, maxRssMiB: 150 };
  },
};
