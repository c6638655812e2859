// Start N ranks on this machine: worker threads over shared memory, or child processes over TCP.
import { fork, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UsageError, describe } from '../errors.js';
import { envConfig } from './config.js';
import { OutputSink } from './launch-output.js';
import { toRankError, type RankError, type RankOutcome } from './outcome.js';
import { GroupStopper, checkStopPolicy, watchStopped, type StopPolicy, type Stoppable } from './stop.js';
import { createThreadRanks } from './thread-world.js';
import type { ProcessGroup } from './types.js';
import { checkNodes, nodeLayout, type NodeLayout } from './multinode.js';

/**
 * A rank body for the function form: runs inside the rank with its world group; must be self-contained (it is
 * stringified).
 */
export type RankFn<T> = (pg: ProcessGroup, args: string[], lib: typeof import('./index.js')) => T | Promise<T>;

/**
 * Options of `spawnThreads` / `spawnProcesses`. A launch never outlives its ranks and no rank outlives
 * a failed launch: once one rank fails, the others get `stop.drainMs` to end on their own and are
 * then stopped; child processes also exit when the launching process dies (even by SIGKILL).
 */
export interface LaunchOptions {
  /** Extra environment for every rank. */
  env?: Record<string, string>;
  /**
   * 'inherit' (default): rank output goes to ours; 'prefix': each line prefixed `[rank r] `; 'capture': returned in the
   * outcome.
   */
  output?: 'inherit' | 'prefix' | 'capture';
  /** Kill ranks still running after this many milliseconds (their outcome is an error). Default: none. */
  deadlineMs?: number;
  /** Per-rank environment, applied last (e.g. a wrong token for one rank in a test). */
  rankEnv?: (rank: number) => Record<string, string>;
  /** Processes: run each rank under this command prefix (e.g. ['ip', 'netns', 'exec', 'ns1']). */
  command?: (rank: number) => string[];
  /** Processes: the rendezvous address (rank 0 hosts it); default 127.0.0.1. */
  masterAddr?: string;
  /** Ring capacity per direction for threads (power of two). */
  ringBytes?: number;
  /** Processes: the rendezvous port; default a free port on this machine (required with nnodes > 1). */
  masterPort?: number;
  /**
   * Processes, multi-node: the number of launchers (nodes); this one starts global ranks nodeRank·n … nodeRank·n+n−1.
   */
  nnodes?: number;
  /** Processes, multi-node: this launcher's index in [0, nnodes). */
  nodeRank?: number;
  /** Once a rank fails, how the others are ended (drain window, then SIGTERM, then SIGKILL). */
  stop?: StopPolicy;
  /** Aborting it stops every rank (SIGTERM + SIGCONT, SIGKILL after the grace period; threads are terminated). */
  signal?: AbortSignal;
}

const RANK_MAIN = fileURLToPath(new URL('./rank-main.js', import.meta.url));

