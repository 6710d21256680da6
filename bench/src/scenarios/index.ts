import type { Scenario } from "../harness.js";
import { info, inspectMemory, marks } from "./inspect.js";
import { convert512, exportNdjson } from "./convert.js";
import { driver } from "./driver.js";
import { find4k, replay1m, replay1mDiskSync, replay4k, replay4kDisk, replay4kDiskSync, replay4kMark, replay4kMarkDiskSync, replayCheckpoints, replayMemory } from "./replay.js";
import { diff1m, diff1pct } from "./diff.js";
import { codecScan4k, codecScan64k } from "./codec-scan.js";
import { views } from "./views.js";
import { crashes1g } from "./crashes.js";
import { campaign } from "./campaign.js";
import { replayLog482, replayLogFull } from "./replay-log.js";

/** Every scenario `npm run bench` knows, by name. Each issue's benchmarks add theirs here. */
export const scenarios: Scenario[] = [
  info,
  marks,
  inspectMemory,
  exportNdjson,
  convert512,
  replay4k,
  replay4kDiskSync,
  replay4kDisk,
  replay1m,
  replay1mDiskSync,
  replay4kMark,
  replay4kMarkDiskSync,
  find4k,
  replayCheckpoints,
  replayMemory,
  diff1pct,
  diff1m,
  driver,
  codecScan4k,
  codecScan64k,
  views,
  crashes1g,
  campaign,
  replayLog482,
  replayLogFull,
];
