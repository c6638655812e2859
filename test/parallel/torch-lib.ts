// The fixture model of scripts/gen_syncbn_fixtures.py, trained as one rank of a SyncBN + DDP run (loaded in each thread
// rank).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnProcesses, spawnThreads } from '../../src/comm/launch.js';
import type { ProcessGroup } from '../../src/comm/types.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Module } from '../../src/nn/module.js';
import { Conv2d, Linear } from '../../src/nn/layers/conv.js';
import { BatchNorm2d } from '../../src/nn/layers/batchnorm.js';
import { AdaptiveAvgPool2d } from '../../src/nn/layers/basic.js';
import { relu, flatten } from '../../src/autograd/ops.js';
import { crossEntropy } from '../../src/nn/functional/loss.js';
import { SGD } from '../../src/optim/sgd.js';
import { convertSyncBatchNorm } from '../../src/parallel/convert.js';
import { DistributedDataParallel } from '../../src/parallel/ddp.js';
import { assertMixed } from '../helpers/close.js';

interface Stored {
  shape: number[];
  data: number[];
}
export interface Fixture {
  batch: number;
  size: number;
  optimizer: { lr: number; momentum: number; weight_decay: number };
  inputs: Stored;
  targets: number[];
  init: Record<string, Stored>;
  steps: { loss: number; logits: number[]; input_grad: number[]; grads: Record<string, number[]> }[];
  final: Record<string, Stored>;
}

/** conv1 → bn1 → relu → conv2 (dilated) → bn2 → relu → mean over H, W → fc, with torch's names. */
class Net extends Module {
  conv1 = this.registerModule('conv1', new Conv2d(3, 4, 3, { padding: 1 }));
  bn1 = this.registerModule('bn1', new BatchNorm2d(4));
  conv2 = this.registerModule('conv2', new Conv2d(4, 6, 3, { padding: 2, dilation: 2, bias: false }));
  bn2 = this.registerModule('bn2', new BatchNorm2d(6, { momentum: null }));
  pool = new AdaptiveAvgPool2d(1);
  fc = this.registerModule('fc', new Linear(6, 3));
  forward(x: Tensor): Tensor {
    const bn1 = [...this.namedChildren()].find(([n]) => n === 'bn1')![1] as BatchNorm2d;
    const bn2 = [...this.namedChildren()].find(([n]) => n === 'bn2')![1] as BatchNorm2d;
    let h = relu(bn1.forward(this.conv1.forward(x)));
    h = relu(bn2.forward(this.conv2.forward(h)));
    return this.fc.forward(flatten(this.pool.forward(h), 1));
  }
}

export function loadFixture(path: string): Fixture {
  return JSON.parse(readFileSync(path, 'utf8')) as Fixture;
}

export interface TorchRunRecord {
  losses: number[];
  logits: number[][];
  inputGrads: number[][];
  grads: Record<string, number[]>[];
  final: Record<string, number[]>;
}

/**
 * Rank body: this rank's shard of every fixture batch (`counts[r]` samples, in rank order; default equal
 * shares), SyncBN over `pg`, DDP, torch's SGD settings.
 */
export function runTorchRank(pg: ProcessGroup, fixturePath: string, counts?: readonly number[]): TorchRunRecord {
  const fx = loadFixture(fixturePath);
  const model = new Net();
  model.loadStateDict(Object.fromEntries(Object.entries(fx.init).map(([k, v]) => [k, Tensor.from(v.data, v.shape)])));
  convertSyncBatchNorm(model, pg);
  const ddp = new DistributedDataParallel(model, { group: pg });
  const opt = new SGD(model.parameters(), {
    lr: fx.optimizer.lr,
    momentum: fx.optimizer.momentum,
    weightDecay: fx.optimizer.weight_decay,
  });
  const b = fx.batch;
  const shares = counts ?? new Array<number>(pg.size).fill(b / pg.size);
  if (shares.length !== pg.size || shares.reduce((a, c) => a + c, 0) !== b)
    throw new Error(`counts ${shares} do not split ${b} over ${pg.size} ranks`);
  const per = shares[pg.rank]!;
  const offset = shares.slice(0, pg.rank).reduce((a, c) => a + c, 0);
  const sample = 3 * fx.size * fx.size;
  const rec: TorchRunRecord = { losses: [], logits: [], inputGrads: [], grads: [], final: {} };
  for (let s = 0; s < fx.steps.length; s++) {
    const lo = s * b + offset;
    const x = Tensor.from(fx.inputs.data.slice(lo * sample, (lo + per) * sample), [
      per,
      3,
      fx.size,
      fx.size,
    ]).requiresGrad_(true);
    const y = fx.targets.slice(lo, lo + per);
    const out = ddp.forward(x).keep();
    // per-rank loss Σ local × world/B: DDP's average is then the gradient of torch's mean loss
    const loss = crossEntropy(out, y, { reduction: 'sum' }).mul(pg.size / b);
    const l = new Float64Array([loss.item() / pg.size]);
    loss.backward();
    pg.allReduceSync(l, 'sum', { tag: 'test.loss' });
    rec.losses.push(l[0]!);
    rec.logits.push(Array.from(out.data));
    rec.inputGrads.push(Array.from(x.grad!.data, (v) => v / pg.size));
    rec.grads.push(Object.fromEntries(model.namedParameters().map(([k, t]) => [k, Array.from(t.grad!.data)])));
    opt.step();
    opt.zeroGrad();
    out.dispose();
  }
  rec.final = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, Array.from(t.data)]));
  ddp.close();
  return rec;
}

