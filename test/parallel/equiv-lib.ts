// Shared by the equivalence tests: small models, per-step data, the per-rank DDP run and the single-thread reference.
import type { ProcessGroup } from '../../src/comm/types.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { type Module } from '../../src/nn/module.js';
import { Sequential, type TensorModule } from '../../src/nn/layers/sequential.js';
import { Conv2d, Linear } from '../../src/nn/layers/conv.js';
import { BatchNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d } from '../../src/nn/layers/batchnorm.js';
import { ReLU, AdaptiveAvgPool2d, Flatten } from '../../src/nn/layers/basic.js';
import { crossEntropy } from '../../src/nn/functional/loss.js';
import { SGD } from '../../src/optim/sgd.js';
import { convertSyncBatchNorm, createSyncBNProcessGroup } from '../../src/parallel/convert.js';
import { DistributedDataParallel } from '../../src/parallel/ddp.js';

export type ModelKind = 'cnn' | 'cnnAffineOff' | 'cnnMomentumNull' | 'mlp' | 'rank5' | 'channelsLast';

export interface RunSpec {
  model: ModelKind;
  /** samples per rank per step; they concatenate, in rank order, to the global batch */
  counts: number[];
  steps: number;
  seed: number;
  /** 'sync': convertSyncBatchNorm; 'local': plain per-rank BatchNorm (the negative control) */
  bn: 'sync' | 'local';
  /** SyncBN within blocks of this many ranks (apex subgroups); 0 = the whole world */
  groupSize?: number;
  /** DDP bucket cap in MiB (small ⇒ several buckets) */
  bucketCapMB?: number;
  /** added to every input value of rank r's samples (very different magnitudes per rank) */
  offsets?: number[];
}

/** What one run records (plain arrays: crosses thread and process boundaries). */
export interface RunRecord {
  /** per step: this rank's (or replica's) outputs, flattened */
  outputs: number[][];
  /** per step: the global loss (mean over all samples) */
  losses: number[];
  /** per step: parameter gradients after averaging, by name */
  grads: Record<string, number[]>[];
  /** per step: gradient of the global loss w.r.t. this rank's input */
  inputGrads: number[][];
  /** after the last step: parameters and buffers by name */
  final: Record<string, number[]>;
}

const CLASSES = 3;

/** The sample shape (without N) of each model's input. */
export function sampleShape(kind: ModelKind): number[] {
  if (kind === 'mlp') return [6];
  if (kind === 'rank5') return [2, 2, 3, 3];
  if (kind === 'channelsLast') return [2, 3, 3];
  return [3, 5, 5];
}

/** Same seed ⇒ same weights, on any rank. The BatchNorms are plain; convertSyncBatchNorm makes them SyncBN. */
export function buildModel(kind: ModelKind, seed: number): Sequential {
  const generator = new RandomGenerator(seed);
  const layers: TensorModule[] = [];
  if (kind === 'mlp') {
    layers.push(new Linear(6, 5, { generator }), new BatchNorm1d(5), new ReLU(), new Linear(5, CLASSES, { generator }));
  } else if (kind === 'rank5') {
    layers.push(new BatchNorm3d(2), new ReLU(), new Flatten(), new Linear(36, CLASSES, { generator }));
  } else if (kind === 'channelsLast') {
    // (N, H, W, C): a per-position Linear 3 → 4 on the last dim, then BN over that channel dim
    // (no bias: a bias right before BN has a gradient of exactly 0 in theory, pure rounding noise in float32)
    layers.push(
      new Linear(3, 4, { bias: false, generator }),
      new BatchNorm(4, { channelsLast: true }),
      new ReLU(),
      new Flatten(),
      new Linear(24, CLASSES, { generator }),
    );
  } else {
    const bn2 = kind === 'cnnAffineOff' ? { affine: false } : kind === 'cnnMomentumNull' ? { momentum: null } : {};
    layers.push(
      new Conv2d(3, 4, 3, { padding: 1, generator }),
      new BatchNorm2d(4, kind === 'cnnAffineOff' ? { affine: false } : {}),
      new ReLU(),
      new Conv2d(4, 4, 3, { padding: 2, dilation: 2, bias: false, generator }),
      new BatchNorm2d(4, bn2),
      new ReLU(),
      new AdaptiveAvgPool2d(1),
      new Flatten(),
      new Linear(4, CLASSES, { generator }),
    );
  }
  // perturb BN affine parameters off (1, 0) so their gradients matter
  const rng = new RandomGenerator(seed + 17);
  for (const m of layers) {
    if (m instanceof BatchNorm && m.weight !== null) {
      m.weight.data.forEach((_, i, a) => (a[i] = 0.5 + rng.float()));
      m.bias!.data.forEach((_, i, a) => (a[i] = rng.float() - 0.5));
    }
  }
  return new Sequential(...layers);
}

