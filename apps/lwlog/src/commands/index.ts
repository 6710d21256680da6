import type { CommandModule } from "../context.js";
import * as info from "./info.js";
import * as dump from "./dump.js";
import * as marks from "./marks.js";
import * as check from "./check.js";
import * as replay from "./replay.js";
import * as find from "./find.js";
import * as exportCommand from "./export.js";
import * as importCommand from "./import.js";
import * as convert from "./convert.js";
import * as record from "./record.js";
import * as mark from "./mark.js";
import * as status from "./status.js";
import * as diff from "./diff.js";
import * as plot from "./plot.js";

/**
 * Every command, in the order `lwlog --help` lists them. One file per command; each
 * exports `register(program, ctx)`.
 */
export const commands: CommandModule[] = [info, dump, marks, check, replay, find, exportCommand, importCommand, convert, record, mark, status, diff, plot];
