// SyncBN math on one thread: each rank's forward/backward, with the other ranks' contributions given, equals the
// whole-batch BatchNorm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bnBackwardReduce, bnGeom, bnLocalStats } from '../../src/kernels/batchnorm.js';
import { batchNormBackward, batchNormTrain } from '../../src/kernels/batchnorm-arrays.js';
import { referenceKernels, setKernels, wasmKernels } from '../../src/kernels/index.js';
import { syncBatchNormBackward, syncBatchNormTrain } from '../../src/parallel/exchange.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { ValueError, CommError } from '../../src/errors.js';
import { fakeGroup } from './fake-group.js';
import { loadFixtures } from '../helpers/bn-fixtures.js';
import { F32_BWD, F32_FWD, assertMixed } from '../helpers/close.js';

/** The whole batch's numbers, when they come from PyTorch rather than from our own kernels. */
interface Given {
  x: Float32Array;
  dy: Float32Array;
  weight: Float32Array | null;
  bias: Float32Array | null;
  runningMean0: Float32Array;
  runningVar0: Float32Array;
  eps: number;
  numBatchesTracked: number;
  ref: {
    out: ArrayLike<number>;
    dx: ArrayLike<number>;
    runningMean: ArrayLike<number>;
    runningVar: ArrayLike<number>;
    dWeight: ArrayLike<number> | null;
    dBias: ArrayLike<number> | null;
  };
}

interface Case {
  name: string;
  /** PyTorch's inputs and results for the whole batch (else random inputs and our one-worker BatchNorm) */
  given?: Given;
  /** per-sample shape (without N), as stored */
  sample: number[];
  channelsLast: boolean;
  counts: number[];
  affine?: boolean;
  momentum?: number | null;
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
}