/** The global batch of a step: inputs (B, …sample) and class targets (B). */
export function batchOf(
  kind: ModelKind,
  b: number,
  step: number,
  seed: number,
  spec?: RunSpec,
): { x: Float32Array; y: Int32Array } {
  const per = sampleShape(kind).reduce((p, d) => p * d, 1);
  const rng = new RandomGenerator(seed * 1000 + step);
  const x = Float32Array.from({ length: b * per }, () => 0.5 + 2 * rng.normal());
  const y = Int32Array.from({ length: b }, () => rng.int(CLASSES));
  if (spec?.offsets !== undefined) {
    // sample i belongs to the rank whose slice holds it
    let i = 0;
    spec.counts.forEach((c, r) => {
      for (let k = 0; k < c; k++, i++) for (let j = 0; j < per; j++) x[i * per + j] += spec.offsets![r]!;
    });
  }
  return { x, y };
}

const copyOf = (t: Tensor | null): number[] => (t === null ? [] : Array.from(t.data));

function snapshot(model: Module): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(model.stateDict())) out[k] = copyOf(t);
  return out;
}

/**
 * One training step's forward/backward on a shard: loss_r = Σ local per-sample losses × R/B, so that
 * averaging the gradients of R ranks gives the gradient of the global mean loss Σ/B. Returns the
 * shard's outputs, loss_r/R (this rank's share of the global loss) and the input gradient ÷ R… ×1 (see below).
 */
function shardStep(
  model: Module,
  kind: ModelKind,
  x: Float32Array,
  y: Int32Array,
  b: number,
  replicas: number,
): { out: number[]; lossShare: number; inputGrad: number[] } {
  const n = y.length;
  const xt = Tensor.from(x, [n, ...sampleShape(kind)]).requiresGrad_(true);
  const out = (model.forward as (t: Tensor) => Tensor)(xt).keep();
  const loss = crossEntropy(out, y, { reduction: 'sum' }).mul(replicas / b);
  const lossValue = loss.item();
  loss.backward();
  // SyncBN's input gradient is that of Σ_r loss_r = R × the global loss: report it per global loss.
  const inputGrad = Array.from(xt.grad?.data ?? new Float32Array(xt.size), (v) => v / replicas);
  const rec = { out: Array.from(out.data), lossShare: lossValue / replicas, inputGrad };
  out.dispose();
  xt.dispose();
  return rec;
}

function slices(counts: readonly number[], per: number): [number, number][] {
  let s = 0;
  return counts.map((c) => {
    const r: [number, number] = [s * per, (s + c) * per];
    s += c;
    return r;
  });
}

/** Per-rank body: DDP (+ SyncBN unless spec.bn is 'local') over `pg`, SGD with momentum, `steps` steps. */
export function runRank(pg: ProcessGroup, spec: RunSpec): RunRecord & { losses: number[] } {
  const model = buildModel(spec.model, spec.seed);
  if (spec.bn === 'sync') convertSyncBatchNorm(model, createSyncBNProcessGroup(pg, spec.groupSize ?? 0));
  const ddp = new DistributedDataParallel(model, { group: pg, bucketCapMB: spec.bucketCapMB ?? 1 });
  const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const b = spec.counts.reduce((a, c) => a + c, 0);
  const per = sampleShape(spec.model).reduce((p, d) => p * d, 1);
  const [lo, hi] = slices(spec.counts, per)[pg.rank]!;
  const [ylo, yhi] = slices(spec.counts, 1)[pg.rank]!;
  const rec: RunRecord = { outputs: [], losses: [], grads: [], inputGrads: [], final: {} };
  for (let step = 0; step < spec.steps; step++) {
    const { x, y } = batchOf(spec.model, b, step, spec.seed, spec);
    const s = shardStep(ddp, spec.model, x.subarray(lo, hi), y.subarray(ylo, yhi), b, pg.size);
    // the global loss = mean over ranks of loss_r... = Σ_r lossShare_r
    const l = new Float64Array([s.lossShare]);
    pg.allReduceSync(l, 'sum', { tag: 'test.loss' });
    rec.outputs.push(s.out);
    rec.losses.push(l[0]!);
    rec.inputGrads.push(s.inputGrad);
    rec.grads.push(Object.fromEntries(model.namedParameters().map(([k, t]) => [k, copyOf(t.grad)])));
    opt.step();
    opt.zeroGrad();
  }
  rec.final = snapshot(model);
  ddp.close();
  model.dispose();
  return rec;
}

/**
 * The single-thread reference: `shards.length` replicas with plain (local) BatchNorm, replica i on
 * shard i, gradients averaged over replicas, the same SGD. One replica = one worker on the whole batch.
 * Returns one record per replica (outputs/inputGrads of its shard; grads/params are per replica).
 */
