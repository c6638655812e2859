// `syncbn run -n N [--threads | --processes] script.js [args…]`: start N ranks on this machine and report the first failure once.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { formatRankError, rootCause, spawnProcesses, spawnThreads } from '../comm/index.js';
import type { Command } from './main.js';
import { NODE_FLAGS, nodeOptions } from './run-nodes.js';
import { tokenFromEnv } from '../comm/cluster-env.js';

const USAGE = `usage: syncbn run -n N [--threads | --processes] [--timeout-ms MS] [--token TOKEN] script.js [args…]
       syncbn run -n N --nnodes M --node-rank R --master-addr HOST --master-port P [--token TOKEN] script.js [args…]

Starts N ranks of script.js on this machine. Each rank calls initProcessGroup() to join.
  -n, --nproc N       number of ranks (required)
  --threads           ranks are worker threads of one process, over shared memory (default)
  --processes         ranks are processes over TCP on 127.0.0.1 (env: RANK, WORLD_SIZE,
                      LOCAL_RANK, MASTER_ADDR, MASTER_PORT, SYNCBN_TOKEN)
  --timeout-ms MS     default per-collective timeout (SYNCBN_TIMEOUT_MS; default 60000)
  --token TOKEN       shared secret for --processes (default: a fresh random one; or SYNCBN_TOKEN)
  --nnodes M          multi-node: M launchers (one per node), each starting -n N ranks (world M·N);
                      this one starts global ranks R·N … R·N+N−1 as processes
  --node-rank R       this node's index in [0, M); node 0 hosts the rendezvous
  --master-addr HOST  node 0's address, reachable from every node (the same on every node)
  --master-port P     the rendezvous port on node 0 (the same on every node)
                      Several nodes need a shared token: --token, SYNCBN_TOKEN or SYNCBN_TOKEN_FILE.
Output lines are prefixed with [rank r]. The exit code is 1 if any rank fails; the root-cause
error is printed once, prefixed with its rank.`;

/** Index of the script: the first argument that is not an option or an option's value. */
function splitAt(argv: string[]): number {
  const withValue = new Set(['-n', '--nproc', '--timeout-ms', '--token', ...NODE_FLAGS]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return i + 1;
    if (!a.startsWith('-')) return i;
    if (withValue.has(a)) i++;
  }
  return argv.length;
}

async function main(argv: string[]): Promise<number> {
  const at = splitAt(argv);
  let values;
  try {
    ({ values } = parseArgs({
      args: argv.slice(0, at).filter((a) => a !== '--'),
      options: {
        nproc: { type: 'string', short: 'n' },
        threads: { type: 'boolean' },
        processes: { type: 'boolean' },
        'timeout-ms': { type: 'string' },
        token: { type: 'string' },
        nnodes: { type: 'string' },
        'node-rank': { type: 'string' },
        'master-addr': { type: 'string' },
        'master-port': { type: 'string' },
      },
      strict: true,
    }));
  } catch (e) {
    return usage((e as Error).message);
  }
  const script = argv[at];
  if (values.nproc === undefined) return usage('-n N (the number of ranks) is required');
  if (!/^\d+$/.test(values.nproc) || Number(values.nproc) < 1) return usage(`-n must be a positive integer, received ${JSON.stringify(values.nproc)}`);
  if (values.threads && values.processes) return usage('choose one of --threads and --processes');
  if (script === undefined) return usage('the script to run is missing');
  const path = resolve(script);
  if (!existsSync(path)) return usage(`script ${JSON.stringify(script)} not found`);
  const env: Record<string, string> = {};
  if (values['timeout-ms'] !== undefined) {
    if (!/^\d+$/.test(values['timeout-ms']) || Number(values['timeout-ms']) < 1) return usage(`--timeout-ms must be a positive integer, received ${JSON.stringify(values['timeout-ms'])}`);
    env.SYNCBN_TIMEOUT_MS = values['timeout-ms'];
  }
  if (values.token !== undefined) env.SYNCBN_TOKEN = values.token;
  const nodes = nodeOptions(values);
  if (typeof nodes === 'string') return usage(nodes);
  if (nodes !== null && values.threads) return usage('--nnodes/--node-rank/--master-addr/--master-port start processes; drop --threads');
  if (nodes !== null && (nodes.nnodes ?? 1) > 1 && env.SYNCBN_TOKEN === undefined) {
    let token: string | undefined;
    try {
      token = tokenFromEnv();
    } catch (e) {
      return usage((e as Error).message);
    }
    if (token === undefined) return usage(`--nnodes ${nodes.nnodes}: the nodes need a shared token: --token, SYNCBN_TOKEN or SYNCBN_TOKEN_FILE (the same on every node)`);
    env.SYNCBN_TOKEN = token;
  }
  const n = Number(values.nproc);
  const args = argv.slice(at + 1);
  const outcomes = values.processes || nodes !== null ? await spawnProcesses(n, path, args, { env, output: 'prefix', ...nodes }) : await spawnThreads(n, path, args, { env, output: 'prefix' });
  const rc = rootCause(outcomes);
  if (rc === null) return 0;
  process.stderr.write(formatRankError(rc.rank, rc.error) + '\n');
  if (rc.others.length > 0) {
    const names = [...new Set(outcomes.filter((o) => !o.ok && o.rank !== rc.rank).map((o) => (o.ok ? '' : o.error.name)))].join(', ');
    process.stderr.write(`syncbn run: rank${rc.others.length > 1 ? 's' : ''} ${rc.others.join(', ')} failed as a consequence (${names})\n`);
  }
  return 1;
}

function usage(msg: string): number {
  process.stderr.write(`syncbn run: ${msg}\n\n${USAGE}\n`);
  return 2;
}

export const runCommand: Command = { summary: 'start N ranks of a script on this machine (threads or processes)', usage: USAGE, main };