function runCase(c: Case): void {
  if (c.given !== undefined) return runGiven(c, c.given);
  const rng = new RandomGenerator(11);
  const per = c.sample.reduce((a, b) => a * b, 1);
  const ch = c.channelsLast ? c.sample[c.sample.length - 1]! : c.sample[0]!;
  const n = c.counts.reduce((a, b) => a + b, 0);
  const shape = [n, ...c.sample];
  const x = Float32Array.from({ length: n * per }, () => 3 + 2 * rng.normal());
  const dy = Float32Array.from({ length: n * per }, () => rng.normal());
  const weight = c.affine === false ? null : Float32Array.from({ length: ch }, () => 0.5 + rng.float());
  const bias = c.affine === false ? null : Float32Array.from({ length: ch }, () => rng.float() - 0.5);
  const momentum = c.momentum === undefined ? 0.1 : c.momentum;
  const running = (): { runningMean: Float32Array; runningVar: Float32Array } => ({
    runningMean: new Float32Array(ch).fill(0.2),
    runningVar: new Float32Array(ch).fill(1.5),
  });
  const common = { channelsLast: c.channelsLast, weight, bias, momentum, numBatchesTracked: 2 };
  const refRun = running();
  const ref = batchNormTrain(x, { shape, ...common, ...refRun });
  const refB = batchNormBackward(dy, x, ref.saved, { shape, channelsLast: c.channelsLast, weight });
  const starts = c.counts.map((_, r) => c.counts.slice(0, r).reduce((a, b) => a + b, 0));
  const slice = (a: Float32Array, r: number): Float32Array =>
    a.subarray(starts[r]! * per, (starts[r]! + c.counts[r]!) * per);
  const dW = new Float64Array(ch);
  const dB = new Float64Array(ch);
  for (let r = 0; r < c.counts.length; r++) {
    const shapeOf = (q: number): number[] => [c.counts[q]!, ...c.sample];
    const others = c.counts.flatMap((_, q) => {
      if (q === r) return [];
      const s = bnLocalStats(slice(x, q), bnGeom(shapeOf(q), c.channelsLast, c.counts[q]! * per));
      return [Float64Array.from([s.count, ...s.mean, ...s.m2])];
    });
    const g = fakeGroup(r, others);
    const run = running();
    const res = syncBatchNormTrain(slice(x, r), { shape: shapeOf(r), ...common, ...run }, { group: g, tag: 'bn' });
    assert.ok(maxRel(res.out, slice(ref.out, r)) <= 1e-6, `${c.name}: rank ${r} output`);
    assert.ok(maxRel(run.runningMean, refRun.runningMean) <= 1e-6, `${c.name}: rank ${r} running mean`);
    assert.ok(
      maxRel(run.runningVar, refRun.runningVar) <= 1e-6,
      `${c.name}: rank ${r} running var (unbiased, global count)`,
    );
    const othersB = c.counts.flatMap((_, q) => {
      if (q === r) return [];
      const s = bnBackwardReduce(
        slice(dy, q),
        slice(x, q),
        res.saved.mean,
        bnGeom(shapeOf(q), c.channelsLast, c.counts[q]! * per),
      );
      return [Float64Array.from([...s.sumDy, ...s.sumDyXmu])];
    });
    const gb = fakeGroup(r, othersB);
    const b = syncBatchNormBackward(
      slice(dy, r),
      slice(x, r),
      res.saved,
      { shape: shapeOf(r), channelsLast: c.channelsLast, weight },
      { group: gb, tag: 'bn' },
    );
    assert.deepEqual(
      gb.calls.map((k) => [k.kind, k.length]),
      [['allReduce', 2 * ch]],
      'one all-reduce of 2C in backward',
    );
    assert.ok(maxRel(b.dx, slice(refB.dx, r)) <= 1e-5, `${c.name}: rank ${r} dx`);
    for (let j = 0; j < ch; j++) {
      dW[j] += b.dWeight[j]!;
      dB[j] += b.dBias[j]!;
    }
  }
  // dγ, dβ are local per rank: their sum over ranks (what DDP's all-reduce forms) is the whole batch's
  assert.ok(maxRel(dW, refB.dWeight) <= 1e-5, `${c.name}: Σ dγ`);
  assert.ok(maxRel(dB, refB.dBias) <= 1e-5, `${c.name}: Σ dβ`);
}