export function runReference(spec: RunSpec, shardCounts: number[]): RunRecord[] {
  const replicas = shardCounts.map(() => buildModel(spec.model, spec.seed));
  const opts = replicas.map((m) => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }));
  const b = shardCounts.reduce((a, c) => a + c, 0);
  const per = sampleShape(spec.model).reduce((p, d) => p * d, 1);
  const xs = slices(shardCounts, per);
  const ys = slices(shardCounts, 1);
  const recs: RunRecord[] = replicas.map(() => ({ outputs: [], losses: [], grads: [], inputGrads: [], final: {} }));
  for (let step = 0; step < spec.steps; step++) {
    const { x, y } = batchOf(spec.model, b, step, spec.seed, spec);
    let loss = 0;
    replicas.forEach((m, i) => {
      const s = shardStep(m, spec.model, x.subarray(...xs[i]!), y.subarray(...ys[i]!), b, replicas.length);
      recs[i]!.outputs.push(s.out);
      recs[i]!.inputGrads.push(s.inputGrad);
      loss += s.lossShare;
    });
    // average gradients over replicas (what DDP's all-reduce does), then step every replica
    const named = replicas.map((m) => m.namedParameters());
    const avg: Record<string, number[]> = {};
    for (let p = 0; p < named[0]!.length; p++) {
      const [name, t0] = named[0]![p]!;
      const acc = new Float64Array(t0.size);
      for (const nm of named) nm[p]![1].grad?.data.forEach((v, j) => (acc[j] += v));
      const a = Array.from(acc, (v) => v / replicas.length);
      avg[name] = a;
      for (const nm of named) {
        const t = nm[p]![1];
        if (t.grad === null) t.grad = Tensor.zerosLike(t);
        t.grad.data.set(a);
      }
    }
    replicas.forEach((_, i) => {
      recs[i]!.losses.push(loss);
      recs[i]!.grads.push(avg);
      opts[i]!.step();
      opts[i]!.zeroGrad();
    });
  }
  replicas.forEach((m, i) => {
    recs[i]!.final = snapshot(m);
    m.dispose();
  });
  return recs;
}

/**
 * Per-element error in units of rtol: max_i |a_i − b_i| / (|b_i| + floor), so err ≤ rtol means
 * |a − b| ≤ rtol·|b| + rtol·floor at every element. `floor` (default 0.1 × the largest |b|, i.e. an
 * absolute term of rtol/10 of the array's scale) covers entries that pass near zero; a quantity that
 * is zero in theory (the gradient of a bias right before BN) passes the scale of its siblings instead.
 */
export function relErr(a: readonly number[], b: readonly number[], floor?: number): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(b[i]!));
  const fl = Math.max(floor ?? 0.1 * m, 1e-30);
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + fl));
  return e;
}

const cat = (xs: number[][]): number[] => xs.flat();

/** 0.1 × the largest gradient entry of step s over all parameters: the floor for every gradient. */
function gradFloor(ref: RunRecord, s: number): number {
  let m = 0;
  for (const g of Object.values(ref.grads[s]!)) for (const v of g) m = Math.max(m, Math.abs(v));
  return 0.1 * m;
}

/**
 * Compare rank records with reference replicas: replica j stands for the ranks of block j (blocks of
 * `block` consecutive ranks: the SyncBN group). Returns the worst relative error over outputs,
 * losses, every gradient, input gradients and every parameter and buffer after the last step.
 */
export function compareRuns(
  ranks: RunRecord[],
  refs: RunRecord[],
  block: number,
  steps: number,
): { err: number; where: string } {
  let err = 0;
  let where = '';
  const see = (e: number, w: string): void => {
    if (e > err || Number.isNaN(e)) {
      err = Number.isNaN(e) ? Infinity : e;
      where = w;
    }
  };
  refs.forEach((ref, j) => {
    const mine = ranks.slice(j * block, (j + 1) * block);
    for (let s = 0; s < steps; s++) {
      see(relErr(cat(mine.map((r) => r.outputs[s]!)), ref.outputs[s]!), `replica ${j} step ${s} outputs`);
      see(relErr(cat(mine.map((r) => r.inputGrads[s]!)), ref.inputGrads[s]!), `replica ${j} step ${s} input gradient`);
      for (const [ri, r] of mine.entries()) {
        see(relErr([r.losses[s]!], [ref.losses[s]!]), `rank ${j * block + ri} step ${s} loss`);
        for (const k of Object.keys(ref.grads[s]!)) {
          see(
            relErr(r.grads[s]![k]!, ref.grads[s]![k]!, gradFloor(ref, s)),
            `rank ${j * block + ri} step ${s} grad ${k}`,
          );
        }
      }
    }
    for (const [ri, r] of mine.entries()) {
      if (Object.keys(r.final).join() !== Object.keys(ref.final).join())
        see(Infinity, `rank ${j * block + ri} state dict keys`);
      for (const k of Object.keys(ref.final))
        see(relErr(r.final[k]!, ref.final[k]!), `rank ${j * block + ri} final ${k}`);
    }
  });
  return { err, where };
}
