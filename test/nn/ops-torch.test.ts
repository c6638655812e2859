// Every op's forward and gradients against PyTorch (fixtures/stack/ops.json, float64 math on float32 inputs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import {
  conv2d,
  linear,
  maxPool2d,
  avgPool2d,
  adaptiveAvgPool2d,
  upsampleBilinear,
  concat,
  crossEntropy,
  type Pool2dOptions,
} from '../../src/nn/functional/index.js';
import { BatchNorm1d, BatchNorm2d, BatchNorm3d, type BatchNorm } from '../../src/index.js';
import { add, relu, flatten } from '../../src/autograd/ops.js';
import { noGrad } from '../../src/autograd/node.js';
import { builtBackends, withKernels } from '../helpers/backends.js';
import { assertClose, fixture } from '../helpers/close.js';

interface T {
  shape: number[];
  data: number[];
}
interface OpCase {
  name: string;
  inputs: Record<string, T>;
  out: T;
  dy: number[];
  grads: Record<string, number[]>;
  [k: string]: unknown;
}
interface BnCase {
  layer: string;
  options: { momentum?: number | null; eps?: number; affine?: boolean; track_running_stats?: boolean };
  training: boolean;
  init: Record<string, number[]>;
  x: T;
  out: number[];
  dy: number[];
  dx: number[];
  dweight: number[] | null;
  dbias: number[] | null;
  after1: Record<string, number[]>;
  x2: number[];
  after2: Record<string, number[]>;
}
const fx = fixture<{ ops: OpCase[]; bn: BnCase[]; loss: OpCase[] }>('stack/ops.json');

type Pair = [number, number];
function run(c: OpCase, t: Record<string, Tensor>): Tensor {
  const p = c as unknown as {
    stride: Pair;
    padding: Pair;
    dilation: Pair;
    groups: number;
    kernelSize: Pair;
    outputSize: Pair;
    size: Pair;
    dim: number;
    target: number[];
    reduction: 'mean' | 'sum' | 'none';
    ignoreIndex: number;
  };
  const pool: Pool2dOptions = { stride: p.stride, padding: p.padding };
  switch (c.name) {
    case 'conv2d':
      return conv2d(t.x!, t.weight!, t.bias ?? null, {
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        groups: p.groups,
      });
    case 'linear':
      return linear(t.x!, t.weight!, t.bias ?? null);
    case 'maxPool2d':
      return maxPool2d(t.x!, p.kernelSize, pool);
    case 'avgPool2d':
      return avgPool2d(t.x!, p.kernelSize, pool);
    case 'adaptiveAvgPool2d':
      return adaptiveAvgPool2d(t.x!, p.outputSize);
    case 'upsampleBilinear':
      return upsampleBilinear(t.x!, { size: p.size });
    case 'relu':
      return relu(t.x!);
    case 'add':
      return add(t.a!, t.b!);
    case 'concat':
      return concat(
        Object.keys(c.inputs).map((k) => t[k]!),
        p.dim,
      );
    case 'flattenLinear':
      return linear(flatten(t.x!, 1), t.weight!);
    case 'crossEntropy':
      return crossEntropy(t.x!, p.target, { reduction: p.reduction, ignoreIndex: p.ignoreIndex });
    default:
      throw new Error(`no runner for ${c.name}`);
  }
}

function checkCase(c: OpCase, label: string, rtol: number): void {
  const t: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(c.inputs)) t[k] = Tensor.from(v.data, v.shape).requiresGrad_();
  const y = run(c, t);
  assert.deepEqual([...y.shape], c.out.shape, `${label}: output shape`);
  assertClose(y.data, c.out.data, rtol, `${label}: forward`);
  y.backward(Tensor.from(c.dy, c.out.shape));
  for (const [k, g] of Object.entries(c.grads)) assertClose(t[k]!.grad!.data, g, rtol, `${label}: d${k}`);
  y.dispose();
  for (const v of Object.values(t)) v.dispose();
}

for (const k of builtBackends()) {
  test(`ops match PyTorch forward and gradients (${k.name} kernels)`, () =>
    withKernels(k, () => {
      const seen = new Set<string>();
      fx.ops.forEach((c, i) => {
        checkCase(c, `${c.name}#${i}`, 2e-5);
        seen.add(c.name);
      });
      assert.deepEqual([...seen].sort(), [
        'adaptiveAvgPool2d',
        'add',
        'avgPool2d',
        'concat',
        'conv2d',
        'flattenLinear',
        'linear',
        'maxPool2d',
        'relu',
        'upsampleBilinear',
      ]);
    }));

  test(
    `cross-entropy (class and per-pixel targets, ignore index, reductions) matches PyTorch (${k.name} ` + `kernels)`,
    () =>
      withKernels(k, () => {
        fx.loss.forEach((c, i) => checkCase(c, `crossEntropy#${i} (${String(c.reduction)})`, 1e-5));
      }),
  );

  test(`BatchNorm1d/2d/3d layers match PyTorch: output, gradients, running stats (${k.name} kernels)`, () =>
    withKernels(k, () => {
      fx.bn.forEach((c, i) => {
        const label = `${c.layer}#${i} (${c.training ? 'train' : 'eval'})`;
        const C = c.x.shape[1]!;
        const o = c.options;
        const opts = { momentum: o.momentum, eps: o.eps, affine: o.affine, trackRunningStats: o.track_running_stats };
        const m: BatchNorm =
          c.layer === 'BatchNorm1d'
            ? new BatchNorm1d(C, opts)
            : c.layer === 'BatchNorm2d'
              ? new BatchNorm2d(C, opts)
              : new BatchNorm3d(C, opts);
        m.loadStateDict(Object.fromEntries(Object.entries(c.init).map(([n, v]) => [n, Tensor.from(v, [v.length])])));
        m.train(c.training);
        const x = Tensor.from(c.x.data, c.x.shape).requiresGrad_();
        const y = m.forward(x);
        assertClose(y.data, c.out, 1e-5, `${label}: forward`);
        y.backward(Tensor.from(c.dy, c.x.shape));
        assertClose(x.grad!.data, c.dx, 1e-5, `${label}: dx`);
        if (c.dweight !== null) assertClose(m.weight!.grad!.data, c.dweight, 1e-5, `${label}: dweight`);
        if (c.dbias !== null) assertClose(m.bias!.grad!.data, c.dbias, 1e-5, `${label}: dbias`);
        const sd = m.stateDict();
        for (const [n, v] of Object.entries(c.after1)) assertClose(sd[n]!.data, v, 1e-6, `${label}: ${n} after step 1`);
        const y2 = noGrad(() => m.forward(Tensor.from(c.x2, c.x.shape)));
        for (const [n, v] of Object.entries(c.after2)) assertClose(sd[n]!.data, v, 1e-6, `${label}: ${n} after step 2`);
        y2.dispose();
        y.dispose();
      });
    }));
}
