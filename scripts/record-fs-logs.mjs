#!/usr/bin/env node
// Re-records test-data/recorded/: each recipe of @lwlog/testkit's `recordedLogRecipes` run
// through `lwlog record` + nbdfuse + losetup + mkfs + mount by `fsWorkloadLog`, then the log,
// its --persisted list and manifest.json written there. Needs root, /dev/fuse, loop devices
// and a build (`npm run build`). Usage: node scripts/record-fs-logs.mjs [NAME...]
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const cli = join(root, "apps/lwlog/dist/main.js");
const testkitDist = join(root, "packages/testkit/dist/index.js");
for (const f of [cli, testkitDist]) {
  if (!existsSync(f)) {
    console.error(`record-fs-logs: ${f} is missing: run npm run build first`);
    process.exit(2);
  }
}
const { fsWorkloadLog, makeTempDir, recordedLogDir, recordedLogRecipes, sha256File } = await import(testkitDist);

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !recordedLogRecipes.some((r) => r.name === n));
if (unknown.length > 0) {
  console.error(`record-fs-logs: no recipe named ${unknown.join(", ")} (there are ${recordedLogRecipes.map((r) => r.name).join(", ")})`);
  process.exit(2);
}
const manifestPath = join(recordedLogDir, "manifest.json");
const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, "utf8")) : { logs: [] };

function version(cmd, args, pattern) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  const m = pattern.exec(`${r.stdout}${r.stderr}`);
  return m ? m[1] : "unknown";
}
const tools = {
  "e2fsprogs (mkfs.ext4)": version("mkfs.ext4", ["-V"], /mke2fs ([\d.]+)/),
  "xfsprogs (mkfs.xfs)": version("mkfs.xfs", ["-V"], /version ([\d.]+)/),
  "libnbd (nbdfuse)": version("nbdfuse", ["--version"], /nbdfuse ([\d.]+)/),
};

function kindCounts(log) {
  const r = spawnSync(process.execPath, [cli, "info", log, "--json"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`lwlog info ${log}: ${r.stderr}`);
  const info = JSON.parse(r.stdout);
  const { unknown, ...kinds } = info.counts;
  return unknown === 0 ? kinds : { ...kinds, unknown };
}

for (const recipe of recordedLogRecipes) {
  if (wanted.length > 0 && !wanted.includes(recipe.name)) continue;
  const tmp = makeTempDir(`lwlog-record-${recipe.name}-`);
  try {
    const t0 = Date.now();
    const r = await fsWorkloadLog({ ...recipe.options, dir: tmp.path, lwlog: [process.execPath, cli] });
    const log = join(recordedLogDir, `${recipe.name}.log`);
    copyFileSync(r.log, log);
    writeFileSync(join(recordedLogDir, `${recipe.name}.persisted`), r.persisted.join("\n") + "\n");
    const files = {};
    for (const [mark, byPath] of r.files) files[mark] = [...byPath].map(([path, f]) => ({ path, size: f.size, sha256: f.sha256 }));
    const counts = kindCounts(log);
    const entry = {
      name: recipe.name,
      description: recipe.description,
      fs: recipe.options.fs,
      imageBytes: recipe.options.size,
      mountOptions: recipe.options.mountOptions ?? null,
      mkfsOptions: recipe.options.mkfsOptions ?? ["-q", recipe.options.fs === "xfs" ? "-f" : "-F"],
      recordOptions: recipe.options.recordOptions ?? [],
      entries: r.marks.at(-1).entry + 1,
      logBytes: statSync(log).size,
      logSha256: sha256File(log),
      counts,
      marks: r.marks,
      files,
      loopFua: r.loopFua,
      recordedWith: { kernel: release(), tools },
    };
    manifest.logs = [...manifest.logs.filter((l) => l.name !== recipe.name), entry].sort(
      (a, b) => recordedLogRecipes.findIndex((x) => x.name === a.name) - recordedLogRecipes.findIndex((x) => x.name === b.name),
    );
    console.log(`${recipe.name}: ${entry.entries} entries, ${entry.logBytes} bytes, ${r.persisted.length} persisted lines, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    tmp.cleanup();
  }
}
writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
