// Rank, world size, rendezvous address/port and token from torchrun/Kubernetes/Open MPI/Slurm variables, validated.
import { readFileSync, statSync } from '#platform';
import { UsageError } from '../errors.js';
import { ENV_SOURCES, intFromEnv, processEnv, readEnvVar } from './config.js';

/** Every variable initProcessGroup() reads for its rank and rendezvous (manifests are checked against it). */
export const INIT_ENV_VARS = [
  'RANK',
  'WORLD_SIZE',
  'LOCAL_RANK',
  'LOCAL_WORLD_SIZE',
  'MASTER_ADDR',
  'MASTER_PORT',
  'JOB_COMPLETION_INDEX',
  'OMPI_COMM_WORLD_RANK',
  'OMPI_COMM_WORLD_SIZE',
  'OMPI_COMM_WORLD_LOCAL_RANK',
  'OMPI_COMM_WORLD_LOCAL_SIZE',
  'OMPI_MCA_ess_base_jobid',
  'SLURM_PROCID',
  'SLURM_NTASKS',
  'SLURM_LOCALID',
  'SLURM_STEP_ID',
  'SLURM_JOB_ID',
  'SLURM_JOB_NODELIST',
  'SLURM_STEP_NODELIST',
  'SYNCBN_ENV',
  'SYNCBN_TOKEN',
  'SYNCBN_TOKEN_FILE',
  'SYNCBN_LISTEN_ADDR',
  'SYNCBN_TIMEOUT_MS',
  'SYNCBN_RENDEZVOUS_TIMEOUT_MS',
  'SYNCBN_PEER_TIMEOUT_MS',
] as const;

/** The launcher whose environment variables gave a rank its place. */
export type EnvSource = 'torchrun' | 'kubernetes' | 'openmpi' | 'slurm';

/** A rank's place in the job, read from its launcher's environment (see rankFromEnv). */
export interface RankEnv {
  rank: number;
  size: number;
  localRank: number;
  source: EnvSource | 'options' | 'default';
}

/** Job-id-derived ports: [DERIVED_PORT_BASE, DERIVED_PORT_BASE + DERIVED_PORT_SPAN), below the ephemeral range. */
export const DERIVED_PORT_BASE = 20000;
export const DERIVED_PORT_SPAN = 10000;

type Env = NodeJS.ProcessEnv;

const show = (env: Env, name: string): string => `${name}=${env[name] === undefined ? '(unset)' : env[name]}`;

interface Found extends RankEnv {
  source: EnvSource;
  /** The variables it came from, for messages. */
  vars: [string, string];
}

/** One launcher's view, or undefined when none of its variables is set; incomplete/out-of-range ones throw. */
function read(env: Env, source: EnvSource): Found | undefined {
  let r: string, s: string, l: string | undefined;
  if (source === 'torchrun') [r, s, l] = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK'];
  else if (source === 'kubernetes') [r, s, l] = ['JOB_COMPLETION_INDEX', 'WORLD_SIZE', undefined];
  else if (source === 'openmpi')
    [r, s, l] = ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK'];
  else [r, s, l] = ['SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID'];
  if (source === 'kubernetes' && env.JOB_COMPLETION_INDEX === undefined) return undefined;
  if (
    source === 'torchrun' &&
    env.RANK === undefined &&
    (env.WORLD_SIZE === undefined || env.JOB_COMPLETION_INDEX !== undefined)
  )
    return undefined;
  if (source === 'slurm') {
    if (env.SLURM_PROCID === undefined && env.SLURM_NTASKS === undefined) return undefined;
    // A batch script or salloc shell (no job step) is one process, whatever --ntasks says; only srun starts ranks.
    if (env.SLURM_STEP_ID === undefined) {
      if ((intFromEnv(env, 'SLURM_NTASKS') ?? 1) <= 1) return undefined;
      throw new UsageError(
        `slurm environment: ${show(env, 'SLURM_NTASKS')} but ${show(env, 'SLURM_STEP_ID')}: ` +
          'this process is the batch script or salloc shell, not a task; ' +
          'start the ranks with `srun node script.js` (or `syncbn run`)',
      );
    }
  }
  if (env[r] === undefined && env[s] === undefined) return undefined;
  const rank = intFromEnv(env, r);
  const size = intFromEnv(env, s);
  if (rank === undefined || size === undefined)
    throw new UsageError(`${source} environment is incomplete: ${show(env, r)} and ${show(env, s)} must both be set`);
  if (size < 1 || rank >= size)
    throw new UsageError(`${source} environment: ${r}=${rank} must be in [0, ${s}=${size})`);
  const localRank = (l === undefined ? undefined : intFromEnv(env, l)) ?? (source === 'kubernetes' ? 0 : rank);
  return { rank, size, localRank, source, vars: [r, s] };
}

