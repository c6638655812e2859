// Restarts: when a rank fails, stop the group and start a fresh one (torchrun's --max-restarts), possibly smaller.
//
// Each start is a new group: new worker threads or processes, a new rendezvous port, a new token
// (unless the caller fixed one), and SYNCBN_RESTART_COUNT = the number of restarts so far in every
// rank's environment. Resuming is the script's business (its latest checkpoint).
//
// Elastic (`minNproc < n`): a rank that fails before it joined the group (initProcessGroup did not
// return: it crashed on start, or its host could not reach the rendezvous) is taken as one that
// cannot be brought back; the next start has that many fewer ranks, as long as at least `minNproc`
// remain. A rank that fails after joining costs a restart but no rank. The world never grows back.
import { UsageError, describe } from '../errors.js';
import { spawnProcesses, spawnThreads, type LaunchOptions, type RankFn } from './launch.js';
import { rootCause, type RankError, type RankOutcome } from './outcome.js';

/** Options of `launch`: those of the spawners plus the restart policy. */
export interface SuperviseOptions extends LaunchOptions {
  /** Ranks are child processes over TCP (default: worker threads). */
  processes?: boolean;
  /** Restarts allowed after a failure (default 0: the first failure ends the run). */
  maxRestarts?: number;
  /** Fewest ranks to continue with when some cannot start again (default n: never shrink). */
  minNproc?: number;
  /** Called before each restart (e.g. to print a line). */
  onRestart?: (e: RestartEvent) => void;
}

/** One failed start, as reported before the next. */
export interface RestartEvent {
  /** 1 for the first restart. */
  restart: number;
  maxRestarts: number;
  /** The failure that ended the previous start. */
  failure: StartFailure;
  /** World size of the next start. */
  nextSize: number;
}

/** Why one start of the group ended. */
export interface StartFailure {
  /** 0 for the first start. */
  start: number;
  size: number;
  rank: number;
  error: RankError;
  /** Ranks that failed before joining the group in that start. */
  neverJoined: number[];
}

/** How a supervised run ended: the last start's outcomes, and every failure on the way. */
export interface LaunchResult<T> {
  ok: boolean;
  outcomes: RankOutcome<T>[];
  restarts: number;
  /** World size of the last start. */
  size: number;
  failures: StartFailure[];
  /** Set when the run gave up: why, in one line. */
  gaveUp?: string;
}

function checkCount(name: string, v: unknown, min: number): void {
  if (!Number.isInteger(v) || (v as number) < min) {
    throw new UsageError(`launch: ${name} must be an integer ≥ ${min}, received ${describe(v)}`);
  }
}

/**
 * Run `target` as `n` ranks (threads, or processes with `processes: true`), restarting the whole
 * group up to `maxRestarts` times after a failure, with fewer ranks (≥ `minNproc`) when some fail
 * before joining. Resolves when a start succeeds, the budget is spent or too few ranks can start;
 * never rejects for a rank's failure.
 */
export async function launch<T = unknown>(
  n: number,
  target: string | URL | RankFn<T>,
  args: string[] = [],
  opts: SuperviseOptions = {},
): Promise<LaunchResult<T>> {
  checkCount('n', n, 1);
  const maxRestarts = opts.maxRestarts ?? 0;
  checkCount('maxRestarts', maxRestarts, 0);
  const minNproc = opts.minNproc ?? n;
  checkCount('minNproc', minNproc, 1);
  if (minNproc > n) throw new UsageError(`launch: minNproc must be ≤ n = ${n}, received ${minNproc}`);
  const failures: StartFailure[] = [];
  let size = n;
  for (let start = 0; ; start++) {
    const env = { ...opts.env, SYNCBN_RESTART_COUNT: String(start), SYNCBN_MAX_RESTARTS: String(maxRestarts) };
    const spawn = opts.processes ? spawnProcesses<T> : spawnThreads<T>;
    const outcomes = await spawn(size, target, args, { ...opts, env });
    const rc = rootCause(outcomes);
    const end = (gaveUp?: string): LaunchResult<T> => {
      return { ok: rc === null, outcomes, restarts: start, size, failures, ...(gaveUp ? { gaveUp } : {}) };
    };
    if (rc === null) return end();
    // Its own failure before joining, not a consequence of another's (ended by us, or a peer that died).
    const neverJoined = outcomes
      .filter((o) => !o.ok && o.joined !== true && o.error.code !== 'E_RANK_KILLED' && o.error.name !== 'PeerDiedError')
      .map((o) => o.rank);
    const failure: StartFailure = { start, size, rank: rc.rank, error: rc.error, neverJoined };
    failures.push(failure);
    if (opts.signal?.aborted) return end('the launch was aborted');
    if (start === maxRestarts) {
      const spent = `restart budget spent (${maxRestarts} restart${maxRestarts === 1 ? '' : 's'})`;
      return end(maxRestarts === 0 ? 'no restarts allowed (maxRestarts 0)' : spent);
    }
    let next = size;
    if (minNproc < n && neverJoined.length > 0) {
      next = size - neverJoined.length;
      if (next < minNproc) {
        const who = `rank${neverJoined.length === 1 ? '' : 's'} ${neverJoined.join(', ')}`;
        return end(
          `only ${next} of ${size} ranks could start (${who} failed before joining the group); at least minNproc = ` +
            `${minNproc} are needed`,
        );
      }
    }
    opts.onRestart?.({ restart: start + 1, maxRestarts, failure, nextSize: next });
    size = next;
  }
}