/** rank r's SyncBN steps on its shard of PyTorch's batch, the other ranks' contributions given: PyTorch's numbers. */
function runGiven(c: Case, t: Given): void {
  const per = c.sample.reduce((a, b) => a * b, 1);
  const ch = c.channelsLast ? c.sample[c.sample.length - 1]! : c.sample[0]!;
  const starts = c.counts.map((_, r) => c.counts.slice(0, r).reduce((a, b) => a + b, 0));
  const slice = (a: Float32Array, r: number): Float32Array =>
    a.subarray(starts[r]! * per, (starts[r]! + c.counts[r]!) * per);
  const sliceOf = (a: ArrayLike<number>, r: number): number[] =>
    Array.from(a).slice(starts[r]! * per, (starts[r]! + c.counts[r]!) * per);
  const shapeOf = (q: number): number[] => [c.counts[q]!, ...c.sample];
  const geomOf = (q: number) => bnGeom(shapeOf(q), c.channelsLast, c.counts[q]! * per);
  const momentum = c.momentum === undefined ? 0.1 : c.momentum;
  const common = {
    channelsLast: c.channelsLast,
    weight: t.weight,
    bias: t.bias,
    momentum,
    eps: t.eps,
    numBatchesTracked: t.numBatchesTracked,
  };
  const dW = new Float64Array(ch);
  const dB = new Float64Array(ch);
  // float32 data against PyTorch's float32 results: per-element atol + rtol·|ref| (see test/helpers/close.ts)
  for (let r = 0; r < c.counts.length; r++) {
    const others = c.counts.flatMap((_, q) => {
      if (q === r) return [];
      const s = bnLocalStats(slice(t.x, q), geomOf(q));
      return [Float64Array.from([s.count, ...s.mean, ...s.m2])];
    });
    const run = { runningMean: Float32Array.from(t.runningMean0), runningVar: Float32Array.from(t.runningVar0) };
    const res = syncBatchNormTrain(
      slice(t.x, r),
      { shape: shapeOf(r), ...common, ...run },
      { group: fakeGroup(r, others), tag: 'bn' },
    );
    assertMixed(res.out, sliceOf(t.ref.out, r), F32_FWD, `${c.name}: rank ${r} output`);
    assertMixed(run.runningMean, t.ref.runningMean, F32_FWD, `${c.name}: rank ${r} running mean`);
    assertMixed(run.runningVar, t.ref.runningVar, F32_FWD, `${c.name}: rank ${r} running var`);
    const othersB = c.counts.flatMap((_, q) => {
      if (q === r) return [];
      const s = bnBackwardReduce(slice(t.dy, q), slice(t.x, q), res.saved.mean, geomOf(q));
      return [Float64Array.from([...s.sumDy, ...s.sumDyXmu])];
    });
    const b = syncBatchNormBackward(
      slice(t.dy, r),
      slice(t.x, r),
      res.saved,
      { shape: shapeOf(r), channelsLast: c.channelsLast, weight: t.weight },
      { group: fakeGroup(r, othersB), tag: 'bn' },
    );
    assertMixed(b.dx, sliceOf(t.ref.dx, r), F32_BWD, `${c.name}: rank ${r} dx`);
    for (let j = 0; j < ch && t.weight !== null; j++) {
      dW[j] += b.dWeight[j]!;
      dB[j] += b.dBias[j]!;
    }
  }
  if (t.ref.dWeight !== null) assertMixed(dW, t.ref.dWeight, F32_BWD, `${c.name}: Σ dγ`);
  if (t.ref.dBias !== null) assertMixed(dB, t.ref.dBias, F32_BWD, `${c.name}: Σ dβ`);
}

/**
 * PyTorch fixture cases (no fused ReLU: SyncBN's exchange functions have none) split into unequal shards, one empty.
 */
function torchCases(): Case[] {
  const f32 = (a: number[] | null): Float32Array | null => (a === null ? null : Float32Array.from(a));
  return loadFixtures()
    .filter((f) => !f.relu && f.shape[0]! >= 3)
    .map((f, i) => {
      const n = f.shape[0]!;
      const counts = [1, 0, n - 1 - (n > 3 ? 1 : 0), ...(n > 3 ? [1] : [])];
      return {
        name: `PyTorch ${f.file} #${i} shape [${f.shape}] shards [${counts}]`,
        sample: f.shape.slice(1),
        channelsLast: f.channelsLast,
        counts,
        momentum: f.momentum,
        given: {
          x: Float32Array.from(f.x),
          dy: Float32Array.from(f.dy),
          weight: f32(f.weight),
          bias: f32(f.bias),
          runningMean0: Float32Array.from(f.runningMean0),
          runningVar0: Float32Array.from(f.runningVar0),
          eps: f.eps,
          numBatchesTracked: f.numBatchesTracked,
          ref: {
            out: f.y,
            dx: f.dx,
            runningMean: f.runningMean,
            runningVar: f.runningVar,
            dWeight: f.dWeight,
            dBias: f.dBias,
          },
        },
      };
    });
}

