// Finite differences in float64 (twins in test/helpers/f64.ts) check the gradients of a composite net using every op.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { add, relu } from '../../src/autograd/ops.js';
import { crossEntropy } from '../../src/index.js';
import {
  adaptiveAvgPool2d,
  avgPool2d,
  batchNorm,
  concat,
  conv2d,
  flatten,
  linear,
  maxPool2d,
  upsampleBilinear,
} from '../../src/nn/functional/index.js';
import * as F from '../helpers/f64.js';
import { builtBackends, withKernels } from '../helpers/backends.js';

const g = new RandomGenerator(21);
const shapes: Record<string, number[]> = {
  x: [2, 3, 7, 7],
  w1: [4, 3, 3, 3],
  gamma: [4],
  beta: [4],
  w2: [4, 2, 3, 3],
  w3: [5, 8, 1, 1],
  b3: [5],
  wfc: [3, 8],
  bfc: [3],
};
const init: Record<string, Float32Array> = {};
for (const [k, s] of Object.entries(shapes)) {
  init[k] = Tensor.randn(s, {
    generator: g,
    std: k === 'gamma' ? 0.3 : 0.7,
    mean: k === 'gamma' ? 1 : 0,
  }).toFloat32Array();
}
const pix = Int32Array.from({ length: 18 }, (_, i) => (i % 7 === 3 ? 255 : (i * 3) % 5));
const cls = [2, 0];

/**
 * BN's eps, large on purpose: with the default 1e-5 against batch variances near 1, a missing or misplaced eps
 * moves the loss by ~5e-6 relative, inside the 1e-5 check; at 0.1 it moves it by a few percent.
 */
const EPS = 0.1;

/**
 * The composite: conv → BN → ReLU → grouped dilated conv → maxpool → upsample → concat → avgpool → 1×1 conv →
 * CE(pixels) + CE(linear(GAP)).
 */
function ours(p: Record<string, Tensor>): Tensor {
  const h = relu(batchNorm(conv2d(p.x!, p.w1!, null, { padding: 1 }), p.gamma!, p.beta!, { training: true, eps: EPS }));
  const d = conv2d(h, p.w2!, null, { padding: 2, dilation: 2, groups: 2 });
  const u = upsampleBilinear(maxPool2d(d, 3, { stride: 2, padding: 1 }), { size: [7, 7] });
  const a = avgPool2d(concat([u, h], 1), 2);
  const lp = crossEntropy(conv2d(a, p.w3!, p.b3), pix, { ignoreIndex: 255 });
  const lc = crossEntropy(linear(flatten(adaptiveAvgPool2d(a, 1), 1), p.wfc!, p.bfc), cls);
  return add(lp, lc);
}

function f64(p: Record<string, F.A>): number {
  const h = F.relu(F.batchNorm(F.conv2d(p.x!, p.w1!, null, 1, 1, 1, 1), p.gamma!, p.beta!, EPS));
  const d = F.conv2d(h, p.w2!, null, 1, 2, 2, 2);
  const u = F.upsample(F.pool(d, 3, 2, 1, 'max'), 7, 7);
  const a = F.pool(F.concat1(u, h), 2, 2, 0, 'avg');
  const lp = F.crossEntropy(F.conv2d(a, p.w3!, p.b3!, 1, 0, 1, 1), pix, 255);
  const lc = F.crossEntropy(F.linear(F.globalAvg(a), p.wfc!, p.bfc!), cls, -100);
  return lp + lc;
}

for (const k of builtBackends()) {
  test(`gradients of a composite of every op agree with float64 central differences (${k.name} kernels)`, () =>
    withKernels(k, () => {
      const p: Record<string, Tensor> = {};
      for (const [n, s] of Object.entries(shapes)) p[n] = Tensor.from(init[n]!, s).requiresGrad_();
      const loss = ours(p);
      const q: Record<string, F.A> = {};
      for (const [n, s] of Object.entries(shapes)) q[n] = { d: Float64Array.from(init[n]!), s };
      const ref = f64(q);
      assert.ok(Math.abs(loss.item() - ref) <= 1e-5 * Math.abs(ref), `loss ${loss.item()} vs float64 ${ref}`);
      loss.backward();
      const h = 1e-6;
      const pick = new RandomGenerator(5);
      for (const [n, t] of Object.entries(q)) {
        const grad = p[n]!.grad!.data;
        let scale = 0;
        for (const v of grad) scale = Math.max(scale, Math.abs(v));
        assert.ok(scale > 0, `${n}: zero gradient`);
        for (let r = 0; r < Math.min(10, t.d.length); r++) {
          const i = Math.floor(pick.random() * t.d.length);
          const v = t.d[i]!;
          t.d[i] = v + h;
          const up = f64(q);
          t.d[i] = v - h;
          const down = f64(q);
          t.d[i] = v;
          const fd = (up - down) / (2 * h);
          assert.ok(
            Math.abs(grad[i]! - fd) <= 1e-5 * scale,
            `d${n}[${i}]: autograd ${grad[i]} vs finite difference ${fd} (scale ${scale})`,
          );
        }
      }
    }));
}
