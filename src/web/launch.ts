// spawnThreads for browsers: N ranks in Web Workers over the same shared-memory rings, doorbells and failure rules.
import { wasmModule } from '#platform';
import { UsageError, describe } from '../errors.js';
import { toRankError, type RankError, type RankOutcome } from '../comm/outcome.js';
import { GroupStopper, checkStopPolicy, type StopPolicy, type Stoppable } from '../comm/stop.js';
import { createThreadRanks } from '../comm/thread-world.js';
import type { FromRank, ToRank } from './protocol.js';

/** Options of the browser `spawnThreads`. */
export interface WebLaunchOptions {
  /** Ring capacity per direction (power of two). */
  ringBytes?: number;
  /** Terminate ranks still running after this many milliseconds (their outcome is an error). Default: none. */
  deadlineMs?: number;
  /** Once a rank fails, how long the others may take to end on their own before they are terminated. */
  stop?: Pick<StopPolicy, 'drainMs'>;
  /** Aborting it terminates every rank. */
  signal?: AbortSignal;
  /** Given to every rank body as `ctx.data` (structured clone: a SharedArrayBuffer in it is shared, not copied). */
  data?: unknown;
  /** What a rank body sent with its `post()` (progress, pictures); called on the page's event loop. */
  onEvent?: (rank: number, data: unknown) => void;
  /** The rank workers' bootstrap script; default rank-worker.js next to this bundle. */
  workerUrl?: string | URL;
}

/** A running browser launch: its outcomes, and a handle to end one rank as a crash would (tests, demos). */
export interface WebLaunch<T> {
  outcomes: Promise<RankOutcome<T>[]>;
  /** Terminate rank `r`'s worker now: the others fail with PeerDiedError naming it, as if it had crashed. */
  kill(r: number): void;
}

/** The part of a DOM Worker this launcher uses (the core is compiled without the DOM library). */
interface WebWorker {
  postMessage(m: unknown): void;
  terminate(): void;
  onmessage: ((e: { data: FromRank }) => void) | null;
  onerror: ((e: { message?: string; preventDefault(): void }) => void) | null;
  onmessageerror: (() => void) | null;
}
type WorkerCtor = new (url: string | URL, o: { type: 'module'; name: string }) => WebWorker;

/**
 * Run the ES module at `body` as `n` ranks, each in a Web Worker of this page. The module's default export is called
 * as `body(pg, args, ctx)` (RankBody) with the world group (shared memory, as spawnThreads' worker threads in
 * Node); its result is the rank's value. Needs a cross-origin isolated page (SharedArrayBuffer). The page's thread only
 * supervises and never blocks: a rank that throws, or whose worker ends, makes every other rank's collectives fail
 * with PeerDiedError naming it; ranks still running `stop.drainMs` (default 3000) after a failure are terminated.
 * Resolves with every rank's outcome once all have ended (never rejects for a rank's failure).
 */
