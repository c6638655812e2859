// `syncbn run -n N [--threads | --processes] script.js …`: N ranks on this machine, restarts, the root cause once.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { formatRankError, launch, type LaunchResult, type RankError, type RestartEvent } from '../comm/index.js';
import { launchFlight } from '../comm/flight.js';
import { tokenFromEnv } from '../comm/cluster-env.js';
import { envConfig } from '../comm/config.js';
import type { Command } from './main.js';
import { NODE_FLAGS, nodeOptions } from './run-nodes.js';

const USAGE = `usage: syncbn run -n N [--threads | --processes] [options] script.js [args…]
       syncbn run -n N --nnodes M --node-rank R --master-addr HOST --master-port P [--token TOKEN] script.js [args…]

Starts N ranks of script.js on this machine. Each rank calls initProcessGroup() to join.
  -n, --nproc N         number of ranks (required)
  --threads             ranks are worker threads of one process, over shared memory (default)
  --processes           ranks are processes over TCP on 127.0.0.1 (env: RANK, WORLD_SIZE,
                        LOCAL_RANK, MASTER_ADDR, MASTER_PORT, SYNCBN_TOKEN)
  --timeout-ms MS       default per-collective timeout (SYNCBN_TIMEOUT_MS; default 60000)
  --token TOKEN         shared secret for --processes (default: SYNCBN_TOKEN if set, else a fresh
                        random one per start)
  --max-restarts K      after a rank fails, stop every rank and start the group again, at most K
                        times (default 0). Ranks see SYNCBN_RESTART_COUNT; resuming from a
                        checkpoint is the script's job
  --min-nproc M         elastic: a rank that fails before joining the group is not started again;
                        continue with fewer ranks, at least M (default N: always restart all N)
  --grace-ms MS         once a rank failed, the others get 3000 ms to end on their own, then
                        SIGTERM, then SIGKILL after MS (default 3000)
  --nnodes M            multi-node: M launchers (one per node), each starting -n N ranks (world M·N);
                        this one starts global ranks R·N … R·N+N−1 as processes
  --node-rank R         this node's index in [0, M); node 0 hosts the rendezvous
  --master-addr HOST    node 0's address, reachable from every node (the same on every node)
  --master-port P       the rendezvous port on node 0 (the same on every node)
                        Several nodes need a shared token: --token, SYNCBN_TOKEN or SYNCBN_TOKEN_FILE.
Output lines are prefixed with [rank r]. The exit code is 1 if the run fails (2: usage; 128+n when
the launcher is stopped by signal n, which it passes on to every rank); the root-cause error is
printed once, prefixed with its rank. Ranks exit when the launcher dies, even by SIGKILL.`;

/** Options that take a value: [long name, short name]. */
const VALUED: [string, string?][] = [
  ['nproc', 'n'],
  ['timeout-ms'],
  ['token'],
  ['max-restarts'],
  ['min-nproc'],
  ['grace-ms'],
  ...NODE_FLAGS.map((f): [string] => [f.slice(2)]),
];
const FLAGS = ['threads', 'processes'];

/**
 * The launcher's own arguments up to the script, each valued option rewritten as `--name=value`, so
 * that a value that starts with '-' (`-n -1`) reaches our checks instead of parseArgs' "ambiguous"
 * error; and the index of the script.
 */
function splitArgs(argv: string[]): { own: string[]; at: number } {
  const names = new Map<string, string>();
  for (const [long, short] of VALUED) {
    names.set(`--${long}`, long);
    if (short !== undefined) names.set(`-${short}`, long);
  }
  const own: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return { own, at: i + 1 };
    if (!a.startsWith('-')) return { own, at: i };
    const long = names.get(a);
    if (long !== undefined && i + 1 < argv.length) own.push(`--${long}=${argv[++i]!}`);
    else own.push(a);
  }
  return { own, at: argv.length };
}

type Values = Record<string, string | boolean | undefined>;

