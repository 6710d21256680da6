import { existsSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, requireTool } from "./tools.js";

/** Options of `qemuLog`. */
export interface QemuLogOptions {
  /** Directory for the image and the log. */
  dir: string;
  /** Image file name in `dir` (default `image.img`); created with `imageSize` zero bytes when missing. */
  image?: string;
  /** Size of a new image in bytes (default 16 MiB). */
  imageSize?: number;
  /** Log file name in `dir` (default `qemu.log`); created empty when missing. */
  log?: string;
  /** QEMU `log-sector-size` (default 512). Ignored with `append`. */
  sectorSize?: number;
  /** QEMU `log-super-update-interval` (default QEMU's own, 4096). */
  superInterval?: number;
  /** QEMU `log-append=on`: append to an existing log. */
  append?: boolean;
  /** qemu-io cache mode (`-t`), e.g. `writeback` so that only explicit flushes reach the log. */
  cache?: string;
  /** qemu-io commands, each passed with `-c` (e.g. `write -P 0xaa 0 4096`, `flush`). */
  commands: readonly string[];
  /** Extra blklogwrites/qemu options appended to the image-opts string. */
  extraOpts?: string;
}

/** What `qemuLog` made. */
export interface QemuLogResult {
  image: string;
  log: string;
  stdout: string;
  stderr: string;
}

/** The `--image-opts` string for QEMU's blklogwrites over a raw image file and a log file. */
export function blklogwritesOpts(o: { image: string; log: string; sectorSize?: number; superInterval?: number; append?: boolean; extraOpts?: string }): string {
  const parts = [
    "driver=blklogwrites",
    "file.driver=file",
    `file.filename=${o.image}`,
    "log.driver=file",
    `log.filename=${o.log}`,
  ];
  if (o.append) parts.push("log-append=on");
  else if (o.sectorSize !== undefined) parts.push(`log-sector-size=${o.sectorSize}`);
  if (o.superInterval !== undefined) parts.push(`log-super-update-interval=${o.superInterval}`);
  if (o.extraOpts) parts.push(o.extraOpts);
  return parts.join(",");
}

/**
 * Runs `qemu-io` on QEMU's own blklogwrites driver, so QEMU writes a reference log of the
 * commands. Throws when qemu-io fails or reports an error for any command.
 */
export function qemuLog(options: QemuLogOptions): QemuLogResult {
  requireTool("qemu-io");
  const image = join(options.dir, options.image ?? "image.img");
  const log = join(options.dir, options.log ?? "qemu.log");
  if (!existsSync(image)) {
    writeFileSync(image, new Uint8Array(0));
    run("truncate", ["-s", String(options.imageSize ?? 16 << 20), image]);
  }
  if (!existsSync(log)) writeFileSync(log, new Uint8Array(0));
  const opts = blklogwritesOpts({
    image,
    log,
    sectorSize: options.sectorSize ?? 512,
    ...(options.superInterval !== undefined ? { superInterval: options.superInterval } : {}),
    ...(options.append ? { append: true } : {}),
    ...(options.extraOpts ? { extraOpts: options.extraOpts } : {}),
  });
  const args = ["--image-opts", opts];
  if (options.cache) args.unshift("-t", options.cache);
  for (const c of options.commands) args.push("-c", c);
  const r = run("qemu-io", args);
  const failed = /^(.*(error|failed|Invalid|Unsupported).*)$/im.exec(r.stdout + r.stderr);
  if (failed) throw new Error(`qemu-io reported a failure: ${failed[1]}\n${r.stderr}${r.stdout}`);
  return { image, log, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A QEMU log whose writer died (qemu-io's `abort`, after `commands`, with `-t writeback`):
 * QEMU wrote every entry but rewrote the superblock only at its last flush, so the entries
 * after that flush are a tail past `nr_entries`, as after a real crash. Returns the log's path
 * (`qemu.log` in `dir`, next to a 16 MiB `image.img`).
 */
export function qemuCrashLog(dir: string, sectorSize: number, commands: readonly string[]): string {
  mkdirSync(dir, { recursive: true });
  const image = join(dir, "image.img");
  const log = join(dir, "qemu.log");
  writeFileSync(image, new Uint8Array(0));
  truncateSync(image, 16 << 20);
  writeFileSync(log, new Uint8Array(0));
  const args = ["-t", "writeback", "--image-opts", blklogwritesOpts({ image, log, sectorSize })];
  for (const c of commands) args.push("-c", c);
  args.push("-c", "abort");
  const r = run("qemu-io", args, { check: false });
  if (/error|failed|Invalid/i.test(r.stdout + r.stderr)) throw new Error(`qemu-io failed: ${r.stderr}${r.stdout}`);
  return log;
}
