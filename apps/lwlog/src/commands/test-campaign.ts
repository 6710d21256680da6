import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LogWriter } from "@lwlog/codec";
import { randomBytes, repoRoot } from "@lwlog/testkit";

const S = 512;

/** A campaign's test log and the checker that fails some of its crash states. */
export interface CampaignFixture {
  log: string;
  /** `--exec` command: fails (exit 3) a state holding a commit block without its journal block. */
  check: string;
  /** States of the default plan (`--points flush`, every state), and failing ones. */
  states: number;
  failing: number;
}

/**
 * Groups of writes, each ended by a flush (the last one by the end of the log): a journal
 * block J and its commit block C with no flush between them (the missing-flush bug), a
 * two-sector home write, and some unrelated writes. A crash state fails when it keeps C
 * without J: a quarter of each point's states. Groups of 4, 5, 3 and 2 candidates give
 * points of 16, 32, 8 and 4 states (60), 15 of them failing.
 */
export async function campaignFixture(dir: string): Promise<CampaignFixture> {
  const log = join(dir, "groups.log");
  const w = await LogWriter.create(log, { sectorSize: S });
  const noise = [1, 2, 0, -1]; // unrelated writes per group (-1: the last group has J and C only)
  const lines = ["image=$1", "fail=0"];
  for (let g = 0; g < noise.length; g++) {
    const base = 64 * g;
    await w.mark(`group${g}`);
    const j = randomBytes(S, 100 + g);
    const c = randomBytes(S, 200 + g);
    await w.write(BigInt(base), j);
    await w.write(BigInt(base + 1), c);
    if (noise[g]! >= 0) await w.write(BigInt(base + 2), randomBytes(2 * S, 300 + g));
    for (let k = 0; k < noise[g]!; k++) await w.write(BigInt(base + 8 + k), randomBytes(S, 400 + 10 * g + k));
    if (g < noise.length - 1) await w.flush();
    writeFileSync(join(dir, `j${g}.bin`), j);
    writeFileSync(join(dir, `c${g}.bin`), c);
    lines.push(
      `if cmp -s -i ${(base + 1) * S}:0 -n ${S} "$image" ${join(dir, `c${g}.bin`)} && ! cmp -s -i ${base * S}:0 -n ${S} "$image" ${join(dir, `j${g}.bin`)}; then echo "group ${g}: commit block without its journal block ($LWLOG_STATE)"; fail=1; fi`,
    );
  }
  await w.close();
  lines.push('[ "$fail" = 0 ] || exit 3');
  const script = join(dir, "check.sh");
  writeFileSync(script, lines.join("\n") + "\n");
  return { log, check: `sh ${script} {image}`, states: 60, failing: 15 };
}

/** A report document without what differs between any two runs (`seconds`, `views`) and the report's own `campaign` member. */
export function comparable(doc: Record<string, unknown>): Record<string, unknown> {
  const { seconds: _s, views: _v, campaign: _c, ...rest } = doc;
  return rest;
}

/**
 * An executable `lwlog` in `dir/bin` running the built CLI (`apps/lwlog/dist/main.js`, which
 * `npm test` builds first): what GNU parallel and Kubernetes' command lines call.
 */
export function lwlogCommand(dir: string): string {
  const cli = join(repoRoot, "apps/lwlog/dist/main.js");
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  mkdirSync(join(dir, "bin"), { recursive: true });
  const bin = join(dir, "bin", "lwlog");
  writeFileSync(bin, `#!/bin/sh\nexec ${process.execPath} ${cli} "$@"\n`);
  chmodSync(bin, 0o755);
  return bin;
}
