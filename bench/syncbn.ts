// Bench section `syncbn`: SyncBN vs local BN for one layer and the tiny-CNN DDP training step over thread ranks; samples/s at 1 and 2 workers.
import { spawnThreads, formatRankError, rootCause } from '../src/comm/index.js';
import type { Reporter } from './util.js';

const RANK = new URL('./syncbn-rank.js', import.meta.url).href;

/** Run `fn` (an export of syncbn-rank.ts) on n thread ranks; returns rank 0's figure. */
async function onRanks(n: number, fn: 'layerFwdBwd' | 'tinyCnnStep', sync: boolean): Promise<number> {
  const outs = await spawnThreads<number>(
    n,
    async (pg, args) => ((await import(args[0]!)) as Record<string, (pg: unknown, sync: boolean) => number>)[args[1]!]!(pg, args[2] === 'sync'),
    [RANK, fn, sync ? 'sync' : 'local'],
  );
  const bad = rootCause(outs);
  if (bad !== null) throw new Error(`bench ${fn}: ${formatRankError(bad.rank, bad.error)}`);
  return (outs[0] as { value: number }).value;
}

export async function run(rep: Reporter): Promise<void> {
  rep.say('one BatchNorm layer, 8×16×32×32 per rank, forward + backward, 2 thread ranks');
  const sync = await onRanks(2, 'layerFwdBwd', true);
  const local = await onRanks(2, 'layerFwdBwd', false);
  rep.report('syncbn/layer_fwd_bwd_us/sync/2', sync, 'us');
  rep.report('syncbn/layer_fwd_bwd_us/local/2', local, 'us', `sync/local ${(sync / local).toFixed(2)}×`);

  rep.say('tiny CNN DDP step (conv 3→16, BN, ReLU, conv 16→16, BN, ReLU, GAP, linear 16→10), batch 8 of 3×32×32 per worker, threads');
  const stepSync = await onRanks(2, 'tinyCnnStep', true);
  const stepLocal = await onRanks(2, 'tinyCnnStep', false);
  rep.report('train/tiny_cnn_step_ms/syncbn/2', stepSync, 'ms');
  rep.report('train/tiny_cnn_step_ms/localbn/2', stepLocal, 'ms', `syncbn/localbn ${(stepSync / stepLocal).toFixed(3)}× (target ≤ 1.05×)`);
  const one = 8 / ((await onRanks(1, 'tinyCnnStep', true)) / 1e3);
  const two = (2 * 8) / (stepSync / 1e3);
  rep.report('train/tiny_cnn_samples_per_s/1', one, 'img/s');
  rep.report('train/tiny_cnn_samples_per_s/2', two, 'img/s', `2 workers / 1 = ${(two / one).toFixed(2)}× (target ≥ 1.8×)`);
}