/**
 * Rank, size and local rank from torchrun (RANK/WORLD_SIZE/LOCAL_RANK), a Kubernetes Indexed Job
 * (JOB_COMPLETION_INDEX + WORLD_SIZE), Open MPI (OMPI_COMM_WORLD_*) or a Slurm job step (SLURM_PROCID/…).
 * Several present must agree on rank and size, or SYNCBN_ENV must name the one to use; Open MPI's
 * variables win over Slurm's silently (mpirun inside an allocation is the inner launcher).
 */
export function rankFromEnv(env: Env = processEnv()): RankEnv {
  const pick = readEnvVar(env, 'SYNCBN_ENV');
  if (pick !== undefined) {
    const f = read(env, pick);
    if (f === undefined) throw new UsageError(`SYNCBN_ENV=${pick} but no ${pick} variables are set`);
    return strip(f);
  }
  let found = ENV_SOURCES.map((s) => read(env, s)).filter((f): f is Found => f !== undefined);
  if (found.some((f) => f.source === 'openmpi')) found = found.filter((f) => f.source !== 'slurm');
  if (found.length === 0) return { rank: 0, size: 1, localRank: 0, source: 'default' };
  const first = found[0]!;
  const other = found.find((f) => f.rank !== first.rank || f.size !== first.size);
  if (other !== undefined) {
    const say = (f: Found): string => `${show(env, f.vars[0])} ${show(env, f.vars[1])} (${f.source})`;
    throw new UsageError(
      `contradictory launcher environment: ${say(first)} but ${say(other)}; ` +
        `unset one or set SYNCBN_ENV=${first.source}|${other.source} to choose`,
    );
  }
  return strip(first);
}

function strip(f: Found): RankEnv {
  return { rank: f.rank, size: f.size, localRank: f.localRank, source: f.source };
}

/**
 * Expand a Slurm hostlist: `node[01-04,07]` → node01 … node04, node07; `a,b`; `host-[1-3]`; several bracket
 * groups multiply (`r[1-2]n[1-2]`). Zero padding is kept. Throws UsageError on malformed input.
 */
export function expandHostlist(list: string): string[] {
  const bad = (why: string): UsageError =>
    new UsageError(`Slurm hostlist ${JSON.stringify(list)} is malformed: ${why}`);
  const items: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of list) {
    if (ch === '[') depth++;
    if (ch === ']' && --depth < 0) throw bad('unbalanced "]"');
    if (ch === ',' && depth === 0) {
      items.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw bad('unbalanced "["');
  items.push(cur);
  const out: string[] = [];
  for (const item of items) {
    if (item.trim() === '') throw bad('empty host name');
    let names = [''];
    for (const part of item.split(/(\[[^\]]*\])/)) {
      if (!part.startsWith('[')) {
        names = names.map((n) => n + part);
        continue;
      }
      const alts: string[] = [];
      for (const rg of part.slice(1, -1).split(',')) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(rg);
        if (m === null) throw bad(`range ${JSON.stringify(rg)} is not N or N-M`);
        const [lo, hi] = [Number(m[1]), Number(m[2] ?? m[1])];
        if (hi < lo) throw bad(`range ${JSON.stringify(rg)} runs backwards`);
        if (hi - lo > 65536) throw bad(`range ${JSON.stringify(rg)} has more than 65536 hosts`);
        for (let i = lo; i <= hi; i++) alts.push(String(i).padStart(m[1]!.length, '0'));
      }
      names = names.flatMap((n) => alts.map((a) => n + a));
    }
    out.push(...names);
  }
  return out;
}

