// Every validation message of the batch-norm functions: typed error, the argument named, expected and received.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bnGeom, checkTrainingCount } from '../../src/kernels/batchnorm.js';
import { batchNormBackward, batchNormEval, batchNormTrain } from '../../src/kernels/batchnorm-arrays.js';
import { ShapeError, UsageError, ValueError } from '../../src/errors.js';
import { throwsLike } from '../helpers/errors.js';

const x6 = new Float32Array(6).map((_, i) => i);

test('wrong rank', () => {
  throwsLike(
    () => bnGeom([6], false, 6),
    ShapeError,
    'batchNorm: input must have rank 2 to 5 (N, C, *), received rank 1 with shape [6]',
  );
  throwsLike(
    () => bnGeom([1, 1, 1, 1, 1, 6], true, 6),
    ShapeError,
    'batchNorm: input must have rank 2 to 5 (N, *, C), received rank 6 with shape [1, 1, 1, 1, 1, 6]',
  );
  throwsLike(() => batchNormTrain(x6, { shape: [6] }), ShapeError, /rank 2 to 5 .* received rank 1/);
});

test('size ≠ product of shape, bad dimensions, bad shape type', () => {
  throwsLike(() => bnGeom([2, 4], false, 6), ShapeError, 'batchNorm: input has 6 elements but shape [2, 4] needs 8');
  throwsLike(
    () => batchNormTrain(x6, { shape: [3, 3] }),
    ShapeError,
    'batchNorm: input has 6 elements but shape [3, 3] needs 9',
  );
  throwsLike(
    () => bnGeom([2, -3], false, 6),
    ShapeError,
    'batchNorm: shape must hold non-negative integers, received [2, -3]',
  );
  throwsLike(
    () => bnGeom([2, 1.5], false, 3),
    ShapeError,
    'batchNorm: shape must hold non-negative integers, received [2, 1.5]',
  );
  throwsLike(
    () => bnGeom('2x3' as unknown as number[], false, 6),
    ShapeError,
    'batchNorm: shape must be an array of dimensions, received "2x3"',
  );
  throwsLike(
    () => bnGeom([2, 3], 'yes' as unknown as boolean, 6),
    UsageError,
    'batchNorm: channelsLast must be a boolean, received "yes"',
  );
});

test('γ, β and running statistics of length ≠ C', () => {
  throwsLike(
    () => batchNormTrain(x6, { shape: [2, 3], weight: new Float32Array(2) }),
    ShapeError,
    'batchNorm: weight must be a Float32Array of length 3 (the channel count C), received Float32Array(length 2)',
  );
  throwsLike(
    () => batchNormTrain(x6, { shape: [3, 2], bias: new Float32Array(3) }),
    ShapeError,
    'batchNorm: bias must be a Float32Array of length 2 (the channel count C), received Float32Array(length 3)',
  );
  throwsLike(
    () => batchNormTrain(x6, { shape: [2, 3], bias: [1, 2, 3] as unknown as Float32Array }),
    ShapeError,
    'batchNorm: bias must be a Float32Array of length 3 (the channel count C), received array [1, 2, 3]',
  );
  throwsLike(
    () => batchNormTrain(x6, { shape: [2, 3], runningMean: new Float32Array(4), runningVar: new Float32Array(3) }),
    ShapeError,
    'batchNorm: runningMean must be a Float32Array of length 3 (the channel count C), received Float32Array(length 4)',
  );
  throwsLike(
    () =>
      batchNormTrain(x6, {
        shape: [2, 3],
        runningMean: new Float32Array(3),
        runningVar: new Float64Array(3) as unknown as Float32Array,
      }),
    ShapeError,
    'batchNorm: runningVar must be a Float32Array of length 3 (the channel count C), received Float64Array(length 3)',
  );
  throwsLike(
    () => batchNormTrain(x6, { shape: [2, 3], runningMean: new Float32Array(3) }),
    UsageError,
    'batchNorm: runningMean and runningVar go together, received only runningMean',
  );
  throwsLike(
    () =>
      batchNormEval(x6, {
        shape: [2, 3],
        runningMean: new Float32Array(3),
        runningVar: null as unknown as Float32Array,
      }),
    ShapeError,
    'batchNorm: runningVar must be a Float32Array of length 3 (the channel count C), received null',
  );
  // channels-last: C is the last dimension
  throwsLike(
    () => batchNormTrain(x6, { shape: [3, 2], channelsLast: true, weight: new Float32Array(3) }),
    ShapeError,
    /weight must be a Float32Array of length 2/,
  );
});

test("a single value per channel in training (PyTorch's message), and the global count SyncBN passes", () => {
  throwsLike(
    () => batchNormTrain(new Float32Array(3), { shape: [1, 3] }),
    ValueError,
    'Expected more than 1 value per channel when training, got input size [1, 3]',
  );
  throwsLike(
    () => batchNormTrain(new Float32Array(3), { shape: [1, 3, 1, 1] }),
    ValueError,
    'Expected more than 1 value per channel when training, got input size [1, 3, 1, 1]',
  );
  throwsLike(
    () => checkTrainingCount(1, [1, 3, 1, 1]),
    ValueError,
    'Expected more than 1 value per channel when training, got input size [1, 3, 1, 1]',
  );
  checkTrainingCount(4, [1, 3, 1, 1]); // 4 workers × 1 value: fine globally
  checkTrainingCount(0, [0, 3]); // empty batch: nothing to normalize
  // eval mode has no such restriction
  const r = batchNormEval(Float32Array.from([1, 2, 3]), {
    shape: [1, 3],
    runningMean: new Float32Array(3),
    runningVar: new Float32Array(3).fill(1),
    eps: 0,
  });
  assert.deepEqual([...r.out], [1, 2, 3]);
});

