// Messages between the page's launcher (src/web/launch.ts) and a rank's Web Worker (src/web/rank-worker.ts).
import type { RankError } from '../comm/outcome.js';

/** Page → worker, once: who the rank is, what to run, the compiled kernels and the shared memories. */
export interface ToRank {
  type: 'init';
  rank: number;
  /** Absolute URL of the rank body module (its default export is the rank function). */
  body: string;
  args: string[];
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

/** A rank body: the default export of the module given to the browser spawnThreads. */
export type RankBody<T = unknown> = (
  pg: import('../comm/types.js').ProcessGroup,
  args: string[],
  post: (data: unknown, transfer?: Transferable[]) => void,
) => T | Promise<T>;

type Transferable = ArrayBuffer;
