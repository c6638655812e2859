// Run one configuration of the demo grid across its worker threads and collect rank 0's result.
import { BroadcastChannel } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { formatRankError, rootCause, spawnThreads } from '../comm/index.js';
import type { RankConfig, RankEvent, RankResult } from './train-rank.js';

/**
 * Train `cfg` on `workers` threads (DDP; SyncBN when cfg.norm is 'syncbn'). `onEvent` sees rank 0's progress.
 * Rejects with the root-cause error, prefixed with its rank, when a rank fails.
 */
export async function runConfig(
  workers: number,
  cfg: RankConfig,
  onEvent: (e: RankEvent) => void = () => {},
): Promise<RankResult> {
  const channel = `syncbn-demo-${randomBytes(6).toString('hex')}`;
  const bc = new BroadcastChannel(channel);
  bc.onmessage = (m: unknown) => onEvent((m as { data: RankEvent }).data);
  try {
    const outs = await spawnThreads<RankResult>(
      workers,
      async (pg, args) =>
        ((await import(args[0]!)) as typeof import('./train-rank.js')).trainRank(
          pg,
          JSON.parse(args[1]!) as RankConfig,
        ),
      [new URL('./train-rank.js', import.meta.url).href, JSON.stringify({ ...cfg, channel })],
    );
    const failure = rootCause(outs);
    if (failure !== null) throw new Error(`demo run failed:\n${formatRankError(failure.rank, failure.error)}`);
    // let the last progress messages arrive before the channel closes
    await new Promise((r) => setImmediate(r));
    return (outs[0] as Extract<(typeof outs)[number], { ok: true }>).value;
  } finally {
    bc.close();
  }
}