test('non-finite input when checkFinite is on (and only then)', () => {
  const bad = Float32Array.from([0, 1, 2, NaN, 4, 5]);
  throwsLike(
    () => batchNormTrain(bad, { shape: [2, 3], checkFinite: true }),
    ValueError,
    'batchNorm: input must be finite (checkFinite is on), found NaN at index 3',
  );
  const inf = Float32Array.from([0, 1, 2, 3, -Infinity, 5]);
  throwsLike(
    () => batchNormTrain(inf, { shape: [2, 3], checkFinite: true }),
    ValueError,
    'batchNorm: input must be finite (checkFinite is on), found -Infinity at index 4',
  );
  const r = batchNormTrain(bad, { shape: [2, 3] });
  assert.ok(Number.isNaN(r.out[0]!)); // channel 0 holds the NaN: it propagates like PyTorch
});

test('options: eps, momentum, numBatchesTracked, out, input type', () => {
  throwsLike(
    () => batchNormTrain(x6, { shape: [2, 3], eps: -1 }),
    UsageError,
    'batchNorm: eps must be a finite number ≥ 0, received -1',
  );
  throwsLike(
    () => batchNormTrain(x6, { shape: [2, 3], momentum: 1.5 }),
    UsageError,
    'batchNorm: momentum must be a number in [0, 1] or null (cumulative average), received 1.5',
  );
  throwsLike(
    () =>
      batchNormTrain(x6, {
        shape: [2, 3],
        momentum: null,
        runningMean: new Float32Array(3),
        runningVar: new Float32Array(3),
      }),
    UsageError,
    'batchNorm: numBatchesTracked must be an integer ≥ 1 (counting this batch) when momentum is null, received ' +
      'undefined',
  );
  throwsLike(
    () => batchNormTrain(x6, { shape: [2, 3], out: new Float32Array(5) }),
    ShapeError,
    'batchNorm: out must be a Float32Array of length 6, received Float32Array(length 5)',
  );
  throwsLike(
    () => batchNormTrain([1, 2, 3, 4, 5, 6] as unknown as Float32Array, { shape: [2, 3] }),
    UsageError,
    /batchNorm: input must be a Float32Array, received array \[1, 2, 3/,
  );
  throwsLike(
    () => batchNormTrain(x6, null as unknown as { shape: number[] }),
    UsageError,
    'batchNorm: options must be an object, received null',
  );
});

test('backward: gradOutput, y and saved statistics must fit', () => {
  const r = batchNormTrain(x6, { shape: [2, 3] });
  throwsLike(
    () => batchNormBackward(new Float32Array(5), x6, r.saved, { shape: [2, 3] }),
    ShapeError,
    'batchNorm: gradOutput must be a Float32Array of length 6 (like the input), received Float32Array(length 5)',
  );
  throwsLike(
    () => batchNormBackward(new Float32Array(6), x6, r.saved, { shape: [2, 3], y: new Float32Array(2) }),
    ShapeError,
    'batchNorm: y (the fused-ReLU output) must be a Float32Array of length 6, received Float32Array(length 2)',
  );
  throwsLike(
    () => batchNormBackward(new Float32Array(6), x6, r.saved, { shape: [3, 2] }),
    ShapeError,
    'batchNorm: saved mean and invstd must be Float64Array of length 2, received Float64Array(length 3) and ' +
      'Float64Array(length 3)',
  );
  throwsLike(
    () => batchNormBackward(new Float32Array(6), x6, r.saved, { shape: [2, 3], dx: new Float32Array(7) }),
    ShapeError,
    'batchNorm: dx must be a Float32Array of length 6, received Float32Array(length 7)',
  );
});

test('empty batch in training: empty output, running statistics untouched (PyTorch)', () => {
  const rm = Float32Array.from([1, 2, 3]);
  const rv = Float32Array.from([4, 5, 6]);
  const r = batchNormTrain(new Float32Array(0), { shape: [0, 3, 2, 2], runningMean: rm, runningVar: rv });
  assert.equal(r.out.length, 0);
  assert.equal(r.count, 0);
  assert.deepEqual([...rm, ...rv], [1, 2, 3, 4, 5, 6]);
});

test('eval backward: statistics are constants, dx = γ·invstd·dy', () => {
  const rm = Float32Array.from([1, -1, 0.5]);
  const rv = Float32Array.from([4, 0.25, 1]);
  const w = Float32Array.from([2, 3, -1]);
  const e = batchNormEval(x6, { shape: [2, 3], runningMean: rm, runningVar: rv, weight: w, eps: 0 });
  const dy = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const b = batchNormBackward(dy, x6, e.saved, { shape: [2, 3], weight: w });
  const expect = [...dy].map((d, i) => (d * w[i % 3]!) / Math.sqrt(rv[i % 3]!));
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(b.dx[i]! - expect[i]!) < 1e-6, `dx[${i}]`);
  assert.deepEqual([...b.dBias], [5, 7, 9]);
});
