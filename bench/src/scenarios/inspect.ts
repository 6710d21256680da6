import { join } from "node:path";
import { generateLog } from "../generate.js";
import type { Scenario } from "../harness.js";

const GiB = 1 << 30;

/** `lwlog info` on a 1 GiB log of 4 KiB writes against `cat LOG > /dev/null` (goal: ratio ≤ 1.0). */
export const info: Scenario = {
  name: "info-4k",
  goal: "lwlog info on a 1 GiB log of 4 KiB writes reads only headers: no slower than cat LOG > /dev/null (ratio ≤ 1.0)",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-4k-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: 4096 });
    return {
      subjects: [
        { name: "lwlog", argv: [...ctx.lwlog, "info", "--json", log] },
        { name: "cat", argv: ["sh", "-c", `cat ${log} > /dev/null`] },
      ],
      maxRatio: 1.0,
      maxRssMiB: 150,
    };
  },
};

/** `lwlog marks` on the same log against `cat` (goal: ratio ≤ 1.0). */
export const marks: Scenario = {
  name: "marks-4k",
  goal: "lwlog marks on a 1 GiB log of 4 KiB writes: no slower than cat LOG > /dev/null (ratio ≤ 1.0)",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-4k-${ctx.scale}.log`), { bytes: GiB * ctx.scale, writeSize: 4096 });
    return {
      subjects: [
        { name: "lwlog", argv: [...ctx.lwlog, "marks", "--json", log] },
        { name: "cat", argv: ["sh", "-c", `cat ${log} > /dev/null`] },
      ],
      maxRatio: 1.0,
      maxRssMiB: 150,
    };
  },
};

/** Peak memory of every inspector command on a 4 GiB log (goal: under 150 MB each). */
export const inspectMemory: Scenario = {
  name: "inspect-memory-4g",
  goal: "peak memory of info, marks, check and dump (NDJSON; CSV with sha256 of all data) on a 4 GiB log stays under 150 MB",
  async setup(ctx) {
    const log = await generateLog(join(ctx.dataDir, `writes-64k-4g-${ctx.scale}.log`), { bytes: 4 * GiB * ctx.scale, writeSize: 65536 });
    return {
      subjects: [
        { name: "info", argv: [...ctx.lwlog, "info", "--json", log] },
        { name: "marks", argv: [...ctx.lwlog, "marks", log] },
        { name: "check", argv: [...ctx.lwlog, "check", log] },
        { name: "dump", argv: ["sh", "-c", `${ctx.lwlog.join(" ")} dump --ndjson ${log} > /dev/null`] },
        { name: "dump-csv-sha", argv: ["sh", "-c", `${ctx.lwlog.join(" ")} dump --csv --data sha256 ${log} > /dev/null`] },
        { name: "cat", argv: ["sh", "-c", `cat ${log} > /dev/null`] },
      ],
      maxRssMiB: 150,
    };
  },
};
