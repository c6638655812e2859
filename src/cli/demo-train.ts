// The `syncbn demo` training body, run in every thread rank: a small dilated segmentation CNN with SyncBN on synthetic shapes.
import { BroadcastChannel } from 'node:worker_threads';
import type { ProcessGroup } from '../comm/types.js';
import { Tensor } from '../tensor/tensor.js';
import { Generator } from '../tensor/random.js';
import { noGrad } from '../autograd/node.js';
import { Sequential } from '../nn/layers/sequential.js';
import { Conv2d } from '../nn/layers/conv.js';
import { BatchNorm2d } from '../nn/layers/batchnorm.js';
import { ReLU, Upsample } from '../nn/layers/basic.js';
import { crossEntropy } from '../nn/functional/loss.js';
import { SGD } from '../optim/sgd.js';
import { PolyLR } from '../optim/schedule.js';
import { saveModule } from '../io/safetensors.js';
import { convertSyncBatchNorm, revertSyncBatchNorm } from '../parallel/convert.js';
import { DistributedDataParallel } from '../parallel/ddp.js';
import { DistributedSampler } from '../parallel/sampler.js';
import { IGNORE_INDEX, SHAPE_CLASSES, SegMetrics, ShapesDataset } from '../parallel/shapes.js';

export interface DemoConfig {
  epochs: number;
  /** images per worker per step */
  batch: number;
  /** training images (all workers together) */
  samples: number;
  /** validation images */
  val: number;
  /** image side, a multiple of 4 */
  size: number;
  lr: number;
  seed: number;
  /** SyncBatchNorm (true) or plain per-worker BatchNorm (false) */
  sync: boolean;
  /** rank 0 writes the trained model (SyncBN reverted to BatchNorm) as safetensors here */
  save?: string;
  /** BroadcastChannel name on which rank 0 reports progress (none: silent) */
  channel?: string;
}

export type DemoEvent =
  | { type: 'start'; stepsPerEpoch: number; epochs: number; world: number }
  | { type: 'step'; epoch: number; step: number; loss: number }
  | { type: 'epoch'; epoch: number; trainLoss: number; valLoss: number; pixelAccuracy: number; meanIoU: number; seconds: number; samplesPerSecond: number };

export interface DemoResult {
  epochs: Extract<DemoEvent, { type: 'epoch' }>[];
}

const K = SHAPE_CLASSES.length;

/** Stride-4 dilated encoder (à la DeepLab: dilation instead of more downsampling), 1×1 classifier, bilinear ×4. */
export function segNet(seed: number): Sequential {
  const generator = new Generator(seed);
  const conv = (i: number, o: number, k: number, o2: { stride?: number; padding?: number; dilation?: number; bias?: boolean }): Conv2d =>
    new Conv2d(i, o, k, { bias: false, ...o2, generator });
  return new Sequential(
    conv(3, 16, 3, { stride: 2, padding: 1 }), new BatchNorm2d(16), new ReLU(),
    conv(16, 32, 3, { stride: 2, padding: 1 }), new BatchNorm2d(32), new ReLU(),
    conv(32, 32, 3, { padding: 2, dilation: 2 }), new BatchNorm2d(32), new ReLU(),
    conv(32, 32, 3, { padding: 4, dilation: 4 }), new BatchNorm2d(32), new ReLU(),
    conv(32, K, 1, { bias: true }),
    new Upsample({ scaleFactor: 4 }),
  );
}

/** Per-pixel argmax of logits (N, K, H, W). */
function argmax(logits: Float32Array, n: number, hw: number): Int32Array {
  const out = new Int32Array(n * hw);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < hw; p++) {
      let best = 0;
      let bv = -Infinity;
      for (let c = 0; c < K; c++) {
        const v = logits[(i * K + c) * hw + p]!;
        if (v > bv) {
          bv = v;
          best = c;
        }
      }
      out[i * hw + p] = best;
    }
  }
  return out;
}

const labelled = (labels: Int32Array): number => labels.reduce((a, v) => a + (v === IGNORE_INDEX ? 0 : 1), 0);