/**
 * Float32 training against torch's float64 run of the same float32 initial weights, after 5 SGD-momentum steps:
 * each step's float32 roundings (~6e-8 relative per op, a few hundred ops deep) feed the next, and the
 * momentum buffer carries them on; 1e-5 relative plus an absolute floor of 1e-6 × the tensor's largest entry
 * (entries that pass near zero) holds with margin, while a missing eps or a biased running variance does not.
 */
export const TRAIN_TOL = { rtol: 1e-5, atolOfMax: 1e-6 };

/** Every rank's record against the fixture, per element: the first element out of tolerance fails. */
export function checkAgainstTorch(ranks: TorchRunRecord[], fx: Fixture, label: string): void {
  const largest = (xs: ArrayLike<number>): number => {
    let m = 0;
    for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]!));
    return m;
  };
  const check = (got: ArrayLike<number>, want: ArrayLike<number>, what: string, floor = 0): void => {
    const scale = Math.max(largest(want), floor);
    assertMixed(got, want, { rtol: TRAIN_TOL.rtol, atol: TRAIN_TOL.atolOfMax * scale }, `${label}: ${what}`);
  };
  fx.steps.forEach((st, s) => {
    check(
      ranks.flatMap((r) => r.logits[s]!),
      st.logits,
      `step ${s} logits`,
    );
    check(
      ranks.flatMap((r) => r.inputGrads[s]!),
      st.input_grad,
      `step ${s} input gradient`,
    );
    // A bias right before BN has a gradient that is exactly zero in theory: its float32 value is rounding
    // noise of the size of the other gradients, so every gradient is judged at least at the step's scale.
    const gradScale = Math.max(...Object.values(st.grads).map(largest));
    for (const [ri, r] of ranks.entries()) {
      check([r.losses[s]!], [st.loss], `rank ${ri} step ${s} loss`);
      for (const [k, g] of Object.entries(st.grads))
        check(r.grads[s]![k]!, g, `rank ${ri} step ${s} grad ${k}`, gradScale);
    }
  });
  for (const [ri, r] of ranks.entries()) {
    if (Object.keys(r.final).sort().join() !== Object.keys(fx.final).sort().join())
      throw new Error(`${label}: rank ${ri} state keys`);
    for (const [k, v] of Object.entries(fx.final)) check(r.final[k]!, v.data, `rank ${ri} final ${k}`);
  }
}

/** The fixture file: torch's float64 run of the small CNN on batches of 8 (scripts/gen_syncbn_fixtures.py). */
export const TORCH_FIXTURE = fileURLToPath(new URL('../../../fixtures/syncbn/small_cnn.json', import.meta.url));

/** Train the fixture's run over thread or process ranks holding `counts[r]` samples of each batch. */
export async function torchRun(how: 'threads' | 'processes', counts: number[]): Promise<TorchRunRecord[]> {
  const lib = new URL('./torch-lib.js', import.meta.url).href;
  const spawn = how === 'threads' ? spawnThreads : spawnProcesses;
  const outs = await spawn(
    counts.length,
    async (pg, args) =>
      ((await import(args[0]!)) as typeof import('./torch-lib.js')).runTorchRank(
        pg,
        args[1]!,
        JSON.parse(args[2]!) as number[],
      ),
    [lib, TORCH_FIXTURE, JSON.stringify(counts)],
    { deadlineMs: 120_000, ...(how === 'processes' ? { output: 'capture' as const } : {}) },
  );
  return outs.map((o) => {
    if (!o.ok) throw new Error(`rank ${o.rank}: ${o.error.name}: ${o.error.message}\n${o.error.stack ?? ''}`);
    return o.value;
  });
}
