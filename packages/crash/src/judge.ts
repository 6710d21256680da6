import type { StateSink } from "./apply.js";

/**
 * A scratch view of the durable prefix, as the engine uses it: written with the state's own
 * bytes (`write`, `zero`), then exposed to the judge, then disposed. `@lwlog/scratch`'s
 * `ScratchView` is one.
 */
export interface EngineView extends StateSink {
  write(offset: number, data: Uint8Array): void;
  zero(offset: number, length: number): void;
  readInto(out: Uint8Array, offset: number): void;
  expose(options?: { image?: boolean; nbd?: boolean }): Promise<{ image?: string; nbd?: string }>;
  dispose(): Promise<void>;
}

/** Makes a scratch view of the durable image at `base` (which does not change while the view lives). */
export type ViewMaker = (base: string, size: number) => Promise<EngineView>;

/**
 * The views of one state a judge may ask for: each `fresh()` is a new scratch view of the
 * durable image with the state's own bytes already written (not exposed yet), so judges that
 * change what they look at (a journal replay, a mount) never see each other's changes. The
 * engine disposes them all after the verdict.
 */
export interface StateViews {
  fresh(): Promise<EngineView>;
}

/** What a judge is told about the state it judges. */
export interface JudgeContext {
  /** The state's id (`LWLOG_STATE`). */
  id: string;
  /** The crash point's position: the entry before which the crash comes (`LWLOG_ENTRY`). */
  position: number;
  /** The last mark before the crash point (`LWLOG_MARK`). */
  mark?: string;
  /** Path of the log (`LWLOG_LOG`). */
  log: string;
  /** Ordinal of the state in the plan (0 for states outside it: minimisation steps, `--state`). */
  ordinal: number;
  /** Aborted when the run is interrupted: a judge stops its checker and its verdict is not used. */
  signal?: AbortSignal;
  /** With a `--persisted` list: the window the crash point lies in, and the files as they were at its mark. */
  files?: { window: import("./persisted.js").PersistedWindow; expected: import("./persisted.js").Expectations };
}

/** What a judge said. */
export interface Verdict {
  ok: boolean;
  /** Which check failed (`fs`, `exec`, `data`, …): minimisation keeps a failure of the same kind. */
  judge?: string;
  /** The failing command's exit status (null when killed by a signal or not run). */
  exit?: number | null;
  signal?: string | null;
  /** What the checker printed (or, for the data judge, what differs). */
  output?: string;
  /** The data judge's findings. */
  files?: FileFinding[];
  /** True when the run's signal stopped the judge: no verdict at all. */
  aborted?: boolean;
}

/** A judge of crash states: takes the views it needs, runs its checks, says whether the state is sound. */
export type StateJudge = (views: StateViews, context: JudgeContext) => Promise<Verdict>;

/** A persisted file that is missing or different in a crash state. */
export interface FileFinding {
  path: string;
  /** The mark that made it durable, and its entry. */
  mark: string;
  markEntry: number;
  problem: "missing" | "size" | "content" | "type" | "unreadable";
  /** What it is in the state at the mark, and in the crash state. */
  expected: { size: number; sha256: string };
  found?: { size: number; sha256: string; kind: string };
  /** First byte that differs (content and size problems, when both contents were read). */
  firstDifference?: number;
  /** The finding in one line. */
  message: string;
}