/** Rank body: data-parallel training with DDP (+ SyncBN when cfg.sync), evaluated after every epoch. */
export function demoRank(pg: ProcessGroup, cfg: DemoConfig): DemoResult {
  const report = pg.rank === 0 && cfg.channel !== undefined ? new BroadcastChannel(cfg.channel) : null;
  const post = (e: DemoEvent): void => report?.postMessage(e);
  const model = segNet(cfg.seed);
  if (cfg.sync) convertSyncBatchNorm(model, pg);
  const ddp = new DistributedDataParallel(model, { group: pg });
  const opt = new SGD(model.parameters(), { lr: cfg.lr, momentum: 0.9, weightDecay: 1e-4 });
  const train = new ShapesDataset({ length: cfg.samples, size: cfg.size, seed: cfg.seed });
  const val = new ShapesDataset({ length: cfg.val, size: cfg.size, seed: cfg.seed + 1 });
  const sampler = new DistributedSampler(train, { group: pg, shuffle: true, seed: cfg.seed, dropLast: true });
  const stepsPerEpoch = Math.ceil(sampler.numSamples / cfg.batch);
  const sched = new PolyLR(opt, { totalSteps: cfg.epochs * stepsPerEpoch, power: 0.9 });
  const hw = cfg.size * cfg.size;
  const result: DemoResult = { epochs: [] };
  post({ type: 'start', stepsPerEpoch, epochs: cfg.epochs, world: pg.size });
  for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    const t0 = performance.now();
    sampler.setEpoch(epoch);
    const idx = sampler.indices();
    let lossSum = 0;
    model.train();
    for (let s = 0; s < stepsPerEpoch; s++) {
      const ids = idx.slice(s * cfg.batch, (s + 1) * cfg.batch);
      const { images, labels } = train.batch(ids);
      const x = Tensor.from(images, [ids.length, 3, cfg.size, cfg.size]);
      const ce = crossEntropy(ddp.forward(x), labels, { reduction: 'sum', ignoreIndex: IGNORE_INDEX });
      // The loss is the mean over every labelled pixel of the global batch: scale this rank's sum by
      // world/total so that DDP's average of the gradients is that mean's gradient.
      const tot = Float64Array.of(labelled(labels), ce.item());
      pg.allReduceSync(tot, 'sum', { tag: 'demo.loss' });
      const loss = ce.mul(pg.size / Math.max(1, tot[0]!));
      loss.backward();
      opt.step();
      opt.zeroGrad();
      sched.step();
      x.dispose();
      const mean = tot[1]! / Math.max(1, tot[0]!);
      lossSum += mean;
      post({ type: 'step', epoch, step: s + 1, loss: mean });
    }
    const seconds = (performance.now() - t0) / 1000;
    // Validation: each rank takes every world-th image; eval BN uses running statistics (no communication).
    model.eval();
    const m = new SegMetrics(K);
    let valLoss = 0;
    noGrad(() => {
      for (let i = pg.rank; i < val.length; i += pg.size) {
        const { images, labels } = val.batch([i]);
        const x = Tensor.from(images, [1, 3, cfg.size, cfg.size]);
        const out = model.forward(x);
        valLoss += crossEntropy(out, labels, { reduction: 'sum', ignoreIndex: IGNORE_INDEX }).item();
        m.add(argmax(out.data, 1, hw), labels);
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
    const ev = {
      type: 'epoch' as const,
      epoch,
      trainLoss: lossSum / stepsPerEpoch,
      valLoss: acc[K * K]! / Math.max(1, counted),
      pixelAccuracy: all.pixelAccuracy(),
      meanIoU: all.meanIoU(),
      seconds,
      samplesPerSecond: (stepsPerEpoch * cfg.batch * pg.size) / seconds,
    };
    result.epochs.push(ev);
    post(ev);
  }
  ddp.close();
  if (cfg.save !== undefined && pg.rank === 0) saveModule(cfg.save, revertSyncBatchNorm(model), { syncbn: 'demo segmentation CNN', classes: SHAPE_CLASSES.join(',') });
  pg.barrierSync({ tag: 'demo.done' });
  report?.close();
  model.dispose();
  return result;
}
