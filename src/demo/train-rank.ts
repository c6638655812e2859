// One configuration of the demo grid, run in every thread rank: DDP training of SegNet on DigitScenes, eval per epoch.
import { existsSync, renameSync } from 'node:fs';
import { BroadcastChannel } from 'node:worker_threads';
import type { ProcessGroup } from '../comm/types.js';
import { saveModule } from '../io/safetensors.js';
import { revertSyncBatchNorm } from '../parallel/convert.js';
import { DistributedDataParallel } from '../parallel/ddp.js';
import type { DemoNorm, EpochMetrics } from './types.js';
import { createRun, evaluate, predictGallery, stateArrays, trainStep } from './train-core.js';
import type { TrainSettings } from './options.js';
import { restoreRank, saveRank, type Fingerprint, type RankProgress } from './checkpoint.js';

export { stepIndices } from './train-core.js';

/** What every rank of one configuration needs (JSON: it crosses into the worker threads as a string). */
export interface RankConfig extends TrainSettings {
  norm: DemoNorm;
  batchPerWorker: number;
  seed: number;
  /** Stop after this many steps in all (tests); default: every step of every epoch. */
  maxSteps?: number;
  /** Validation scenes 0…gallery−1 whose predictions rank 0 returns after the last epoch. */
  gallery: number;
  /** BroadcastChannel on which rank 0 reports progress. */
  channel?: string;
  /** Rank 0 polls this path every step; when it exists every rank stops after that step (Ctrl-C). */
  stopFile?: string;
  /** Rank 0 writes the trained model here (SyncBN reverted to BatchNorm), atomically. */
  saveModel?: string;
  /** Return the per-step losses and the final state dict (tests). */
  record?: boolean;
  /** Training checkpoints of this configuration go here (every rank saves together; rank 0 writes). */
  checkpointDir?: string;
  /** Checkpoint every K steps (default: at the end of every epoch); with checkpointDir, also when stopped. */
  checkpointEvery?: number;
  /** Continue from checkpointDir's latest checkpoint, if any. */
  resume?: boolean;
  /** Stored with each checkpoint: the settings it belongs to (checked by --resume). */
  fingerprint?: Fingerprint;
}

export type RankEvent =
  | { type: 'start'; stepsPerEpoch: number; epochs: number; resumedAt?: number }
  | { type: 'step'; epoch: number; step: number; loss: number }
  | ({ type: 'epoch' } & EpochMetrics);

export interface RankResult {
  epochs: EpochMetrics[];
  /** Milliseconds of every training step (rank 0's clock; the loss all-reduce synchronizes the ranks). */
  stepMs: number[];
  interrupted: boolean;
  /** Rank 0: predicted labels of validation scenes 0…gallery−1 after the last epoch. */
  predictions: Uint8Array[];
  /** With cfg.record: the global loss of every step and the final parameters and buffers. */
  losses?: number[];
  state?: Record<string, number[]>;
}

/** The rank body of one configuration (see RankConfig); every rank returns its result, rank 0's is the one used. */
export async function trainRank(pg: ProcessGroup, cfg: RankConfig): Promise<RankResult> {
  const report = pg.rank === 0 && cfg.channel !== undefined ? new BroadcastChannel(cfg.channel) : null;
  const post = (e: RankEvent): void => report?.postMessage(e);
  const run = createRun(pg, cfg);
  const { model, opt, sched, val, globalBatch, stepsPerEpoch } = run;
  const totalSteps = Math.min(cfg.maxSteps ?? Infinity, stepsPerEpoch * cfg.epochs);
  const res: RankResult = { epochs: [], stepMs: [], interrupted: false, predictions: [] };
  if (cfg.record === true) res.losses = [];
  // the whole state: the data order is a function of (seed, epoch, step) and the scenes of their index
  const parts = { model, optimizer: opt, scheduler: sched };
  const ckDir = cfg.checkpointDir;
  const every = cfg.checkpointEvery ?? stepsPerEpoch;
  let done = 0;
  let from: RankProgress = { epoch: 0, position: 0, lossSum: 0, trainSeconds: 0, epochs: [] };
  if (ckDir !== undefined && cfg.resume === true) {
    const at = restoreRank(ckDir, parts, pg, globalBatch);
    if (at !== null) {
      done = at.step;
      from = at.progress;
      res.epochs.push(...from.epochs);
    }
  }
  const ddp = new DistributedDataParallel(model, { group: pg });
  post({ type: 'start', stepsPerEpoch, epochs: cfg.epochs, ...(done > 0 ? { resumedAt: done } : {}) });
  // a checkpoint taken after an epoch's last step resumes into that epoch's evaluation, even after the last step
  const due = (epoch: number): boolean =>
    done < totalSteps || (epoch === from.epoch && from.position === stepsPerEpoch);
  for (let epoch = from.epoch; epoch < cfg.epochs && due(epoch) && !res.interrupted; epoch++) {
    const t0 = performance.now();
    const first = epoch === from.epoch;
    let lossSum = first ? from.lossSum : 0;
    let steps = first ? from.position : 0;
    const secondsBefore = first ? from.trainSeconds : 0;
    model.train();
    for (let s = steps; s < stepsPerEpoch && done < totalSteps; s++) {
      const ts = performance.now();
      const stopAsked = pg.rank === 0 && cfg.stopFile !== undefined && existsSync(cfg.stopFile);
      const { loss: mean, stop } = trainStep(run, ddp, pg, epoch, s, stopAsked);
      res.losses?.push(mean);
      lossSum += mean;
      steps++;
      done++;
      res.stepMs.push(performance.now() - ts);
      post({ type: 'step', epoch, step: s + 1, loss: mean });
      if (ckDir !== undefined && (done % every === 0 || stop)) {
        const trainSeconds = secondsBefore + (performance.now() - t0) / 1000;
        const progress = { epoch, position: s + 1, lossSum, trainSeconds, epochs: res.epochs };
        await saveRank(ckDir, parts, pg, done, globalBatch, progress, cfg.fingerprint);
      }
      if (stop) {
        res.interrupted = true;
        break;
      }
    }
    if (res.interrupted || steps < stepsPerEpoch) break; // a partial epoch is not evaluated
    const trainSeconds = secondsBefore + (performance.now() - t0) / 1000;
    const ev = evaluate(pg, model, val, cfg.size);
    const m: EpochMetrics = {
      epoch: epoch + 1,
      trainLoss: lossSum / steps,
      ...ev,
      trainSeconds,
      imagesPerSec: (steps * globalBatch) / trainSeconds,
    };
    res.epochs.push(m);
    post({ type: 'epoch', ...m });
  }
  ddp.close();
  if (pg.rank === 0 && cfg.gallery > 0 && !res.interrupted) res.predictions.push(...predictGallery(run, cfg.gallery));
  const plain = revertSyncBatchNorm(model);
  if (pg.rank === 0 && cfg.saveModel !== undefined && !res.interrupted) {
    const tmp = `${cfg.saveModel}.tmp-${process.pid}`;
    saveModule(tmp, plain, {
      syncbn: 'syncbn demo SegNet (SyncBatchNorm reverted to BatchNorm2d)',
      arch: 'demo',
      size: String(cfg.size),
      width: String(cfg.width),
      classes: 'background,0,1,2,3,4,5,6,7,8,9',
    });
    renameSync(tmp, cfg.saveModel);
  }
  if (cfg.record === true) res.state = stateArrays(plain);
  pg.barrierSync({ tag: 'demo.done' });
  report?.close();
  plain.dispose();
  return res;
}
