// SGD and AdamW trajectories and the poly/cosine schedules against PyTorch (fixtures/stack/optim.json); option errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, SGD, AdamW, PolyLR, CosineAnnealingLR, type Optimizer } from '../../src/index.js';
import { assertClose, fixture } from '../helpers/close.js';

interface OptCase {
  optimizer: 'SGD' | 'AdamW';
  options: {
    lr: number;
    momentum?: number;
    dampening?: number;
    weight_decay?: number;
    nesterov?: boolean;
    betas?: [number, number];
    eps?: number;
    amsgrad?: boolean;
  };
  p0: number[];
  grads: number[][];
  after: number[][];
}
const fx = fixture<{ optim: OptCase[]; schedules: { schedule: string; lrs: number[] }[] }>('stack/optim.json');

test('SGD (momentum, dampening, nesterov, weight decay) and AdamW (incl. amsgrad) follow PyTorch for 3 steps', () => {
  assert.equal(fx.optim.length, 6);
  for (const c of fx.optim) {
    const p = Tensor.from(c.p0).requiresGrad_();
    const o = c.options;
    const opt: Optimizer<object> =
      c.optimizer === 'SGD'
        ? new SGD([p], {
            lr: o.lr,
            momentum: o.momentum,
            dampening: o.dampening,
            weightDecay: o.weight_decay,
            nesterov: o.nesterov,
          })
        : new AdamW([p], { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay, amsgrad: o.amsgrad });
    c.grads.forEach((g, s) => {
      p.grad = Tensor.from(g);
      opt.step();
      assertClose(p.data, c.after[s]!, 1e-6, `${c.optimizer} ${JSON.stringify(o)} step ${s + 1}`);
    });
  }
});

test('parameters without a gradient are left alone; zeroGrad drops gradients', () => {
  const a = Tensor.from([1, 2]).requiresGrad_();
  const b = Tensor.from([3]).requiresGrad_();
  const opt = new SGD([a, b], { lr: 1, momentum: 0.5 });
  a.grad = Tensor.from([1, 1]);
  opt.step();
  assert.deepEqual(a.toArray(), [0, 1]);
  assert.deepEqual(b.toArray(), [3]);
  opt.zeroGrad();
  assert.equal(a.grad, null);
});

test('parameter groups carry their own lr and options', () => {
  const a = Tensor.from([1]).requiresGrad_();
  const b = Tensor.from([1]).requiresGrad_();
  const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5, weightDecay: 1 }], { lr: 0.1 });
  a.grad = Tensor.from([1]);
  b.grad = Tensor.from([1]);
  opt.step();
  assert.ok(Math.abs(a.item() - 0.9) < 1e-7);
  assert.ok(Math.abs(b.item() - 0) < 1e-7);
});

test('LR schedules: poly and cosine match PyTorch PolynomialLR and CosineAnnealingLR', () => {
  for (const c of fx.schedules) {
    const opt = new SGD([Tensor.zeros([1]).requiresGrad_()], { lr: 0.5 });
    const s =
      c.schedule === 'PolyLR'
        ? new PolyLR(opt, { totalSteps: 6, power: 0.9 })
        : new CosineAnnealingLR(opt, { tMax: 6, etaMin: 0.01 });
    const lrs = [opt.paramGroups[0]!.lr];
    for (let i = 0; i < 8; i++) {
      s.step();
      lrs.push(s.getLastLr()[0]!);
    }
    assertClose(lrs, c.lrs, 1e-9, c.schedule);
  }
});

test('optimizer options are validated eagerly with messages naming the value', () => {
  const p = Tensor.zeros([1]).requiresGrad_();
  assert.throws(() => new SGD([p], { lr: -1 }), {
    name: 'UsageError',
    message: 'SGD: lr must be a finite number ≥ 0, received -1',
  });
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), {
    name: 'UsageError',
    message: 'SGD: nesterov needs momentum > 0 and dampening 0',
  });
  assert.throws(() => new SGD([], { lr: 0.1 }), {
    name: 'UsageError',
    message: /^SGD: params must be a non-empty array/,
  });
  assert.throws(() => new SGD([p, p.mul(2)], { lr: 0.1 }), {
    name: 'UsageError',
    message: 'SGD: can only optimize leaf tensors (parameters), received one computed by MulScalarBackward',
  });
  assert.throws(() => new AdamW([p], { betas: [0.9, 1] }), {
    name: 'UsageError',
    message: 'AdamW: betas must be in [0, 1), received [0.9, 1]',
  });
  const opt = new SGD([p], { lr: 0.1 });
  assert.throws(() => new PolyLR(opt, { totalSteps: 0 }), {
    name: 'UsageError',
    message: 'PolyLR: totalSteps must be a positive integer, received 0',
  });
  assert.throws(() => new CosineAnnealingLR(opt, { tMax: -1 }), {
    name: 'UsageError',
    message: 'CosineAnnealingLR: tMax must be a positive number, received -1',
  });
});

test('optimizer stateDict/loadStateDict resume training exactly (SGD momentum, AdamW moments and step)', () => {
  for (const make of [
    (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 }),
    (ps: Tensor[]) => new AdamW(ps, { lr: 0.01 }),
  ]) {
    const grads = [
      [1, -2, 3],
      [0.5, 0.5, -1],
      [2, 1, 0],
      [-1, -1, -1],
    ];
    const a = Tensor.from([1, 2, 3]).requiresGrad_();
    const oa = make([a]);
    const b = Tensor.from([1, 2, 3]).requiresGrad_();
    const ob = make([b]);
    for (const g of grads.slice(0, 2)) {
      a.grad = Tensor.from(g);
      oa.step();
      b.grad = Tensor.from(g);
      ob.step();
    }
    const sd = oa.stateDict();
    assert.ok(Object.keys(sd).length >= 1 && Object.keys(sd).every((k) => k.startsWith('state.0.')));
    const ob2 = make([b]);
    ob2.loadStateDict(sd);
    for (const g of grads.slice(2)) {
      a.grad = Tensor.from(g);
      oa.step();
      b.grad = Tensor.from(g);
      ob2.step();
    }
    assert.deepEqual(b.toArray(), a.toArray());
    assert.throws(() => ob2.loadStateDict({ 'state.3.exp_avg': Tensor.zeros([3]) }), {
      name: 'UsageError',
      message: 'optimizer loadStateDict: state.3.exp_avg names parameter 3 but the optimizer has 1',
    });
    assert.throws(() => ob2.loadStateDict({ 'state.0.exp_avg': Tensor.zeros([2]) }), {
      name: 'ShapeError',
      message: 'optimizer loadStateDict: state.0.exp_avg has shape [2] but its parameter has shape [3]',
    });
  }
});
