// Start N ranks on this machine: worker threads over shared memory, or child processes over TCP.
import { fork, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import { PeerDiedError, UsageError, describe } from '../errors.js';
import { PEER_DEAD, PEER_LEFT } from './control.js';
import type { RankError, RankOutcome } from './outcome.js';
import { createThreadsWorld, worldControl } from './threads.js';
import { createHeapMemory } from '../kernels/wasm/instance.js';
import type { ProcessGroup } from './types.js';
import { checkNodes, nodeLayout, type NodeLayout } from './multinode.js';

/** A rank body for the function form: runs inside the rank with its world group; must be self-contained (it is stringified). */
export type RankFn<T> = (pg: ProcessGroup, args: string[], lib: typeof import('./index.js')) => T | Promise<T>;

export interface LaunchOptions {
  /** Extra environment for every rank. */
  env?: Record<string, string>;
  /** 'inherit' (default): rank output goes to ours; 'prefix': each line prefixed `[rank r] `; 'capture': returned in the outcome. */
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
  /** Processes, multi-node: the number of launchers (nodes); this one starts global ranks nodeRank·n … nodeRank·n+n−1. */
  nnodes?: number;
  /** Processes, multi-node: this launcher's index in [0, nnodes). */
  nodeRank?: number;
}

const RANK_MAIN = fileURLToPath(new URL('./rank-main.js', import.meta.url));

function checkLaunch(where: string, n: number, target: unknown, args: unknown): void {
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${where}: n must be a positive integer number of ranks, received ${describe(n)}`);
  if (typeof target !== 'string' && typeof target !== 'function' && !(target instanceof URL)) throw new UsageError(`${where}: target must be a script path, file URL or function, received ${describe(target)}`);
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw new UsageError(`${where}: args must be an array of strings, received ${describe(args)}`);
}

function jobOf(target: string | URL | RankFn<unknown>, args: string[]): { script?: string; fnSource?: string; args: string[] } {
  if (typeof target === 'function') return { fnSource: target.toString(), args };
  return { script: target instanceof URL ? fileURLToPath(target) : target, args };
}

function rankEnv(rank: number, n: number, extra: Record<string, string> | undefined, node: NodeLayout = { base: 0, world: n }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  // SYNCBN_ENV: these variables, not an enclosing Slurm/MPI allocation's, define the rank.
  const global = { RANK: String(node.base + rank), WORLD_SIZE: String(node.world), SYNCBN_ENV: 'torchrun' };
  Object.assign(env, extra ?? {}, { ...global, LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: String(n) });
  return env;
}

class OutputSink {
  out = '';
  err = '';
  constructor(
    private readonly mode: 'inherit' | 'prefix' | 'capture',
    private readonly rank: number,
  ) {}
  attach(stdout: Readable | null, stderr: Readable | null): void {
    if (this.mode === 'inherit') return;
    this.pipe(stdout, false);
    this.pipe(stderr, true);
  }
  private pipe(s: Readable | null, isErr: boolean): void {
    if (s === null) return;
    s.setEncoding('utf8');
    let partial = '';
    s.on('data', (chunk: string) => {
      if (this.mode === 'capture') {
        if (isErr) this.err += chunk;
        else this.out += chunk;
        return;
      }
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const l of lines) (isErr ? process.stderr : process.stdout).write(`[rank ${this.rank}] ${l}\n`);
    });
    s.on('end', () => {
      if (partial !== '' && this.mode === 'prefix') (isErr ? process.stderr : process.stdout).write(`[rank ${this.rank}] ${partial}\n`);
    });
  }
  decorate<T>(o: RankOutcome<T>): RankOutcome<T> {
    if (this.mode === 'capture') {
      o.stdout = this.out;
      o.stderr = this.err;
    }
    return o;
  }
}

type Msg = { type: 'result'; value: unknown } | { type: 'error'; error: RankError };

/**
 * Run `target` as `n` ranks in worker threads of this process over the shared-memory transport.
 * A thread that throws or exits makes every other rank's collectives fail with PeerDiedError.
 * Resolves with every rank's outcome once all have ended (never rejects for a rank's failure).
 */
export function spawnThreads<T = unknown>(n: number, target: string | URL | RankFn<T>, args: string[] = [], opts: LaunchOptions = {}): Promise<RankOutcome<T>[]> {
  checkLaunch('spawnThreads', n, target, args);
  const world = createThreadsWorld(n, opts.ringBytes);
  const ctl = worldControl(world);
  // Every rank's wasm heap, made here so that each rank can be given all of them.
  const heaps = Array.from({ length: n }, () => createHeapMemory());
  const job = jobOf(target as RankFn<unknown>, args);
  const mode = opts.output ?? 'inherit';
  const outcomes: RankOutcome<T>[] = new Array(n);
  const workers: Worker[] = [];
  return new Promise((resolve) => {
    let left = n;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (--left === 0) {
        if (timer) clearTimeout(timer);
        resolve(outcomes);
      }
    };
    for (let r = 0; r < n; r++) {
      const sink = new OutputSink(mode, r);
      let msg: Msg | null = null;
      let uncaught: unknown = null;
      const w = new Worker(RANK_MAIN, {
        workerData: { syncbnThreads: { world, rank: r, heaps }, syncbnHeap: heaps[r], syncbnJob: job },
        env: rankEnv(r, n, { ...opts.env, SYNCBN_TRANSPORT: 'threads', ...opts.rankEnv?.(r) }),
        stdout: mode !== 'inherit',
        stderr: mode !== 'inherit',
      });
      workers.push(w);
      sink.attach(mode !== 'inherit' ? w.stdout : null, mode !== 'inherit' ? w.stderr : null);
      w.on('message', (m: Msg) => (msg = m));
      w.on('error', (e) => {
        uncaught = e;
        markDead(r, `${(e as Error).name ?? 'Error'}: ${(e as Error).message ?? String(e)}`);
      });
      w.on('exit', (code) => {
        if (msg?.type === 'error') markDead(r, `${msg.error.name}: ${msg.error.message}`);
        else if (uncaught === null && code !== 0) markDead(r, `exited with code ${code}`);
        else if (uncaught === null) {
          ctl.setPeerState(r, PEER_LEFT);
          ctl.ringAll();
        }
        let o: RankOutcome<T>;
        if (msg?.type === 'error') o = { rank: r, ok: false, error: msg.error };
        else if (uncaught !== null) o = { rank: r, ok: false, error: errOf(uncaught) };
        else if (code !== 0) o = { rank: r, ok: false, error: { name: 'Error', message: `rank ${r} exited with code ${code}`, code: killed.has(r) ? 'E_RANK_KILLED' : 'E_RANK_EXIT' } };
        else o = { rank: r, ok: true, value: (msg?.type === 'result' ? msg.value : undefined) as T };
        outcomes[r] = sink.decorate(o);
        finish();
      });
    }
    const killed = new Set<number>();
    if (opts.deadlineMs !== undefined) {
      timer = setTimeout(() => {
        workers.forEach((w, r) => {
          if (outcomes[r] === undefined) {
            killed.add(r);
            void w.terminate();
          }
        });
      }, opts.deadlineMs);
    }
  });
  function markDead(r: number, why: string): void {
    // The reason first: a rank that sees the state first would otherwise store its own, vaguer one.
    ctl.abort(new PeerDiedError(`rank ${r} died (${why})`, r));
    ctl.setPeerState(r, PEER_DEAD);
  }
}

function errOf(e: unknown): RankError {
  if (e instanceof Error) return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  return { name: 'Error', message: String(e) };
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
 * env (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and a fresh SYNCBN_TOKEN.
 * Multi-node (`nnodes` > 1, one call per node with the same masterAddr/masterPort and env.SYNCBN_TOKEN):
 * this call starts global ranks nodeRank·n … nodeRank·n+n−1 of nnodes·n; outcomes carry global ranks.
 */
export async function spawnProcesses<T = unknown>(n: number, target: string | URL | RankFn<T>, args: string[] = [], opts: LaunchOptions = {}): Promise<RankOutcome<T>[]> {
  checkLaunch('spawnProcesses', n, target, args);
  checkNodes('spawnProcesses', opts);
  const job = jobOf(target as RankFn<unknown>, args);
  const mode = opts.output ?? 'inherit';
  const node = nodeLayout(n, opts);
  const port = opts.masterPort ?? (await freePort());
  const token = opts.env?.SYNCBN_TOKEN ?? randomBytes(24).toString('hex');
  const children: ChildProcess[] = [];
  const killed = new Set<number>();
  const results = Array.from({ length: n }, (_, lr) => {
    const r = node.base + lr; // the global rank
    const sink = new OutputSink(mode, r);
    const base = { MASTER_ADDR: opts.masterAddr ?? '127.0.0.1', MASTER_PORT: String(port), ...opts.env, SYNCBN_TOKEN: token, SYNCBN_TOKEN_FILE: '' };
    const env = rankEnv(lr, n, { ...base, SYNCBN_JOB: JSON.stringify(job), ...opts.rankEnv?.(r) }, node);
    const stdio: StdioOptions = mode === 'inherit' ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'];
    const prefix = opts.command?.(r) ?? [];
    // With a prefix the IPC channel is inherited through it (it execs node).
    const child = prefix.length === 0 ? fork(RANK_MAIN, [], { env, stdio }) : spawn(prefix[0]!, [...prefix.slice(1), process.execPath, RANK_MAIN], { env, stdio });
    children.push(child);
    sink.attach(child.stdout, child.stderr);
    let msg: Msg | null = null;
    child.on('message', (m: Msg) => (msg = m));
    return new Promise<RankOutcome<T>>((resolve) => {
      child.on('close', (code, signal) => {
        let o: RankOutcome<T>;
        if (msg?.type === 'error') o = { rank: r, ok: false, error: msg.error };
        else if (code !== 0) o = { rank: r, ok: false, error: { name: 'Error', message: `rank ${r} exited with ${signal ?? `code ${code}`}`, code: killed.has(r) ? 'E_RANK_KILLED' : 'E_RANK_EXIT' } };
        else o = { rank: r, ok: true, value: (msg?.type === 'result' ? msg.value : undefined) as T };
        // Let piped output drain before reporting.
        setImmediate(() => resolve(sink.decorate(o)));
      });
    });
  });
  let timer: NodeJS.Timeout | undefined;
  if (opts.deadlineMs !== undefined) {
    timer = setTimeout(() => {
      children.forEach((c, r) => {
        if (c.exitCode === null && c.signalCode === null) {
          killed.add(node.base + r);
          c.kill('SIGKILL');
        }
      });
    }, opts.deadlineMs);
  }
  const out = await Promise.all(results);
  if (timer) clearTimeout(timer);
  return out;
}
