import { PersistedExpectationError } from "./errors.js";
import type { EngineView, JudgeContext, StateJudge, StateViews, Verdict } from "./judge.js";
import { compareFiles, type FileProbe, type PersistedWindow } from "./persisted.js";

/**
 * What a file-system judge says (the shape of `@lwlog/judge`'s verdicts): the recovery a
 * kernel does at mount, then the read-only check, on an image it may change.
 */
export interface FsVerdict {
  ok: boolean;
  /** The file system judged. */
  fs?: string;
  step: string;
  summary: string;
  output: string;
  exitCode?: number | null;
  aborted?: boolean;
}

/** A file-system judge (`@lwlog/judge`'s `fsJudge`). */
export type FsCheck = (target: { image: string; signal?: AbortSignal }) => Promise<FsVerdict>;

/** What an image holds at a path (the shape of `@lwlog/judge`'s `readFiles` results). */
export interface FileFacts {
  path: string;
  exists: boolean;
  type?: string;
  size?: number;
  sha256?: string;
  /** A regular file's bytes, when the reader keeps them (small files): lets a difference be placed. */
  content?: Uint8Array;
}

/** Reads files from a recovered image (`@lwlog/judge`'s `readFiles`). */
export type FileLister = (image: string, fs: "ext4" | "xfs" | "btrfs", paths: readonly string[], options: { signal?: AbortSignal }) => Promise<FileFacts[]>;

/** A judge that gets one view of the state and exposes it itself (`--exec`). */
export type ViewCheck = (view: EngineView, context: JudgeContext) => Promise<Verdict>;

/** The judges of a run, in the order they run. */
export interface PipelineOptions {
  /** The file-system judge (`--fs`); with a `--persisted` list and no `--fs`, pass `fsJudge("auto")`: the files are read after its recovery. */
  fs?: FsCheck;
  /** Reads files for the data judge. */
  readFiles?: FileLister;
  /** A user's command (`--exec`). */
  exec?: ViewCheck;
}

/** A judge built by `judgePipeline`, and what the engine needs to read a window's files at its mark. */
export interface Pipeline {
  judge: StateJudge;
  /** Reads a window's files from the prefix state at its mark (recovered and checked first). */
  expect: (views: StateViews, window: PersistedWindow, signal?: AbortSignal) => Promise<Map<string, FileProbe>>;
}

/**
 * The judges of a state, in order, the first failure deciding: the file-system judge on a
 * view (recovery, then the read-only check), then, in a `--persisted` window, the data judge
 * on that recovered view (every listed file as it was at the mark), then `--exec` on a view
 * of its own (the crashed state as the kernel would find it, not the one the fs judge
 * recovered). An interrupted judge gives an `aborted` verdict.
 */
export function judgePipeline(options: PipelineOptions): Pipeline {
  const judge: StateJudge = async (views, ctx) => {
    if (options.fs !== undefined) {
      const view = await views.fresh();
      const { image } = await view.expose({ image: true });
      const v = await options.fs({ image: image!, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      if (v.aborted) return { ok: false, aborted: true };
      if (!v.ok) return { ok: false, judge: "fs", exit: v.exitCode ?? null, output: `${v.summary}\n${v.output}` };
      if (ctx.files !== undefined) {
        const found = await probe(options, image!, v.fs, ctx.files.window.paths, ctx.signal);
        const findings = compareFiles(ctx.files.window, ctx.files.expected, found);
        if (findings.length > 0) return { ok: false, judge: "data", exit: null, output: findings.map((f) => f.message).join("\n"), files: findings };
      }
    }
    if (options.exec !== undefined) {
      const v = await options.exec(await views.fresh(), ctx);
      if (!v.ok) return v;
    }
    return { ok: true, exit: 0 };
  };
  const expect: Pipeline["expect"] = async (views, window, signal) => {
    if (options.fs === undefined) throw new RangeError("the data judge needs a file-system judge to recover the state before reading files");
    const view = await views.fresh();
    const { image } = await view.expose({ image: true });
    const v = await options.fs({ image: image!, ...(signal ? { signal } : {}) });
    if (v.aborted) return new Map();
    if (!v.ok) {
      throw new PersistedExpectationError(
        `the state at mark ${JSON.stringify(window.mark)} (entry ${window.markEntry}) does not pass the file-system judge (${v.summary}): its files cannot be the reference of the --persisted list`,
      );
    }
    return probe(options, image!, v.fs, window.paths, signal);
  };
  return { judge, expect };
}

async function probe(options: PipelineOptions, image: string, fs: string | undefined, paths: readonly string[], signal: AbortSignal | undefined): Promise<Map<string, FileProbe>> {
  if (options.readFiles === undefined) throw new RangeError("the data judge needs readFiles");
  if (fs !== "ext4" && fs !== "xfs" && fs !== "btrfs") throw new RangeError(`the data judge cannot read files of ${fs ?? "an unknown file system"}`);
  const facts = await options.readFiles(image, fs, paths, signal ? { signal } : {});
  const out = new Map<string, FileProbe>();
  facts.forEach((f, k) => {
    const path = paths[k]!;
    if (!f.exists) out.set(path, { kind: "missing", size: 0 });
    else {
      const p: FileProbe = { kind: f.type === undefined ? "other" : f.type, size: f.size ?? 0 };
      if (f.sha256 !== undefined) p.sha256 = f.sha256;
      if (f.content !== undefined) p.content = f.content;
      out.set(path, p);
    }
  });
  return out;
}
