// initProcessGroup(): join the world from a launcher's worker data or from torchrun / Slurm / Open MPI environment
// variables.
import { tcpTransport, workerData } from '#platform';
import { UsageError, describe } from '../errors.js';
import { Group, RankState, checkTimeout } from './group.js';
import { WORLD_GROUP_ID } from './ops.js';
import { ThreadsTransport, createThreadsWorld, type ThreadsWorld } from './threads.js';
import type { ProcessGroup } from './types.js';
import { envConfig } from './config.js';
import { rankFromEnv, rendezvousFromEnv, tokenFromEnv } from './cluster-env.js';

export {
  INIT_ENV_VARS,
  expandHostlist,
  rankFromEnv,
  rendezvousFromEnv,
  tokenFromEnv,
  type RankEnv,
} from './cluster-env.js';

/** Options of initProcessGroup (each defaults from the environment the launcher set). */
export interface InitOptions {
  /** Default per-collective timeout of the world group and its subgroups (ms). Default 60000 or SYNCBN_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Override the rank/size found in the environment. */
  rank?: number;
  size?: number;
  /** Rendezvous (TCP store) address and port; default from MASTER_ADDR / MASTER_PORT. */
  masterAddr?: string;
  masterPort?: number;
  /** Shared secret for peer authentication; default SYNCBN_TOKEN. */
  token?: string;
  /**
   * Address this rank listens on for peers; default loopback when the master is loopback, else the interface that
   * reaches the master. SYNCBN_LISTEN_ADDR.
   */
  listenAddr?: string;
  /** How long to wait for every rank to join (ms). Default 60000 or SYNCBN_RENDEZVOUS_TIMEOUT_MS. */
  rendezvousTimeoutMs?: number;
  /**
   * A peer silent for this long (no data, no heartbeat) is declared dead (ms). Default 1500 or SYNCBN_PEER_TIMEOUT_MS.
   */
  peerTimeoutMs?: number;
}

interface ThreadRankData {
  world: ThreadsWorld;
  rank: number;
  /** Every rank's wasm heap (index = rank); this rank's is its own. */
  heaps?: WebAssembly.Memory[];
}

let worldGroup: Group | null = null;

function defaultTimeout(opts: InitOptions): number {
  if (opts.timeoutMs !== undefined) return checkTimeout('initProcessGroup', opts.timeoutMs);
  return envConfig().SYNCBN_TIMEOUT_MS;
}

/**
 * The world process group. Inside a thread started by `spawnThreads`/`syncbn run --threads` it uses
 * shared memory; otherwise the environment (torchrun, Slurm, Open MPI) gives rank and size and
 * ranks meet over TCP at MASTER_ADDR:MASTER_PORT. With no environment: a world of one.
 * Calling it again returns the same group until that group is closed.
 */
export async function initProcessGroup(opts: InitOptions = {}): Promise<ProcessGroup> {
  if (typeof opts !== 'object' || opts === null)
    throw new UsageError(`initProcessGroup: options must be an object, received ${describe(opts)}`);
  const timeoutMs = defaultTimeout(opts);
  if (worldGroup !== null && !worldGroup.isClosed) return worldGroup;
  const td = (workerData() as { syncbnThreads?: ThreadRankData } | null)?.syncbnThreads;
  let g: Group;
  if (td !== undefined) {
    const t = new ThreadsTransport(td.world, td.rank, td.heaps);
    t.leaveAtExit();
    g = new Group(new RankState(t), range(td.world.size), WORLD_GROUP_ID, timeoutMs);
  } else {
    // Everything is read and checked here, on every rank, before any connection is attempted.
    const re = rankFromEnv();
    const rank = opts.rank ?? re.rank;
    const size = opts.size ?? re.size;
    if (!Number.isInteger(size) || size < 1 || !Number.isInteger(rank) || rank < 0 || rank >= size)
      throw new UsageError(
        `initProcessGroup: rank must be in [0, size), received rank=${describe(rank)} size=${describe(size)}`,
      );
    if (size === 1) {
      g = new Group(new RankState(new ThreadsTransport(createThreadsWorld(1), 0)), [0], WORLD_GROUP_ID, timeoutMs);
    } else {
      const rv = rendezvousFromEnv(re.source);
      const where = {
        masterAddr: opts.masterAddr ?? rv.masterAddr,
        masterPort: opts.masterPort ?? rv.masterPort,
        token: opts.token ?? tokenFromEnv(),
      };
      const { connectTcp } = await tcpTransport();
      g = new Group(
        new RankState(await connectTcp({ ...opts, ...where, rank, size })),
        range(size),
        WORLD_GROUP_ID,
        timeoutMs,
      );
    }
  }
  worldGroup = g;
  // Tell a launcher (rank-main.ts) that this rank made it into the group: a rank that fails before
  // this point "could not start", which an elastic restart answers with a smaller world.
  const joined = (globalThis as Record<symbol, unknown>)[Symbol.for('syncbn.launcher.joined')];
  if (typeof joined === 'function') joined();
  return g;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
