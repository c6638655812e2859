// The page's rank body: the demo's training (src/demo/train-core.ts, as `syncbn demo` runs it) in a Web Worker.
import { DistributedDataParallel } from '../parallel/ddp.js';
import { revertSyncBatchNorm } from '../parallel/convert.js';
import { unpackDigits } from '../data/digits.js';
import type { EpochMetrics } from '../demo/types.js';
import { createRun, evaluate, predictGallery, stateArrays, trainStep, type CoreConfig } from '../demo/train-core.js';
import type { ProcessGroup } from '../comm/types.js';
import type { RankContext } from './protocol.js';

/** One browser run: the training configuration plus what the page wants back. */
export interface WebTrainConfig extends CoreConfig {
  /** Validation scenes 0…gallery−1 whose predictions rank 0 posts after the last epoch. */
  gallery: number;
  /** Return the per-step losses and the final state dict (tests compare it with the Node run). */
  record?: boolean;
  /** Test hook: rank failRank throws at its global step failStep (1-based), as a crashing worker would. */
  failRank?: number;
  failStep?: number;
}

/** What the page hears from rank 0 while it trains. */
export type TrainEvent =
  | { type: 'start'; stepsPerEpoch: number; epochs: number }
  | { type: 'step'; epoch: number; step: number; done: number; loss: number; ms: number }
  | ({ type: 'epoch' } & EpochMetrics)
  | { type: 'gallery'; predictions: Uint8Array[] };

/** Rank 0's result (the other ranks return the same shape with empty metrics). */
export interface WebTrainResult {
  epochs: EpochMetrics[];
  stepMs: number[];
  losses?: number[];
  state?: Record<string, number[]>;
}

/** The rank body (RankBody): args[0] is the WebTrainConfig as JSON; ctx.data the packed digits (/digits.bin). */
export default function trainWeb(pg: ProcessGroup, args: string[], ctx: RankContext): WebTrainResult {
  const cfg = JSON.parse(args[0] ?? '{}') as WebTrainConfig;
  const digits = unpackDigits(ctx.data as ArrayBufferLike, "the page's digits");
  const post = (e: TrainEvent): void => {
    if (pg.rank === 0) ctx.post(e);
  };
  const run = createRun(pg, cfg, digits);
  const ddp = new DistributedDataParallel(run.model, { group: pg });
  const res: WebTrainResult = { epochs: [], stepMs: [] };
  if (cfg.record === true) res.losses = [];
  post({ type: 'start', stepsPerEpoch: run.stepsPerEpoch, epochs: cfg.epochs });
  let done = 0;
  for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    const t0 = performance.now();
    let lossSum = 0;
    run.model.train();
    for (let s = 0; s < run.stepsPerEpoch; s++) {
      const ts = performance.now();
      if (pg.rank === cfg.failRank && done + 1 === cfg.failStep) {
        throw new Error(`injected failure: rank ${pg.rank} at step ${cfg.failStep} (failRank/failStep test hook)`);
      }
      const { loss } = trainStep(run, ddp, pg, epoch, s, false);
      res.losses?.push(loss);
      lossSum += loss;
      done++;
      const ms = performance.now() - ts;
      res.stepMs.push(ms);
      post({ type: 'step', epoch, step: s + 1, done, loss, ms });
    }
    const trainSeconds = (performance.now() - t0) / 1000;
    const ev = evaluate(pg, run.model, run.val, cfg.size);
    const m: EpochMetrics = {
      epoch: epoch + 1,
      trainLoss: lossSum / Math.max(1, run.stepsPerEpoch),
      ...ev,
      trainSeconds,
      imagesPerSec: (run.stepsPerEpoch * run.globalBatch) / trainSeconds,
    };
    if (pg.rank === 0) res.epochs.push(m);
    post({ type: 'epoch', ...m });
  }
  ddp.close();
  if (pg.rank === 0 && cfg.gallery > 0) post({ type: 'gallery', predictions: predictGallery(run, cfg.gallery) });
  const plain = revertSyncBatchNorm(run.model);
  if (cfg.record === true && pg.rank === 0) res.state = stateArrays(plain);
  pg.barrierSync({ tag: 'demo.done' });
  plain.dispose();
  return res;
}
