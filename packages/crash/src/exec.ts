import { spawn } from "node:child_process";
import type { JudgeContext, Verdict } from "./judge.js";
import type { ViewCheck } from "./pipeline.js";

/** Bytes of a checker's output kept (its beginning: records keep the first lines). */
const KEEP = 64 << 10;

/** Quotes a string for `sh` (single quotes). */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * `--exec`: runs `command` with `sh -c` on the exposed scratch view: `{image}` becomes the
 * view's file, `{nbd}` its NBD URI (served only when the command names it), `{entry}` the
 * crash point; the environment gets `LWLOG_ENTRY`, `LWLOG_STATE`, `LWLOG_LOG`, `LWLOG_IMAGE`,
 * `LWLOG_NBD` and `LWLOG_MARK` (the last mark before the crash point). Exit status 0 passes.
 * An abort stops the command (SIGTERM, then SIGKILL after 2 s).
 */
export function execJudge(command: string, env: Record<string, string | undefined>, cwd: string): ViewCheck {
  const wantsNbd = command.includes("{nbd}");
  return async (view, ctx: JudgeContext): Promise<Verdict> => {
    const exposed = await view.expose({ image: true, nbd: wantsNbd });
    const image = exposed.image ?? "";
    const cmd = command
      .replaceAll("{image}", shellQuote(image))
      .replaceAll("{nbd}", shellQuote(exposed.nbd ?? ""))
      .replaceAll("{entry}", String(ctx.position));
    const childEnv: Record<string, string | undefined> = { ...env, LWLOG_ENTRY: String(ctx.position), LWLOG_STATE: ctx.id, LWLOG_LOG: ctx.log, LWLOG_IMAGE: image };
    if (exposed.nbd !== undefined) childEnv.LWLOG_NBD = exposed.nbd;
    else delete childEnv.LWLOG_NBD;
    if (ctx.mark !== undefined) childEnv.LWLOG_MARK = ctx.mark;
    else delete childEnv.LWLOG_MARK;
    return new Promise<Verdict>((resolve) => {
      const child = spawn("/bin/sh", ["-c", cmd], { env: childEnv, cwd, stdio: ["ignore", "pipe", "pipe"], detached: true });
      let out = "";
      const keep = (chunk: Buffer) => {
        if (out.length < KEEP) out += chunk.toString("utf8");
      };
      child.stdout.on("data", keep);
      child.stderr.on("data", keep);
      let killer: NodeJS.Timeout | undefined;
      const stop = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGTERM");
        } catch {
          // already gone
        }
        killer = setTimeout(() => {
          try {
            if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
          } catch {
            // already gone
          }
        }, 2000);
      };
      if (ctx.signal?.aborted) stop();
      else ctx.signal?.addEventListener("abort", stop, { once: true });
      child.on("error", (err) => {
        ctx.signal?.removeEventListener("abort", stop);
        resolve({ ok: false, judge: "exec", exit: null, output: `cannot run /bin/sh: ${err.message}` });
      });
      child.on("close", (code, signal) => {
        ctx.signal?.removeEventListener("abort", stop);
        if (killer) clearTimeout(killer);
        if (ctx.signal?.aborted) resolve({ ok: false, aborted: true });
        else resolve({ ok: code === 0, judge: "exec", exit: code, signal, output: out });
      });
    });
  };
}