export interface Rendezvous {
  masterAddr: string;
  /** Undefined: none given and none derivable (a world of one needs none). */
  masterPort: number | undefined;
}

function derivedPort(id: number): number {
  return DERIVED_PORT_BASE + (id % DERIVED_PORT_SPAN);
}

/**
 * The rendezvous address and port. MASTER_ADDR / MASTER_PORT win when set. Otherwise, Slurm: the first
 * host of SLURM_STEP_NODELIST (else SLURM_JOB_NODELIST) and port 20000 + SLURM_JOB_ID mod 10000; Open MPI:
 * 127.0.0.1 when every rank is on this host (OMPI_COMM_WORLD_LOCAL_SIZE == SIZE), else MASTER_ADDR is
 * required, and port 20000 + OMPI_MCA_ess_base_jobid mod 10000; others: 127.0.0.1, and MASTER_PORT is required.
 */
export function rendezvousFromEnv(source: RankEnv['source'], env: Env = processEnv()): Rendezvous {
  let masterAddr = env.MASTER_ADDR || undefined;
  let masterPort = intFromEnv(env, 'MASTER_PORT');
  if (source === 'slurm') {
    const listVar = env.SLURM_STEP_NODELIST ? 'SLURM_STEP_NODELIST' : 'SLURM_JOB_NODELIST';
    if (masterAddr === undefined) {
      const list = env[listVar];
      if (!list)
        throw new UsageError(
          `slurm environment: ${show(env, 'SLURM_JOB_NODELIST')} and MASTER_ADDR is unset: ` +
            'cannot tell which host runs rank 0',
        );
      masterAddr = expandHostlist(list)[0]!;
    }
    if (masterPort === undefined) {
      const id = intFromEnv(env, 'SLURM_JOB_ID');
      if (id === undefined)
        throw new UsageError(
          `slurm environment: ${show(env, 'SLURM_JOB_ID')} and MASTER_PORT is unset: cannot derive the rendezvous port`,
        );
      masterPort = derivedPort(id);
    }
  } else if (source === 'openmpi') {
    if (masterAddr === undefined) {
      const local = intFromEnv(env, 'OMPI_COMM_WORLD_LOCAL_SIZE');
      const size = intFromEnv(env, 'OMPI_COMM_WORLD_SIZE');
      if (local === undefined || local !== size)
        throw new UsageError(
          'openmpi environment: ranks span several hosts ' +
            `(${show(env, 'OMPI_COMM_WORLD_LOCAL_SIZE')}, ${show(env, 'OMPI_COMM_WORLD_SIZE')}) ` +
            'and MASTER_ADDR is unset: ' +
            "set it to rank 0's host and pass it with `mpirun -x MASTER_ADDR`",
        );
      masterAddr = '127.0.0.1';
    }
    if (masterPort === undefined) {
      const id = intFromEnv(env, 'OMPI_MCA_ess_base_jobid');
      if (id !== undefined) masterPort = derivedPort(id);
    }
  }
  return { masterAddr: masterAddr ?? '127.0.0.1', masterPort };
}

/**
 * The shared token: SYNCBN_TOKEN, or the contents of the file SYNCBN_TOKEN_FILE (trailing newline removed),
 * which must not be readable by group or others (mode 0600 or 0400). Undefined when neither is set.
 */
export function tokenFromEnv(env: Env = processEnv()): string | undefined {
  const file = readEnvVar(env, 'SYNCBN_TOKEN_FILE');
  const given = readEnvVar(env, 'SYNCBN_TOKEN');
  if (file === undefined) return given;
  if (given !== undefined) throw new UsageError('SYNCBN_TOKEN and SYNCBN_TOKEN_FILE are both set: set only one');
  let mode: number;
  let text: string;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`SYNCBN_TOKEN_FILE=${JSON.stringify(file)} cannot be read: ${(e as Error).message}`);
  }
  if ((mode & 0o077) !== 0)
    throw new UsageError(
      `SYNCBN_TOKEN_FILE=${JSON.stringify(file)} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}: ` +
        'it must be readable by its owner only (chmod 600)',
    );
  const token = text.replace(/\r?\n$/, '');
  if (token === '') throw new UsageError(`SYNCBN_TOKEN_FILE=${JSON.stringify(file)} is empty`);
  return token;
}
