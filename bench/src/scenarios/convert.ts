import { rmSync } from "node:fs";
import { join } from "node:path";
import { generateLog } from "../generate.js";
import type { Scenario } from "../harness.js";

const GiB = 1 << 30;

/** `lwlog export --format ndjson --data none` of a 1 GiB log against `cp` of it (goal: ratio ≤ 1.5, under 200 MB). */
export const exportNdjson: Scenario = {
  name: "export-ndjson",
  goal: "lwlog export --format ndjson --data none of a 1 GiB log of 4 KiB writes to a file: within 1.5× of cp LOG COPY, peak RSS under 200 MB",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-4k-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: 4096 });
    const out = join(ctx.dataDir, "export-out.ndjson");
    const copy = join(ctx.dataDir, "export-cp.log");
    const clean = () => {
      rmSync(out, { force: true });
      rmSync(copy, { force: true });
    };
    return {
      subjects: [
        { name: "lwlog", argv: [...ctx.lwlog, "export", log, "--format", "ndjson", "--data", "none", "-o", out, "-q"], before: clean },
        { name: "cp", argv: ["cp", log, copy], before: clean },
      ],
      maxRatio: 1.5,
      maxRssMiB: 200,
      teardown: clean,
    };
  },
};

/** `lwlog convert --sector-size 512` of a 1 GiB 4096-byte log against `cp` of it (goal: ratio ≤ 1.5, under 200 MB). */
export const convert512: Scenario = {
  name: "convert-512",
  goal: "lwlog convert --sector-size 512 of a 1 GiB log with 4096-byte sectors (4 KiB writes): within 1.5× of cp LOG COPY, peak RSS under 200 MB",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-4k-s4096-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: 4096, sectorSize: 4096 });
    const out = join(ctx.dataDir, "convert-out.log");
    const copy = join(ctx.dataDir, "convert-cp.log");
    const clean = () => {
      rmSync(out, { force: true });
      rmSync(copy, { force: true });
    };
    return {
      subjects: [
        { name: "lwlog", argv: [...ctx.lwlog, "convert", log, "-o", out, "--sector-size", "512", "-q"], before: clean },
        { name: "cp", argv: ["cp", log, copy], before: clean },
      ],
      maxRatio: 1.5,
      maxRssMiB: 200,
      teardown: clean,
    };
  },
};