export function startThreads<T = unknown>(
  n: number,
  body: string | URL,
  args: string[] = [],
  opts: WebLaunchOptions = {},
): WebLaunch<T> {
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`spawnThreads: n must be a positive integer number of ranks, received ${describe(n)}`);
  if (typeof body !== 'string' && !(body instanceof URL))
    throw new UsageError(`spawnThreads: body must be a module URL, received ${describe(body)}`);
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string'))
    throw new UsageError(`spawnThreads: args must be an array of strings, received ${describe(args)}`);
  const policy = checkStopPolicy('spawnThreads', { drainMs: opts.stop?.drainMs, graceMs: 0 });
  const Ctor = (globalThis as unknown as { Worker?: WorkerCtor }).Worker;
  if (Ctor === undefined)
    throw new UsageError('spawnThreads: this browser build needs Web Workers (globalThis.Worker)');
  if (typeof SharedArrayBuffer === 'undefined') {
    throw new UsageError(
      'spawnThreads: SharedArrayBuffer is unavailable: serve the page cross-origin isolated ' +
        '(COOP same-origin, COEP require-corp)',
    );
  }
  const ranks = createThreadRanks(n, opts.ringBytes);
  const bodyUrl = new URL(body, (globalThis as { location?: { href: string } }).location?.href).href;
  const workerUrl = opts.workerUrl ?? new URL('./rank-worker.js', import.meta.url);
  const outcomes: RankOutcome<T>[] = new Array(n);
  const workers: WebWorker[] = [];
  const joined = new Array<boolean>(n).fill(false);
  const handles: Stoppable[] = Array.from({ length: n }, (_, r) => ({
    running: () => outcomes[r] === undefined,
    terminate: () => end(r, { rank: r, ok: false, error: killed(r, `ended by the launcher (${stopper.reason})`) }),
    kill: () => undefined,
  }));
  const stopper = new GroupStopper(handles, policy);
  let resolve!: (o: RankOutcome<T>[]) => void;
  const all = new Promise<RankOutcome<T>[]>((res) => (resolve = res));
  let left = n;
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (opts.deadlineMs !== undefined)
    timer = setTimeout(() => stopper.stop(`deadline of ${opts.deadlineMs} ms passed`), opts.deadlineMs);
  const onAbort = (): void => stopper.stop(`the launch was aborted (${String(opts.signal?.reason)})`);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const module = wasmModule();
  for (let r = 0; r < n; r++) {
    const w = new Ctor(workerUrl, { type: 'module', name: `syncbn rank ${r}` });
    workers.push(w);
    w.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'event') opts.onEvent?.(r, m.data);
      else if (m.type === 'joined') joined[r] = true;
      else if (m.type === 'result') end(r, { rank: r, ok: true, value: m.value as T });
      else if (m.type === 'error') end(r, { rank: r, ok: false, error: m.error });
    };
    w.onerror = (e) => {
      e.preventDefault();
      end(r, {
        rank: r,
        ok: false,
        error: { name: 'Error', message: `uncaught in rank ${r}'s worker: ${e.message ?? 'unknown error'}` },
      });
    };
    w.onmessageerror = () =>
      end(r, {
        rank: r,
        ok: false,
        error: { name: 'Error', message: `rank ${r} sent a message that could not be read` },
      });
    const init: ToRank = {
      type: 'init',
      rank: r,
      body: bodyUrl,
      args,
      data: opts.data,
      module,
      workerData: ranks.workerData(r),
    };
    w.postMessage(init);
  }
  return {
    outcomes: all,
    kill: (r) =>
      void (
        outcomes[r] === undefined &&
        end(r, {
          rank: r,
          ok: false,
          error: { name: 'Error', message: `rank ${r}'s worker was terminated`, code: 'E_RANK_EXIT' },
        })
      ),
  };

  /** Rank r has ended (or is being ended): record its outcome once, tell the others, stop its worker. */
  function end(r: number, o: RankOutcome<T>): void {
    if (outcomes[r] !== undefined) return;
    workers[r]?.terminate();
    if (o.ok) {
      ranks.left(r);
    } else {
      ranks.died(r, `${o.error.name}: ${o.error.message}`);
      if (!stopper.ended.has(r)) stopper.rankFailed(r);
    }
    o.joined = joined[r];
    outcomes[r] = o;
    if (--left === 0) {
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      stopper.dispose();
      resolve(outcomes);
    }
  }
}

function killed(r: number, how: string): RankError {
  return { name: 'Error', message: `rank ${r} was ${how}`, code: 'E_RANK_KILLED' };
}

/** Like Node's spawnThreads: run `body` as `n` Web Worker ranks and resolve with every rank's outcome. */
export function spawnThreads<T = unknown>(
  n: number,
  body: string | URL,
  args: string[] = [],
  opts: WebLaunchOptions = {},
): Promise<RankOutcome<T>[]> {
  return startThreads<T>(n, body, args, opts).outcomes;
}

export { toRankError };
