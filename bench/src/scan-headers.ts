/**
 * The codec's headers-only scan on its own, without the CLI around it: opens a log, walks
 * every header (declared and tail) and prints what it counted. `how` picks the API:
 * `skim` (no entry objects; what `lwlog info` and `LogIndex` use), `next` (a `LogEntry` per
 * header) or `index` (`LogIndex.build`). Run by the `codec-scan-*` scenarios.
 *
 * usage: node bench/dist/scan-headers.js skim|next|index LOG
 */
import { LogFile, LogIndex } from "@lwlog/codec/core";

const [how, path] = process.argv.slice(2);
if ((how !== "skim" && how !== "next" && how !== "index") || path === undefined) {
  console.error("usage: scan-headers.js skim|next|index LOG");
  process.exit(2);
}
const log = LogFile.openSync(path);
let entries = 0;
let marks = 0;
let dataBytes = 0;
if (how === "index") {
  const index = LogIndex.build(log);
  entries = index.length;
  marks = index.marks.length;
} else {
  const c = log.cursor({ tail: true });
  if (how === "skim") {
    for (let s = c.skim(); s !== undefined; s = c.skim()) {
      entries += 1;
      dataBytes += s.dataSize;
      if (s.kind === "mark") marks += 1;
    }
  } else {
    for (let e = c.next(); e !== undefined; e = c.next()) {
      entries += 1;
      dataBytes += e.dataSize;
      if (e.kind === "mark") marks += 1;
    }
  }
}
log.close();
console.log(JSON.stringify({ how, entries, marks, dataBytes }));