function checkLaunch(where: string, n: number, target: unknown, args: unknown): void {
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${where}: n must be a positive integer number of ranks, received ${describe(n)}`);
  if (typeof target !== 'string' && typeof target !== 'function' && !(target instanceof URL))
    throw new UsageError(`${where}: target must be a script path, file URL or function, received ${describe(target)}`);
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string'))
    throw new UsageError(`${where}: args must be an array of strings, received ${describe(args)}`);
}

function jobOf(
  target: string | URL | RankFn<unknown>,
  args: string[],
): { script?: string; fnSource?: string; args: string[] } {
  if (typeof target === 'function') return { fnSource: target.toString(), args };
  return { script: target instanceof URL ? fileURLToPath(target) : target, args };
}

function rankEnv(
  rank: number,
  n: number,
  extra: Record<string, string> | undefined,
  node: NodeLayout = { base: 0, world: n },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  // SYNCBN_ENV: these variables, not an enclosing Slurm/MPI allocation's, define the rank.
  const global = { RANK: String(node.base + rank), WORLD_SIZE: String(node.world), SYNCBN_ENV: 'torchrun' };
  Object.assign(env, extra ?? {}, { ...global, LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: String(n) });
  return env;
}

type Msg = { type: 'result'; value: unknown } | { type: 'error'; error: RankError } | { type: 'joined' };

/** The stopper and abort wiring shared by both launchers; `done()` once every rank has ended. */
function supervise(
  where: string,
  handles: Stoppable[],
  opts: LaunchOptions,
): { stopper: GroupStopper; done: () => void } {
  const stopper = new GroupStopper(handles, checkStopPolicy(where, opts.stop));
  let timer: NodeJS.Timeout | undefined;
  if (opts.deadlineMs !== undefined)
    timer = setTimeout(() => stopper.stop(`deadline of ${opts.deadlineMs} ms passed`), opts.deadlineMs);
  const onAbort = (): void => stopper.stop(`the launch was aborted (${abortText(opts.signal!.reason)})`);
  if (opts.signal?.aborted) setImmediate(onAbort);
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const done = (): void => {
    if (timer) clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    stopper.dispose();
  };
  return { stopper, done };
}

function abortText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/**
 * A rank we ended: whatever it reported while being ended (a stopped rank that SIGCONT woke up finds
 * its peers gone) is a consequence, kept in the message but never taken for the root cause.
 */
function endedOutcome<T>(o: RankOutcome<T>, stopper: GroupStopper): RankOutcome<T> {
  if (o.ok || !stopper.ended.has(o.rank) || o.error.code === 'E_RANK_KILLED') return o;
  const message =
    `rank ${o.rank} was ended by the launcher (${stopper.reason}); it reported ${o.error.name}: ` +
    `${o.error.message}`;
  return { rank: o.rank, ok: false, error: { name: 'Error', message, code: 'E_RANK_KILLED' } };
}

/** A multi-node launcher's outcome under the rank's global number (its own messages name that rank too). */
function globalOutcome<T>(o: RankOutcome<T>, g: number): RankOutcome<T> {
  if (o.rank === g) return o;
  if (o.ok) return { ...o, rank: g };
  const own = o.error.code?.startsWith('E_RANK_') === true;
  const message = own ? o.error.message.replace(new RegExp(`^rank ${o.rank}\\b`), `rank ${g}`) : o.error.message;
  return { rank: g, ok: false, error: { ...o.error, message } };
}

/** The outcome of a rank that ended without reporting a result. */
function exitOutcome<T>(r: number, how: string, stopper: GroupStopper): RankOutcome<T> {
  if (stopper.ended.has(r))
    return {
      rank: r,
      ok: false,
      error: {
        name: 'Error',
        message: `rank ${r} was ended by the launcher (${stopper.reason}; ${how})`,
        code: 'E_RANK_KILLED',
      },
    };
  return { rank: r, ok: false, error: { name: 'Error', message: `rank ${r} exited with ${how}`, code: 'E_RANK_EXIT' } };
}

/**
 * Run `target` as `n` ranks in worker threads of this process over the shared-memory transport.
 * A thread that throws or exits makes every other rank's collectives fail with PeerDiedError.
 * Resolves with every rank's outcome once all have ended (never rejects for a rank's failure).
 */
export function spawnThreads<T = unknown>(
  n: number,
  target: string | URL | RankFn<T>,
  args: string[] = [],
  opts: LaunchOptions = {},
): Promise<RankOutcome<T>[]> {
  checkLaunch('spawnThreads', n, target, args);
  checkStopPolicy('spawnThreads', opts.stop);
  // The rings, the control block and every rank's wasm heap, made here so that each rank can be given all of them.
  const ranks = createThreadRanks(n, opts.ringBytes);
  const job = jobOf(target, args);
  const mode = opts.output ?? 'inherit';
  const outcomes: RankOutcome<T>[] = new Array(n);
  const workers: Worker[] = [];
  const handles: Stoppable[] = Array.from({ length: n }, (_, r) => ({
    running: () => outcomes[r] === undefined,
    terminate: () => void workers[r]?.terminate(),
    kill: () => undefined,
  }));
  const { stopper, done } = supervise('spawnThreads', handles, opts);
  return new Promise((resolve) => {
    let left = n;
    for (let r = 0; r < n; r++) {
      const sink = new OutputSink(mode, r);
      let msg: Msg | null = null;
      let joined = false;
      let uncaught: unknown = null;
      const w = new Worker(RANK_MAIN, {
        workerData: { ...ranks.workerData(r), syncbnJob: job },
        env: rankEnv(r, n, { ...opts.env, ...opts.rankEnv?.(r) }),
        stdout: mode !== 'inherit',
        stderr: mode !== 'inherit',
      });
      workers.push(w);
      sink.attach(mode !== 'inherit' ? w.stdout : null, mode !== 'inherit' ? w.stderr : null);
      w.on('message', (m: Msg) => (m.type === 'joined' ? (joined = true) : (msg = m)));
      w.on('error', (e) => {
        uncaught = e;
        ranks.died(r, `${e.name ?? 'Error'}: ${e.message ?? String(e)}`);
      });
      w.on('exit', (code) => {
        if (msg?.type === 'error') ranks.died(r, `${msg.error.name}: ${msg.error.message}`);
        else if (uncaught === null && code !== 0) ranks.died(r, `exited with code ${code}`);
        else if (uncaught === null) ranks.left(r);
        let o: RankOutcome<T>;
        if (msg?.type === 'error') o = { rank: r, ok: false, error: msg.error };
        else if (uncaught !== null) o = { rank: r, ok: false, error: toRankError(uncaught) };
        else if (code !== 0) o = exitOutcome(r, `code ${code}`, stopper);
        else o = { rank: r, ok: true, value: (msg?.type === 'result' ? msg.value : undefined) as T };
        o = endedOutcome(o, stopper);
        o.joined = joined;
        outcomes[r] = sink.decorate(o);
        if (!o.ok && !stopper.ended.has(r)) stopper.rankFailed(r);
        if (--left === 0) {
          done();
          resolve(outcomes);
        }
      });
    }
  });
}

/** A free TCP port on the loopback interface (for MASTER_PORT). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Run `target` as `n` child processes on this machine over TCP (loopback), with torchrun-style
 * env (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and SYNCBN_TOKEN: `opts.env`'s,
 * else this process's SYNCBN_TOKEN, else a fresh random one.
 * Multi-node (`nnodes` > 1, one call per node with the same masterAddr/masterPort and env.SYNCBN_TOKEN):
 * this call starts global ranks nodeRank·n … nodeRank·n+n−1 of nnodes·n; outcomes carry global ranks.
 */
export async function spawnProcesses<T = unknown>(
  n: number,
  target: string | URL | RankFn<T>,
  args: string[] = [],
  opts: LaunchOptions = {},
): Promise<RankOutcome<T>[]> {
  checkLaunch('spawnProcesses', n, target, args);
  checkNodes('spawnProcesses', opts);
  const policy = checkStopPolicy('spawnProcesses', opts.stop);
  const job = jobOf(target, args);
  const mode = opts.output ?? 'inherit';
  const node = nodeLayout(n, opts);
  const port = opts.masterPort ?? (await freePort());
  const token = opts.env?.SYNCBN_TOKEN ?? envConfig().SYNCBN_TOKEN ?? randomBytes(24).toString('hex');
  const children: ChildProcess[] = [];
  const running = (c: ChildProcess | undefined): boolean =>
    c !== undefined && c.exitCode === null && c.signalCode === null;
  const handles: Stoppable[] = Array.from({ length: n }, (_, r) => ({
    running: () => running(children[r]),
    terminate: () => {
      children[r]!.kill('SIGTERM');
      children[r]!.kill('SIGCONT');
    },
    kill: () => void children[r]!.kill('SIGKILL'),
  }));
  const { stopper, done } = supervise('spawnProcesses', handles, opts);
  const stopped = new Set<number>();
  const unwatch = watchStopped(
    () => children.map((c) => (running(c) ? c.pid : undefined)),
    policy.stoppedMs,
    (r) => {
      stopped.add(r);
      stopper.rankFailed(r);
    },
  );
  // r: this launcher's index of the rank (its handles, the stopper); g: its global rank (outcomes, output, env).
  const results = Array.from({ length: n }, (_, r) => {
    const g = node.base + r;
    const sink = new OutputSink(mode, g);
    const base = { MASTER_ADDR: opts.masterAddr ?? '127.0.0.1', MASTER_PORT: String(port), ...opts.env };
    const extra = {
      ...base,
      SYNCBN_TOKEN: token,
      SYNCBN_TOKEN_FILE: '',
      SYNCBN_JOB: JSON.stringify(job),
      ...opts.rankEnv?.(g),
    };
    const env = rankEnv(r, n, extra, node);
    // The IPC channel also tells the rank when we die: its end of stream makes rank-main exit.
    const stdio: StdioOptions =
      mode === 'inherit' ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'];
    const prefix = opts.command?.(g) ?? [];
    // With a prefix the IPC channel is inherited through it (it execs node).
    const child =
      prefix.length === 0
        ? fork(RANK_MAIN, [], { env, stdio })
        : spawn(prefix[0]!, [...prefix.slice(1), process.execPath, RANK_MAIN], { env, stdio });
    children.push(child);
    sink.attach(child.stdout, child.stderr);
    let msg: Msg | null = null;
    let joined = false;
    child.on('message', (m: Msg) => (m.type === 'joined' ? (joined = true) : (msg = m)));
    child.on('exit', (code) => {
      if ((code !== 0 || msg?.type === 'error') && !stopper.ended.has(r)) stopper.rankFailed(r);
    });
    return new Promise<RankOutcome<T>>((resolve) => {
      child.on('close', (code, signal) => {
        let o: RankOutcome<T>;
        if (msg?.type === 'error') o = { rank: r, ok: false, error: msg.error };
        else if (code !== 0) o = exitOutcome(r, signal ?? `code ${code}`, stopper);
        else o = { rank: r, ok: true, value: (msg?.type === 'result' ? msg.value : undefined) as T };
        o = endedOutcome(o, stopper);
        if (stopped.has(r)) {
          const message =
            `rank ${r} was stopped (SIGSTOP or SIGTSTP) for ${policy.stoppedMs} ms; the launcher ` + `ended it`;
          o = { rank: r, ok: false, error: { name: 'Error', message, code: 'E_RANK_STOPPED' } };
        }
        o = globalOutcome(o, g);
        o.joined = joined;
        // Let piped output drain before reporting.
        setImmediate(() => resolve(sink.decorate(o)));
      });
    });
  });
  const out = await Promise.all(results);
  unwatch();
  done();
  return out;
}
