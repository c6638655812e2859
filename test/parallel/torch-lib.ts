// The fixture model of scripts/gen_syncbn_fixtures.py, trained as one rank of a SyncBN + DDP run (loaded in each thread rank).
import { readFileSync } from 'node:fs';
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

/** Rank body: this rank's quarter of every fixture batch, SyncBN over `pg`, DDP, torch's SGD settings. */
export function runTorchRank(pg: ProcessGroup, fixturePath: string): TorchRunRecord {
  const fx = loadFixture(fixturePath);
  const model = new Net();
  model.loadStateDict(Object.fromEntries(Object.entries(fx.init).map(([k, v]) => [k, Tensor.from(v.data, v.shape)])));
  convertSyncBatchNorm(model, pg);
  const ddp = new DistributedDataParallel(model, { group: pg });
  const opt = new SGD(model.parameters(), { lr: fx.optimizer.lr, momentum: fx.optimizer.momentum, weightDecay: fx.optimizer.weight_decay });
  const b = fx.batch;
  const per = b / pg.size;
  const sample = 3 * fx.size * fx.size;
  const rec: TorchRunRecord = { losses: [], logits: [], inputGrads: [], grads: [], final: {} };
  for (let s = 0; s < fx.steps.length; s++) {
    const lo = s * b + pg.rank * per;
    const x = Tensor.from(fx.inputs.data.slice(lo * sample, (lo + per) * sample), [per, 3, fx.size, fx.size]).requiresGrad_(true);
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
