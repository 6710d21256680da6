/**
 * The crash engine with a no-op judge, for the `crashes-1g` benchmark: plans `--samples`
 * states of a log after a mark, then builds every one of them on a scratch view of its
 * point's durable image (the view made, the state's own bytes written, the view disposed)
 * and judges it with a judge that does nothing. What it costs is what lwlog adds per state,
 * whatever the checker. Run as its own process so that GNU time measures its peak memory:
 *
 *   node bench/dist/crash-noop.js LOG SAMPLES FROM_MARK [SCRATCH_DIR]
 */
import { LogFile } from "@lwlog/codec";
import { CrashLog, planCrashes, runCrashStates } from "@lwlog/crash";
import { ScratchSpace } from "@lwlog/scratch";

const [logPath, samples, fromMark, scratchDir] = process.argv.slice(2);
if (logPath === undefined || samples === undefined || fromMark === undefined) {
  console.error("usage: crash-noop LOG SAMPLES FROM_MARK [SCRATCH_DIR]");
  process.exit(2);
}
const file = LogFile.openSync(logPath);
const space = await ScratchSpace.open(scratchDir !== undefined ? { dir: scratchDir } : {});
try {
  const log = CrashLog.read(file);
  const plan = planCrashes(log, { rules: ["flush"], fromMark, samples: Number(samples) });
  const summary = await runCrashStates({
    log,
    file,
    plan,
    durablePath: space.path("durable.img"),
    views: (base, size) => space.view(base, { size }),
    judge: async (views) => {
      await views.fresh();
      return { ok: true };
    },
    minimise: 0,
  });
  console.log(JSON.stringify({ states: summary.judged, seconds: summary.seconds }));
} finally {
  await space.close();
  file.close();
}