const cases: Case[] = [
  { name: 'NCHW, 2 equal ranks', sample: [3, 4, 5], channelsLast: false, counts: [2, 2] },
  { name: 'unequal shards r+1', sample: [3, 4, 5], channelsLast: false, counts: [1, 2, 3, 4] },
  { name: 'an empty shard', sample: [2, 3, 3], channelsLast: false, counts: [2, 0, 3] },
  { name: 'channels-last NHWC', sample: [4, 5, 3], channelsLast: true, counts: [1, 3, 2] },
  { name: 'rank-2 (N, C), one sample per rank', sample: [5], channelsLast: false, counts: [1, 1, 1, 1, 1, 1, 1, 1] },
  { name: 'rank-5 (N, C, D, H, W)', sample: [2, 3, 2, 3], channelsLast: false, counts: [2, 1] },
  { name: 'rank-5 channels-last', sample: [3, 2, 2, 2], channelsLast: true, counts: [1, 2] },
  { name: 'affine off', sample: [3, 7], channelsLast: false, counts: [3, 2], affine: false },
  { name: 'momentum null (cumulative average)', sample: [3, 7], channelsLast: false, counts: [2, 3], momentum: null },
  ...torchCases(),
];

test('the PyTorch cases have unequal shards with an empty one', () => {
  const t = cases.filter((c) => c.given !== undefined);
  assert.ok(t.length >= 4, `${t.length} PyTorch cases`);
  for (const c of t) assert.ok(c.counts.includes(0) && new Set(c.counts.filter((k) => k > 0)).size >= 1, c.name);
});

for (const backend of [referenceKernels, wasmKernels]) {
  test(
    `${backend.name} kernels: rank r's SyncBN forward/backward equals the whole batch's BatchNorm ` +
      `(${cases.length} cases)`,
    () => {
      const prev = setKernels(backend);
      try {
        for (const c of cases) runCase(c);
      } finally {
        setKernels(prev);
      }
    },
  );
}

test.beforeEach(() => {
  setKernels(referenceKernels);
});

test(
  'one value per channel: local count 1 trains when the global count is larger; global count 1 fails on every ' +
    'rank',
  () => {
    const x = Float32Array.of(1, 2);
    const other = Float64Array.of(1, 5, 7, 0, 0);
    const out = syncBatchNormTrain(x, { shape: [1, 2] }, { group: fakeGroup(0, [other]), tag: 'fc.bn' });
    // channel 0 sees {1, 5} (mean 3, var 4), channel 1 sees {2, 7} (mean 4.5, var 6.25)
    assert.equal(out.count, 2);
    assert.ok(Math.abs(out.out[0]! - -2 / Math.sqrt(4 + 1e-5)) < 1e-6);
    assert.ok(Math.abs(out.out[1]! - -2.5 / Math.sqrt(6.25 + 1e-5)) < 1e-6);
    assert.throws(
      () =>
        syncBatchNormTrain(
          x,
          { shape: [1, 2] },
          { group: fakeGroup(0, [Float64Array.of(0, 0, 0, 0, 0)]), tag: 'fc.bn' },
        ),
      (e: unknown) =>
        e instanceof ValueError &&
        /^SyncBatchNorm 'fc\.bn': Expected more than 1 value per channel when training, got a global count of 1/.test(
          e.message,
        ),
    );
  },
);

test(
  'a rank whose input is bad joins with a failure marker (its own error rethrown); the others fail naming ' + 'it',
  () => {
    const g = fakeGroup(1, [Float64Array.of(2, 0, 0, 1, 1)]);
    assert.throws(
      () =>
        syncBatchNormTrain(
          Float32Array.of(1, NaN, 3, 4),
          { shape: [2, 2], checkFinite: true },
          { group: g, tag: 'layer3.bn' },
        ),
      (e: unknown) => e instanceof ValueError && /input must be finite/.test(e.message),
    );
    assert.deepEqual(g.calls, [{ kind: 'allGather', tag: 'layer3.bn', length: 1 }]);
    const peer = fakeGroup(0, [Float64Array.of(-1)]);
    assert.throws(
      () => syncBatchNormTrain(Float32Array.of(1, 2, 3, 4), { shape: [2, 2] }, { group: peer, tag: 'layer3.bn' }),
      (e: unknown) =>
        e instanceof CommError &&
        /^SyncBatchNorm 'layer3\.bn' forward on rank 0: rank 1 failed inside this layer's forward/.test(e.message),
    );
  },
);
