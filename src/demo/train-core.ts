// The demo's training math, host-free (Node ranks and browser workers run this same code): setup, one step, evaluation.
import type { ProcessGroup } from '../comm/types.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/node.js';
import { crossEntropy } from '../nn/functional/loss.js';
import { AdamW } from '../optim/adamw.js';
import { PolyLR } from '../optim/schedule.js';
import { type DistributedDataParallel } from '../parallel/ddp.js';
import { RandomGenerator } from '../tensor/random.js';
import { DigitScenes, DIGIT_SCENE_CLASSES } from '../data/digit-scenes.js';
import type { DigitClass } from '../data/digits.js';
import { IGNORE_INDEX, SegMetrics, argmaxClasses } from '../data/seg-metrics.js';
import { segNet } from '../models/segnet.js';
import type { DemoNorm } from './types.js';
import type { TrainSettings } from './options.js';

const K = DIGIT_SCENE_CLASSES;

/** What the training math depends on (a subset of the Node demo's RankConfig). */
export interface CoreConfig extends TrainSettings {
  norm: DemoNorm;
  batchPerWorker: number;
  seed: number;
}

/** One rank's training state: model, optimizer, schedule and data. */
export interface DemoRun {
  cfg: CoreConfig;
  model: ReturnType<typeof segNet>;
  opt: AdamW;
  sched: PolyLR;
  train: DigitScenes;
  val: DigitScenes;
  globalBatch: number;
  stepsPerEpoch: number;
}

/**
 * The global sample order: the step-s batch of epoch e is perm_e[s·G … (s+1)·G) with G = world · batchPerWorker
 * and perm_e a permutation seeded by (seed, e); rank r takes its r-th block of batchPerWorker. It depends on G, not
 * on the split into workers, so a 1 × G run sees exactly the union of an N × G/N run's samples at every step.
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

/** Build the model (seeded), AdamW, PolyLR and both splits; `digits` as DigitScenes' option (browsers give them). */
export function createRun(pg: ProcessGroup, cfg: CoreConfig, digits?: readonly DigitClass[]): DemoRun {
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
  const scenes = { size: cfg.size, seed: cfg.seed, ...(digits !== undefined ? { digits } : {}) };
  const train = new DigitScenes({ split: 'train', length: cfg.train, ...scenes });
  const val = new DigitScenes({ split: 'val', length: cfg.val, ...scenes });
  const globalBatch = cfg.batchPerWorker * pg.size;
  const stepsPerEpoch = Math.floor(cfg.train / globalBatch);
  const sched = new PolyLR(opt, { totalSteps: Math.max(1, stepsPerEpoch * cfg.epochs), power: 0.9 });
  return { cfg, model, opt, sched, train, val, globalBatch, stepsPerEpoch };
}

/**
 * One optimizer step of epoch `epoch`, step `s`; returns the global mean loss and whether rank 0 asked to stop
 * (`stop`: rank 0's flag, carried in the loss all-reduce so that every rank stops after the same step).
 */
export function trainStep(
  run: DemoRun,
  ddp: DistributedDataParallel<DemoRun['model']>,
  pg: ProcessGroup,
  epoch: number,
  s: number,
  stop: boolean,
): { loss: number; stop: boolean } {
  const { cfg, opt, sched } = run;
  const b = cfg.batchPerWorker;
  const ids = stepIndices(cfg.seed, epoch, cfg.train, run.globalBatch, s, pg.rank, b);
  const { images, labels } = run.train.batch(ids);
  const x = Tensor.from(images, [b, 1, cfg.size, cfg.size]);
  const ce = crossEntropy(ddp.forward(x), labels, { reduction: 'sum', ignoreIndex: IGNORE_INDEX });
  // The loss is the mean over every labelled pixel of the global batch: scale this rank's sum by world/total
  // so that DDP's average of the gradients is that mean's gradient. The third slot carries rank 0's stop flag.
  const tot = Float64Array.of(
    labels.reduce((a, v) => a + (v === IGNORE_INDEX ? 0 : 1), 0),
    ce.item(),
    pg.rank === 0 && stop ? 1 : 0,
  );
  pg.allReduceSync(tot, 'sum', { tag: 'demo.loss' });
  const loss = ce.mul(pg.size / Math.max(1, tot[0]!));
  loss.backward();
  opt.step();
  opt.zeroGrad();
  sched.step();
  x.dispose();
  return { loss: tot[1]! / Math.max(1, tot[0]!), stop: tot[2]! > 0 };
}

/** Validation in eval mode (running statistics): rank r takes scenes r, r + world, …; confusion and loss summed. */
export function evaluate(
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

/** Rank 0's predicted labels of validation scenes 0…count−1 (eval mode). */
export function predictGallery(run: DemoRun, count: number): Uint8Array[] {
  const { model, val, cfg } = run;
  const out: Uint8Array[] = [];
  model.eval();
  noGrad(() => {
    for (let i = 0; i < Math.min(count, val.length); i++) {
      const x = Tensor.from(val.batch([i]).images, [1, 1, cfg.size, cfg.size]);
      const y = model.forward(x);
      out.push(argmaxClasses(y.data, 1, K, cfg.size * cfg.size));
      y.dispose();
      x.dispose();
    }
  });
  return out;
}

/** The final parameters and buffers as plain arrays (state-dict names), for comparing runs. */
export function stateArrays(model: { stateDict(): Record<string, Tensor> }): Record<string, number[]> {
  return Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, [...t.data]]));
}
