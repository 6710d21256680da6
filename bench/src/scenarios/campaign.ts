import { rmSync } from "node:fs";
import { join } from "node:path";
import { median, timeOnce, type BenchContext, type Sample, type Scenario, type Subject } from "../harness.js";

/** `a b c` quoted for sh. */
function sh(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** median [min–max] of some ratios, two decimals. */
function spread(xs: number[]): string {
  return `${median(xs).toFixed(2)} [${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}]`;
}

/**
 * A crash campaign on one machine, against the same run without one. The log is the ext4
 * workload recorded through `lwlog record` (test-data/recorded/ext4.log); the states are
 * judged by the real ext4 judge (journal recovery, then `e2fsck -fn`), as a campaign's would be.
 * Each round runs, one after the other on the same plan: the one-machine run; the plan of a
 * campaign of 2 jobs; its jobs one after the other (P = 1); the report; its jobs at once with GNU
 * parallel (P = 2); and `--parallel 2`. Ratios are taken within each round (the machine's load
 * falls on all alike) and given as the median and range over the rounds.
 */
export const campaign: Scenario = {
  name: "campaign",
  goal: "a crash campaign's wall time with P = 1 and P = 2 workers on the same 2-job plan, and the overhead of plan + report against a one-machine run (ratios printed)",
  setup(ctx: BenchContext) {
    const log = join(ctx.root, "test-data/recorded/ext4.log");
    const samples = Math.max(20, Math.round(120 * ctx.scale));
    const dir = join(ctx.dataDir, `campaign-${process.pid}`);
    const args = ["crashes", log, "--from-mark", "mkfs", "--points", "mark,every:2", "--samples", String(samples), "--fs", "ext4", "--quiet"];
    const lwlog = sh(ctx.lwlog);
    // A run whose states fail exits 1: still a finished run.
    const done = (cmd: string) => `${cmd} > /dev/null; test $? -le 1`;
    const subject = (name: string, script: string): Subject => ({ name, argv: [script], shell: true });
    const subjects = {
      one: subject("one-machine", done(`${lwlog} ${sh(args)}`)),
      plan: subject("plan", `rm -rf ${dir} && ${lwlog} ${sh(args.filter((a) => a !== "--quiet"))} --plan ${dir} --jobs-count 2 > /dev/null`),
      p1: subject("jobs P=1", `rm -rf ${dir}/results ${dir}/minimised && ${lwlog} crashes run ${dir} --job 0 -q && ${lwlog} crashes run ${dir} --job 1 -q`),
      report: subject("report", done(`rm -rf ${dir}/minimised; ${lwlog} crashes report ${dir}`)),
      p2: subject("jobs P=2", `rm -rf ${dir}/results ${dir}/minimised && seq 0 1 | parallel --will-cite -j 2 ${lwlog} crashes run ${dir} --job {} -q`),
      par: subject("--parallel 2", done(`${lwlog} ${sh(args)} --parallel 2`)),
    };
    const order = [subjects.one, subjects.plan, subjects.p1, subjects.report, subjects.p2, subjects.par];
    return {
      subjects: order,
      teardown: () => rmSync(dir, { recursive: true, force: true }),
      custom: async (runs: number) => {
        for (const s of order) timeOnce(s); // warm-up: page cache, the judge's binaries
        const t: Record<string, Sample[]> = {};
        for (const s of order) t[s.name] = [];
        for (let i = 0; i < runs; i++) for (const s of order) t[s.name]!.push(timeOnce(s));
        const at = (name: string, i: number) => t[name]![i]!.seconds;
        const rounds = [...Array(runs).keys()];
        const p1 = rounds.map((i) => at("plan", i) + at("jobs P=1", i) + at("report", i));
        const p2 = rounds.map((i) => at("plan", i) + at("jobs P=2", i) + at("report", i));
        const one = rounds.map((i) => at("one-machine", i));
        const ratios = {
          p2OverP1: rounds.map((i) => p2[i]! / p1[i]!),
          planReportOverOne: rounds.map((i) => (at("plan", i) + at("report", i)) / one[i]!),
          campaignP1OverOne: rounds.map((i) => p1[i]! / one[i]!),
          parallel2OverOne: rounds.map((i) => at("--parallel 2", i) / one[i]!),
        };
        const lines = [`${samples} states of ${log.replace(ctx.root + "/", "")} (--fs ext4), a plan of 2 jobs, ${runs} rounds`, `${"subject".padEnd(14)} ${"median s".padStart(9)} ${"min s".padStart(8)} ${"max s".padStart(8)} ${"peak RSS".padStart(10)}`];
        for (const s of order) {
          const secs = t[s.name]!.map((x) => x.seconds);
          const rss = Math.max(...t[s.name]!.map((x) => x.maxRssKiB)) / 1024;
          lines.push(`${s.name.padEnd(14)} ${median(secs).toFixed(3).padStart(9)} ${Math.min(...secs).toFixed(3).padStart(8)} ${Math.max(...secs).toFixed(3).padStart(8)} ${`${rss.toFixed(0)} MiB`.padStart(10)}`);
        }
        lines.push(
          `campaign wall time, plan + jobs + report: P=1 ${median(p1).toFixed(2)} s, P=2 ${median(p2).toFixed(2)} s; P=2 / P=1 = ${spread(ratios.p2OverP1)}`,
          `overhead of plan + report / one-machine run = ${spread(ratios.planReportOverOne)}; whole campaign at P=1 / one-machine run = ${spread(ratios.campaignP1OverOne)}`,
          `--parallel 2 / one-machine run = ${spread(ratios.parallel2OverOne)}`,
        );
        return { lines, json: { samples, runs, seconds: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.map((x) => x.seconds)])), ratios } };
      },
    };
  },
};
