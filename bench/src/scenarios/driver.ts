import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, openSync, closeSync, ftruncateSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { BenchContext, Scenario } from "../harness.js";
import { median } from "../harness.js";

const MiB = 1 << 20;

/** One NBD server under test: started fresh (new image and log) for every timed run. */
interface Server {
  name: string;
  /** Starts the server on `socket` over `image` (and `log`), resolves once it accepts clients. */
  start(o: { image: string; log: string; socket: string }): Promise<ChildProcess>;
}

/** A client workload, timed on its own (server start and stop are not timed). */
interface Workload {
  name: string;
  /** The figure printed, from the run's seconds and the client's output. */
  unit: "MB/s" | "IOPS";
  imageBytes: number;
  run(uri: string): { seconds: number; value: number };
}

function waitForSocket(path: string, child: ChildProcess, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`server exited (${child.exitCode}) before listening`));
      if (Date.now() > end) return reject(new Error(`nothing listens on ${path} after ${ms} ms`));
      if (!existsSync(path)) return void setTimeout(attempt, 10);
      const s = connect(path);
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => setTimeout(attempt, 10));
    };
    attempt();
  });
}

function stopServer(child: ChildProcess): Promise<number> {
  // Peak RSS of the server while it served (VmHWM), read before it exits.
  let peakKiB = 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
    if (m) peakKiB = Number(m[1]);
  } catch {
    // already gone
  }
  return new Promise((resolve) => {
    child.once("exit", () => resolve(peakKiB));
    // SIGTERM: qemu-nbd ignores SIGINT; lwlog record stops cleanly on either.
    child.kill("SIGTERM");
  });
}

function servers(ctx: BenchContext): Server[] {
  const qemuNbd = (opts: string[]) => (o: { socket: string }) => {
    // stderr ignored: qemu-nbd complains about the readiness probe's connection.
    const child = spawn("qemu-nbd", ["--socket", o.socket, "--persistent", "--cache=writeback", "--aio=threads", ...opts], { stdio: ["ignore", "ignore", "ignore"] });
    return waitForSocket(o.socket, child).then(() => child);
  };
  return [
    {
      name: "lwlog",
      start: (o) => {
        const child = spawn(ctx.lwlog[0]!, [...ctx.lwlog.slice(1), "record", "--image", o.image, "--log", o.log, "--socket", o.socket, "--control", `${o.socket}.ctl`], {
          stdio: ["ignore", "ignore", "ignore"],
        });
        return waitForSocket(o.socket, child).then(() => child);
      },
    },
    {
      name: "qemu-nbd+blklogwrites",
      start: (o) =>
        qemuNbd([
          "--image-opts",
          `driver=blklogwrites,file.driver=file,file.filename=${o.image},log.driver=file,log.filename=${o.log},log-sector-size=512`,
        ])(o),
    },
    { name: "qemu-nbd", start: (o) => qemuNbd(["--format=raw", o.image])(o) },
  ];
}

function workloads(ctx: BenchContext): Workload[] {
  const copyBytes = Math.max(16, Math.round(512 * ctx.scale)) * MiB;
  const source = join(ctx.dataDir, `nbdcopy-random-${copyBytes / MiB}M.bin`);
  if (!existsSync(source)) {
    const fd = openSync(source, "w");
    const chunk = new Uint8Array(4 * MiB);
    let x = 0x9e3779b9;
    for (let done = 0; done < copyBytes; done += chunk.length) {
      for (let i = 0; i < chunk.length; i += 4) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        chunk[i] = x;
        chunk[i + 1] = x >>> 8;
        chunk[i + 2] = x >>> 16;
        chunk[i + 3] = x >>> 24;
      }
      writeSync(fd, chunk);
    }
    closeSync(fd);
  }
  const fioImage = Math.max(64, Math.round(512 * ctx.scale)) * MiB;
  const fioBytes = Math.max(16, Math.round(128 * ctx.scale)) * MiB;
  return [
    {
      name: `nbdcopy ${copyBytes / MiB} MiB of random data (then flush)`,
      unit: "MB/s",
      imageBytes: copyBytes,
      run(uri) {
        const t = process.hrtime.bigint();
        const r = spawnSync("nbdcopy", ["--flush", source, uri], { encoding: "utf8" });
        const seconds = Number(process.hrtime.bigint() - t) / 1e9;
        if (r.status !== 0) throw new Error(`nbdcopy failed: ${r.stderr}`);
        return { seconds, value: copyBytes / 1e6 / seconds };
      },
    },
    {
      name: `fio (nbd engine) 4 KiB random writes, ${fioBytes / MiB} MiB over a ${fioImage / MiB} MiB image, iodepth 32, then flush`,
      unit: "IOPS",
      imageBytes: fioImage,
      run(uri) {
        const t = process.hrtime.bigint();
        const r = spawnSync(
          "fio",
          [
            "--name=randwrite",
            "--ioengine=nbd",
            `--uri=${uri}`,
            "--rw=randwrite",
            "--bs=4k",
            `--size=${fioImage}`,
            `--io_size=${fioBytes}`,
            "--iodepth=32",
            "--end_fsync=1",
            "--randrepeat=1",
            "--output-format=json",
          ],
          { encoding: "utf8", maxBuffer: 64 << 20 },
        );
        const seconds = Number(process.hrtime.bigint() - t) / 1e9;
        if (r.status !== 0) throw new Error(`fio failed: ${r.stderr}${r.stdout}`);
        const json = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as { jobs: { write: { total_ios: number } }[] };
        // IOPS over the whole run, the final flush included (fio's own figure leaves it out).
        return { seconds, value: json.jobs[0]!.write.total_ios / seconds };
      },
    },
  ];
}