/** A whole number ≥ min from option `flag`, or the usage message. */
function count(values: Values, name: string, flag: string, min: number): number | string | undefined {
  const v = values[name] as string | undefined;
  if (v === undefined) return undefined;
  const kind = min === 0 ? 'a non-negative' : 'a positive';
  if (!/^\d+$/.test(v) || Number(v) < min) return `${flag} must be ${kind} integer, received ${JSON.stringify(v)}`;
  return Number(v);
}

async function main(argv: string[]): Promise<number> {
  const { own, at } = splitArgs(argv);
  let values: Values;
  try {
    const options = Object.fromEntries([
      ...VALUED.map(([long, short]) => [long, { type: 'string' as const, ...(short ? { short } : {}) }]),
      ...FLAGS.map((f) => [f, { type: 'boolean' as const }]),
    ]);
    values = parseArgs({ args: own, options, strict: true }).values as Values;
  } catch (e) {
    return usage((e as Error).message);
  }
  const script = argv[at];
  if (values.nproc === undefined) return usage('-n N (the number of ranks) is required');
  const n = count(values, 'nproc', '-n', 1);
  const timeoutMs = count(values, 'timeout-ms', '--timeout-ms', 1);
  const maxRestarts = count(values, 'max-restarts', '--max-restarts', 0) ?? 0;
  const minNproc = count(values, 'min-nproc', '--min-nproc', 1);
  const graceMs = count(values, 'grace-ms', '--grace-ms', 0);
  for (const c of [n, timeoutMs, maxRestarts, minNproc, graceMs]) if (typeof c === 'string') return usage(c);
  if (typeof minNproc === 'number' && minNproc > (n as number)) {
    return usage(`--min-nproc must be at most -n (${n}), received ${JSON.stringify(values['min-nproc'])}`);
  }
  if (values.threads && values.processes) return usage('choose one of --threads and --processes');
  if (script === undefined) return usage('the script to run is missing');
  const path = resolve(script);
  if (!existsSync(path)) return usage(`script ${JSON.stringify(script)} not found`);
  if (statSync(path).isDirectory()) {
    return usage(`script ${JSON.stringify(script)} is a directory, expected a JavaScript file`);
  }
  // The ranks inherit this environment: a bad SYNCBN_* value is a usage error here, not a failure of every rank.
  try {
    envConfig();
  } catch (e) {
    return usage((e as Error).message);
  }
  const env: Record<string, string> = {};
  if (timeoutMs !== undefined) env.SYNCBN_TIMEOUT_MS = String(timeoutMs);
  if (values.token !== undefined) env.SYNCBN_TOKEN = values.token as string;
  const nodes = nodeOptions(values);
  if (typeof nodes === 'string') return usage(nodes);
  if (nodes !== null && values.threads)
    return usage('--nnodes/--node-rank/--master-addr/--master-port start processes; drop --threads');
  if (nodes !== null && (nodes.nnodes ?? 1) > 1) {
    // Every node's launcher would have to restart together, on a new port: nothing coordinates that.
    if (maxRestarts !== 0)
      return usage(`--max-restarts works on one node; with --nnodes ${nodes.nnodes} use the scheduler's own requeue`);
    if (env.SYNCBN_TOKEN === undefined) {
      let token: string | undefined;
      try {
        token = tokenFromEnv();
      } catch (e) {
        return usage((e as Error).message);
      }
      if (token === undefined) {
        return usage(
          `--nnodes ${nodes.nnodes}: the nodes need a shared token: --token, SYNCBN_TOKEN or SYNCBN_TOKEN_FILE (the ` +
            `same on every node)`,
        );
      }
      env.SYNCBN_TOKEN = token;
    }
  }
  return runLaunch(n as number, path, argv.slice(at + 1), {
    env,
    nodes: nodes ?? {},
    processes: values.processes === true || nodes !== null,
    maxRestarts: maxRestarts as number,
    ...(minNproc !== undefined ? { minNproc: minNproc as number } : {}),
    ...(graceMs !== undefined ? { graceMs: graceMs as number } : {}),
  });
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

interface RunOptions {
  env: Record<string, string>;
  nodes: Exclude<ReturnType<typeof nodeOptions>, string | null> | Record<string, never>;
  processes: boolean;
  maxRestarts: number;
  minNproc?: number;
  graceMs?: number;
}

async function runLaunch(n: number, path: string, args: string[], o: RunOptions): Promise<number> {
  // A signal to the launcher stops every rank (SIGTERM, SIGKILL after the grace period), then we exit 128+n.
  const ac = new AbortController();
  let caught: keyof typeof SIGNALS | null = null;
  const handlers = (Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]).map((sig) => {
    const h = (): void => {
      if (caught !== null) return;
      caught = sig;
      process.stderr.write(`syncbn run: received ${sig}; stopping every rank\n`);
      ac.abort(new Error(`launcher received ${sig}`));
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  const flight = launchFlight(o.env); // ranks dump their last collectives on a CommError
  let res: LaunchResult<unknown>;
  try {
    res = await launch(n, path, args, {
      ...o.nodes,
      env: o.env,
      output: 'prefix',
      processes: o.processes,
      maxRestarts: o.maxRestarts,
      ...(o.minNproc !== undefined ? { minNproc: o.minNproc } : {}),
      ...(o.graceMs !== undefined ? { stop: { graceMs: o.graceMs } } : {}),
      signal: ac.signal,
      onRestart: (e) => process.stderr.write(restartLine(e, n) + '\n'),
    });
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
  const where = res.ok ? null : flight.summary(res.size);
  flight.cleanup();
  if (caught !== null) return 128 + SIGNALS[caught as keyof typeof SIGNALS];
  const code = report(res);
  if (where !== null) process.stderr.write(where + '\n');
  return code;
}

function oneLine(e: RankError): string {
  return `${e.name}: ${e.message.split('\n')[0]}`;
}

/** `syncbn run: rank 1 failed (PeerDiedError: …); restart 1/3` (+ the smaller world, if any). */
function restartLine(e: RestartEvent, n: number): string {
  const f = e.failure;
  const early = f.neverJoined.includes(f.rank) ? ' before joining the group' : '';
  const smaller = e.nextSize < f.size ? ` with ${e.nextSize} of ${n} ranks` : '';
  return (
    `syncbn run: rank ${f.rank} failed${early} (${oneLine(f.error)}); restart ${e.restart}/${e.maxRestarts}` + smaller
  );
}

function report(res: LaunchResult<unknown>): number {
  const last = res.failures.at(-1);
  if (res.ok || last === undefined) {
    const k = res.restarts;
    if (k > 0)
      process.stderr.write(`syncbn run: succeeded after ${k} restart${k === 1 ? '' : 's'} with ${res.size} ranks\n`);
    return 0;
  }
  if (res.failures.length > 1 || res.gaveUp?.startsWith('only')) {
    process.stderr.write(`syncbn run: giving up: ${res.gaveUp}; the root cause of each start:\n`);
    for (const f of res.failures) {
      process.stderr.write(`syncbn run:   start ${f.start} (${f.size} ranks): rank ${f.rank} ${oneLine(f.error)}\n`);
    }
  }
  process.stderr.write(formatRankError(last.rank, last.error) + '\n');
  const failed = res.outcomes.filter((o) => !o.ok && o.rank !== last.rank);
  if (failed.length > 0) {
    const names = [...new Set(failed.map((o) => (o.ok ? '' : o.error.name)))].join(', ');
    const ranks = failed.map((o) => o.rank);
    const who = `rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')}`;
    process.stderr.write(`syncbn run: ${who} failed as a consequence (${names})\n`);
  }
  return 1;
}

function usage(msg: string): number {
  process.stderr.write(`syncbn run: ${msg}\n\n${USAGE}\n`);
  return 2;
}

export const runCommand: Command = {
  summary: 'start N ranks of a script on this machine (threads or processes)',
  usage: USAGE,
  main,
};
