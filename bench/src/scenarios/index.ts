import type { Scenario } from "../harness.js";
import { info, inspectMemory, marks } from "./inspect.js";
import { convert512, exportNdjson } from "./convert.js";
import { driver } from "./driver.js";
import { replay1m, replay4k, replayCheckpoints, replayMemory } from "./replay.js";
import { diff1m, diff1pct } from "./diff.js";
import { codecScan4k, codecScan64k } from "./codec-scan.js";
import { replayLog482, replayLogFull } from "./replay-log.js";

/** Every scenario `npm run bench` knows, by name. Each issue's benchmarks add theirs here. */
export const scenarios: Scenario[] = [info, marks, inspectMemory, exportNdjson, convert512, replay4k, replay1m, replayCheckpoints, replayMemory, diff1pct, diff1m, driver, codecScan4k, codecScan64k, replayLog482, replayLogFull];
