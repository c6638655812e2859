// The one batch-norm pipeline: the raw-array API and the layer give the same bits; its two seams; its empty-batch rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchNormBackward, batchNormTrain } from '../../src/kernels/batchnorm-arrays.js';
import {
  bnMergeStats,
  type BNBackwardSums,
  type BNExchange,
  type BNLocalFailure,
  type BNShardStats,
} from '../../src/kernels/batchnorm.js';
import { BACKENDS, randn } from './helpers.js';
import { withKernels } from '../helpers/backends.js';
import { UsageError } from '../../src/errors.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { BatchNorm2d } from '../../src/nn/layers/batchnorm.js';
import { ReLU } from '../../src/nn/layers/basic.js';
import { Sequential } from '../../src/nn/layers/sequential.js';

const rnd = (n: number, seed: number): Float32Array => randn(n, seed, 0.5, 2);

for (const K of BACKENDS) {
  test(`${K.name}: the raw-array API and BatchNorm2d run one pipeline: the same bits forward and backward`, () => {
    for (const [n, c, h, w] of [
      [3, 5, 2, 3],
      [1, 1, 7, 1],
      [2, 4, 1, 1],
    ] as const) {
      const x = rnd(n * c * h * w, 1 + n);
      const dy = rnd(x.length, 2 + c);
      const weight = rnd(c, 3);
      const bias = rnd(c, 4);
      const raw = batchNormTrain(x, { shape: [n, c, h, w], weight, bias, kernels: K });
      const rawB = batchNormBackward(dy, x, raw.saved, { shape: [n, c, h, w], weight, kernels: K });
      withKernels(K, () => {
        const bn = new BatchNorm2d(c);
        bn.weight!.data.set(weight);
        bn.bias!.data.set(bias);
        const xt = Tensor.from(x, [n, c, h, w]).requiresGrad_();
        const y = bn.forward(xt);
        y.backward(Tensor.from(dy, [n, c, h, w]));
        assert.deepEqual(y.toFloat32Array(), raw.out, `out [${n}, ${c}, ${h}, ${w}]`);
        assert.deepEqual(xt.grad!.toFloat32Array(), rawB.dx, 'dx');
        assert.deepEqual(bn.weight!.grad!.toFloat32Array(), rawB.dWeight, 'dγ');
        assert.deepEqual(bn.bias!.grad!.toFloat32Array(), rawB.dBias, 'dβ');
      });
    }
  });
}

/** A BNExchange that records what it is offered and answers as if every worker had the same shard twice. */
function recordingExchange(): BNExchange & { offered: (BNShardStats | BNLocalFailure)[]; reduced: BNBackwardSums[] } {
  const offered: (BNShardStats | BNLocalFailure)[] = [];
  const reduced: BNBackwardSums[] = [];
  return {
    offered,
    reduced,
    mergeStats(local, eps, k) {
      offered.push(local);
      if ('failed' in local) throw local.failed;
      return bnMergeStats([local, local], local.mean.length, eps, k);
    },
    reduceSums(sums) {
      reduced.push({ sumDy: Float64Array.from(sums.sumDy), sumDyXmu: Float64Array.from(sums.sumDyXmu) });
      for (const a of [sums.sumDy, sums.sumDyXmu]) for (let i = 0; i < a.length; i++) a[i]! *= 2;
    },
  };
}

test('the seams: the exchange is offered the local shard forward and the local sums backward, once each', () => {
  const x = rnd(12, 9);
  const ex = recordingExchange();
  const r = batchNormTrain(x, { shape: [4, 3], exchange: ex });
  assert.equal(ex.offered.length, 1);
  assert.equal((ex.offered[0] as BNShardStats).count, 4);
  assert.equal(r.count, 8); // two copies of the shard
  const b = batchNormBackward(rnd(12, 10), x, r.saved, { shape: [4, 3], exchange: ex });
  assert.equal(ex.reduced.length, 1);
  assert.deepEqual([...b.dBias], [...ex.reduced[0]!.sumDy].map(Math.fround), 'dβ stays local (DDP averages it)');
});

test('a validation error before the statistics is offered at the forward seam, then thrown', () => {
  const ex = recordingExchange();
  assert.throws(() => batchNormTrain(rnd(6, 1), { shape: [2, 3], eps: -1, exchange: ex }), UsageError);
  assert.equal(ex.offered.length, 1);
  assert.ok('failed' in ex.offered[0]! && ex.offered[0].failed instanceof UsageError);
});

test('an empty global batch: dγ is 0 (an empty sum), not 0·NaN, on the raw-array path as on the layer', () => {
  const r = batchNormTrain(new Float32Array(0), { shape: [0, 3] });
  assert.equal(r.count, 0);
  const b = batchNormBackward(new Float32Array(0), new Float32Array(0), r.saved, { shape: [0, 3], weight: rnd(3, 2) });
  assert.deepEqual([...b.dWeight], [0, 0, 0]);
  assert.deepEqual([...b.dBias], [0, 0, 0]);
});

test('fused BN + ReLU is a per-call option: the same numbers as BN then ReLU, and the layer is not changed', () => {
  const bn = new BatchNorm2d(3);
  const x = Tensor.from(rnd(2 * 3 * 2 * 2, 5), [2, 3, 2, 2]);
  const fused = bn.forward(x, { fuseRelu: true });
  const plain = new ReLU().forward(bn.forward(x));
  assert.deepEqual(fused.toFloat32Array(), plain.toFloat32Array());
  assert.equal(bn.fuseRelu, false);
  const seq = new Sequential(bn, new ReLU());
  assert.deepEqual(seq.forward(x).toFloat32Array(), plain.toFloat32Array());
  assert.ok(Object.isFrozen(Object.freeze(bn)) && seq.forward(x).size === x.size, 'a frozen layer still fuses');
});
