import { describe, expect, it } from "vitest";
import { execChecker, type Checkpoint } from "./index.js";

const point: Checkpoint = { entry: 7, ordinal: 1, flags: ["FUA"], state: "7", log: "/l.log", image: "/tmp/my image", view: "copy", target: "/tmp/target" };

describe("execChecker", () => {
  it("replaces {image} (quoted) and {entry}, and sets the LWLOG_ variables", async () => {
    const r = await execChecker(`printf '%s|%s|%s' {image} {entry} "$LWLOG_ENTRY"`)(point, {});
    expect(r).toMatchObject({ ok: true, exitCode: 0, output: "/tmp/my image|7|7" });
  });

  it("placeholders: false runs the command as given, as system(3) would", async () => {
    const r = await execChecker(`printf '%s' '{image} {entry}'`, { placeholders: false })(point, {});
    expect(r.output).toBe("{image} {entry}");
  });

  it("onOutput passes stdout and stderr on as they come; the exit status decides", async () => {
    const seen: string[] = [];
    const r = await execChecker("echo out; echo err >&2; exit 3", { onOutput: (chunk, stream) => seen.push(`${stream}:${Buffer.from(chunk).toString()}`) })(point, {});
    expect(r).toMatchObject({ ok: false, exitCode: 3 });
    expect(seen.sort()).toEqual(["stderr:err\n", "stdout:out\n"]);
  });

  it("a command killed by a signal fails (system(3) callers that read only WEXITSTATUS would pass it)", async () => {
    const r = await execChecker("kill -KILL $$")(point, {});
    expect(r).toMatchObject({ ok: false, exitCode: null, signal: "SIGKILL" });
  });
});
