import type { CommandModule, LazyCommand } from "../context.js";

/**
 * Every command, in the order `lwlog --help` lists them. One file per command; each
 * exports `register(program, ctx)`. An entry names the command and imports its module only
 * when it is needed: a run loads the module of the command it runs (all of them for the
 * command list of `lwlog --help`), which keeps start-up fast. (A module imported here
 * directly, `import * as x from "./x.js"` and `x` in the list, works too, loaded always.)
 */
export const commands: (LazyCommand | CommandModule)[] = [
  { name: "info", load: () => import("./info.js") },
  { name: "dump", load: () => import("./dump.js") },
  { name: "marks", load: () => import("./marks.js") },
  { name: "check", load: () => import("./check.js") },
  { name: "replay", load: () => import("./replay.js") },
  { name: "find", load: () => import("./find.js") },
  { name: "crashes", load: () => import("./crashes.js") },
  { name: "replay-log", ownArgs: true, load: () => import("./replay-log.js") },
  { name: "export", load: () => import("./export.js") },
  { name: "import", load: () => import("./import.js") },
  { name: "convert", load: () => import("./convert.js") },
  { name: "record", load: () => import("./record.js") },
  { name: "mark", load: () => import("./mark.js") },
  { name: "status", load: () => import("./status.js") },
  { name: "diff", load: () => import("./diff.js") },
  { name: "plot", load: () => import("./plot.js") },
];