/**
 * `lwlog record` against `qemu-nbd` exporting the same kind of raw image through QEMU's
 * blklogwrites, and against plain `qemu-nbd` (no log): `nbdcopy` throughput and 4 KiB
 * random-write IOPS from `fio`'s nbd engine, over Unix sockets, every server started fresh
 * for each run, the three alternated.
 */
export const driver: Scenario = {
  name: "driver-nbd",
  goal: "lwlog record throughput (nbdcopy MB/s, fio 4 KiB randwrite IOPS) at least that of qemu-nbd with blklogwrites (ratio ≥ 1.0)",
  setup(ctx) {
    for (const tool of ["qemu-nbd", "nbdcopy", "fio"]) {
      if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed`);
    }
    return {
      subjects: [],
      custom: async (runs) => {
        const list = servers(ctx);
        const lines: string[] = [];
        const json: Record<string, unknown> = {};
        for (const w of workloads(ctx)) {
          const values = new Map<string, number[]>(list.map((s) => [s.name, []]));
          const rss = new Map<string, number[]>(list.map((s) => [s.name, []]));
          // One untimed warm-up round, then `runs` rounds, alternating the servers.
          for (let round = -1; round < runs; round++) {
            for (const s of list) {
              const image = join(ctx.dataDir, "driver-image.img");
              const log = join(ctx.dataDir, "driver-image.log");
              const socket = join(ctx.dataDir, "driver.sock");
              for (const f of [image, log, `${log}.ctl`, socket, `${socket}.ctl`]) rmSync(f, { force: true });
              const fd = openSync(image, "w");
              ftruncateSync(fd, w.imageBytes);
              closeSync(fd);
              if (s.name !== "lwlog") writeFileSync(log, "");
              // The previous run's dirty pages go to disk now, not during this run's timing.
              spawnSync("sync");
              const child = await s.start({ image, log, socket });
              let result: { seconds: number; value: number };
              try {
                result = w.run(`nbd+unix:///?socket=${socket}`);
              } finally {
                const peak = await stopServer(child);
                if (round >= 0) rss.get(s.name)!.push(peak / 1024);
              }
              if (round >= 0) values.get(s.name)!.push(result.value);
            }
          }
          const fmt = (v: number) => (w.unit === "IOPS" ? v.toFixed(0) : v.toFixed(1));
          lines.push(`${w.name} (${w.unit}: median [min–max] of ${runs}; server peak RSS)`);
          const summary: Record<string, unknown> = {};
          for (const s of list) {
            const v = values.get(s.name)!;
            const peak = Math.max(...rss.get(s.name)!);
            lines.push(`  ${s.name.padEnd(22)} ${fmt(median(v)).padStart(9)} [${fmt(Math.min(...v))}–${fmt(Math.max(...v))}]  ${peak.toFixed(0)} MiB`);
            summary[s.name] = { median: median(v), min: Math.min(...v), max: Math.max(...v), values: v, peakRssMiB: peak };
          }
          const lw = median(values.get("lwlog")!);
          for (const other of list.slice(1)) {
            const ratio = lw / median(values.get(other.name)!);
            const goal = other.name === "qemu-nbd+blklogwrites" ? ` (goal ≥ 1.0: ${ratio >= 1 ? "met" : "NOT met"})` : "";
            lines.push(`  ratio lwlog/${other.name} = ${ratio.toFixed(2)}${goal}`);
            summary[`lwlog/${other.name}`] = ratio;
          }
          json[w.name] = summary;
        }
        for (const f of ["driver-image.img", "driver-image.log", "driver.sock", "driver.sock.ctl"]) rmSync(join(ctx.dataDir, f), { force: true });
        return { lines, json };
      },
    };
  },
};
