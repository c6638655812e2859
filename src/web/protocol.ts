// Messages between the page's launcher (src/web/launch.ts) and a rank's Web Worker (src/web/rank-worker.ts).
import type { RankError } from '../comm/outcome.js';

/** Page → worker, once: who the rank is, what to run, the compiled kernels and the shared memories. */
export interface ToRank {
  type: 'init';
  rank: number;
  /** Absolute URL of the rank body module (its default export is the rank function). */
  body: string;
  args: string[];
  /** The launch's `data` option, the same for every rank (a SharedArrayBuffer inside it is shared, not copied). */
  data: unknown;
  module: WebAssembly.Module;
  /** What Node's worker_threads would carry as workerData (read through #platform's workerData()). */
  workerData: unknown;
}

/** Worker → page. */
export type FromRank =
  | { type: 'joined' }
  | { type: 'event'; data: unknown }
  | { type: 'result'; value: unknown }
  | { type: 'error'; error: RankError };

/** What a rank body gets besides its group and arguments. */
export interface RankContext {
  /** Send `data` to the page (the launcher's onEvent); `transfer` moves those buffers instead of copying them. */
  post(data: unknown, transfer?: ArrayBuffer[]): void;
  /** The launch's `data` option. */
  data: unknown;
}

/** A rank body: the default export of the module given to the browser spawnThreads. */
export type RankBody<T = unknown> = (
  pg: import('../comm/types.js').ProcessGroup,
  args: string[],
  ctx: RankContext,
) => T | Promise<T>;
