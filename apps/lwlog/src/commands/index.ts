import type { CommandModule } from "../context.js";
import * as marks from "./marks.js";

/**
 * Every command, in the order `lwlog --help` lists them. One file per command; each
 * exports `register(program, ctx)`.
 */
export const commands: CommandModule[] = [marks];
