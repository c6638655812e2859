// One configuration of the demo grid, run in every thread rank: DDP training of SegNet on DigitScenes, eval per epoch.
import { existsSync, renameSync } from 'node:fs';
import { BroadcastChannel } from 'node:worker_threads';
import type { ProcessGroup } from '../comm/types.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/node.js';
import { crossEntropy } from '../nn/functional/loss.js';
import { AdamW } from '../optim/adamw.js';
import { PolyLR } from '../optim/schedule.js';
import { saveModule } from '../io/safetensors.js';
import { revertSyncBatchNorm } from '../parallel/convert.js';
import { DistributedDataParallel } from '../parallel/ddp.js';
import { RandomGenerator } from '../tensor/random.js';
import { DigitScenes, DIGIT_SCENE_CLASSES } from '../data/digit-scenes.js';
import { IGNORE_INDEX, SegMetrics, argmaxClasses } from '../data/seg-metrics.js';
import { segNet } from '../models/segnet.js';
import type { DemoNorm, EpochMetrics } from './types.js';
import type { TrainSettings } from './options.js';
import { restoreRank, saveRank, type Fingerprint, type RankProgress } from './checkpoint.js';

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

const K = DIGIT_SCENE_CLASSES;

/**
 * The global sample order: the step-s batch of epoch e is perm_e[s·G … (s+1)·G) with G = world · batchPerWorker and
 * perm_e a permutation seeded by (seed, e); rank r takes its r-th block of batchPerWorker. It depends on G, not on
 * the split into workers, so a 1 × G run sees exactly the union of an N × G/N run's samples at every step.
 */
export function stepIndices(
  seed: number,
  epoch: number,
  length: number,
  globalBatch: number,
  step: number,
  rank: number,
  perRank: number,
): number[] {
  const perm = new RandomGenerator(seed * 7_919 + epoch + 1).permutation(length);
  const start = step * globalBatch + rank * perRank;
  return perm.slice(start, start + perRank);
}

/** The rank body of one configuration (see RankConfig); every rank returns its result, rank 0's is the one used. */
export async function trainRank(pg: ProcessGroup, cfg: RankConfig): Promise<RankResult> {
  const report = pg.rank === 0 && cfg.channel !== undefined ? new BroadcastChannel(cfg.channel) : null;
  const post = (e: RankEvent): void => report?.postMessage(e);
  const norm = cfg.norm === 'syncbn' ? 'syncbn' : cfg.norm === 'groupnorm' ? 'groupnorm' : 'bn';
  const model = segNet({
    size: cfg.size,
    width: cfg.width,
    norm,
    seed: cfg.seed,
    ...(norm === 'syncbn' ? { group: pg } : {}),
  });
  // AdamW: from scratch on a few hundred scenes it finds the digits' shapes in far fewer steps than SGD + momentum
  const opt = new AdamW(model.parameters(), { lr: cfg.lr, weightDecay: 1e-4 });
  const train = new DigitScenes({ split: 'train', length: cfg.train, size: cfg.size, seed: cfg.seed });
  const val = new DigitScenes({ split: 'val', length: cfg.val, size: cfg.size, seed: cfg.seed });
  const b = cfg.batchPerWorker;
  const globalBatch = b * pg.size;
  const stepsPerEpoch = Math.floor(cfg.train / globalBatch);
  const totalSteps = Math.min(cfg.maxSteps ?? Infinity, stepsPerEpoch * cfg.epochs);
  const sched = new PolyLR(opt, { totalSteps: Math.max(1, stepsPerEpoch * cfg.epochs), power: 0.9 });
  const hw = cfg.size * cfg.size;
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
      const ids = stepIndices(cfg.seed, epoch, cfg.train, globalBatch, s, pg.rank, b);
      const { images, labels } = train.batch(ids);
      const x = Tensor.from(images, [b, 1, cfg.size, cfg.size]);
      const ce = crossEntropy(ddp.forward(x), labels, { reduction: 'sum', ignoreIndex: IGNORE_INDEX });
      // The loss is the mean over every labelled pixel of the global batch: scale this rank's sum by world/total
      // so that DDP's average of the gradients is that mean's gradient. The third slot carries rank 0's stop flag.
      const stop = pg.rank === 0 && cfg.stopFile !== undefined && existsSync(cfg.stopFile) ? 1 : 0;
      const tot = Float64Array.of(
        labels.reduce((a, v) => a + (v === IGNORE_INDEX ? 0 : 1), 0),
        ce.item(),
        stop,
      );
      pg.allReduceSync(tot, 'sum', { tag: 'demo.loss' });
      const loss = ce.mul(pg.size / Math.max(1, tot[0]!));
      loss.backward();
      opt.step();
      opt.zeroGrad();
      sched.step();
      x.dispose();
      const mean = tot[1]! / Math.max(1, tot[0]!);
      res.losses?.push(mean);
      lossSum += mean;
      steps++;
      done++;
      res.stepMs.push(performance.now() - ts);
      post({ type: 'step', epoch, step: s + 1, loss: mean });
      if (ckDir !== undefined && (done % every === 0 || tot[2]! > 0)) {
        const trainSeconds = secondsBefore + (performance.now() - t0) / 1000;
        const progress = { epoch, position: s + 1, lossSum, trainSeconds, epochs: res.epochs };
        await saveRank(ckDir, parts, pg, done, globalBatch, progress, cfg.fingerprint);
      }
      if (tot[2]! > 0) {
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
  if (pg.rank === 0 && cfg.gallery > 0 && !res.interrupted) {
    model.eval();
    noGrad(() => {
      for (let i = 0; i < Math.min(cfg.gallery, val.length); i++) {
        const x = Tensor.from(val.batch([i]).images, [1, 1, cfg.size, cfg.size]);
        const out = model.forward(x);
        res.predictions.push(argmaxClasses(out.data, 1, K, hw));
        out.dispose();
        x.dispose();
      }
    });
  }
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
  if (cfg.record === true)
    res.state = Object.fromEntries(Object.entries(plain.stateDict()).map(([k, t]) => [k, [...t.data]]));
  pg.barrierSync({ tag: 'demo.done' });
  report?.close();
  plain.dispose();
  return res;
}

/** Validation in eval mode (running statistics): rank r takes scenes r, r + world, …; confusion and loss summed. */
function evaluate(
  pg: ProcessGroup,
  model: ReturnType<typeof segNet>,
  val: DigitScenes,
  size: number,
): { valLoss: number; miou: number; pixelAccuracy: number } {
  model.eval();
  const m = new SegMetrics(K);
  let valLoss = 0;
  const mine: number[] = [];
  for (let i = pg.rank; i < val.length; i += pg.size) mine.push(i);
  const chunk = 8;
  noGrad(() => {
    for (let c = 0; c < mine.length; c += chunk) {
      const ids = mine.slice(c, c + chunk);
      const { images, labels } = val.batch(ids);
      const x = Tensor.from(images, [ids.length, 1, size, size]);
      const out = model.forward(x);
      const ce = crossEntropy(out, labels, { reduction: 'sum', ignoreIndex: IGNORE_INDEX });
      valLoss += ce.item();
      m.add(argmaxClasses(out.data, ids.length, K, size * size), labels);
      ce.dispose();
      out.dispose();
      x.dispose();
    }
  });
  const acc = new Float64Array(K * K + 1);
  acc.set(m.confusion);
  acc[K * K] = valLoss;
  pg.allReduceSync(acc, 'sum', { tag: 'demo.eval' });
  const all = new SegMetrics(K);
  all.confusion.set(acc.subarray(0, K * K));
  const counted = all.confusion.reduce((a, v) => a + v, 0);
  return { valLoss: acc[K * K]! / Math.max(1, counted), miou: all.meanIoU(), pixelAccuracy: all.pixelAccuracy() };
}
