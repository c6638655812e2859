// Group-norm kernels on both backends: PyTorch fixtures, float64 twins over edge sizes, large means, in place, staged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupNormParamGrads, referenceKernels } from '../../src/kernels/index.js';
import type { GNGeom, KernelSet } from '../../src/kernels/index.js';
import { allocF32, allocF64, heapPointer, release } from '../../src/kernels/wasm/heap.js';
import { BACKENDS, randn } from './helpers.js';
import { GN_FIXTURES, assertMixed, groupNormF64, maxAbs } from '../helpers/groupnorm.js';

/** Forward and backward through the four kernels, as the autograd op composes them. */
function run(
  K: KernelSet,
  g: GNGeom,
  eps: number,
  x: Float32Array,
  dy: Float32Array,
  w: Float32Array | null,
  b: Float32Array | null,
  alloc32: (n: number) => Float32Array,
  alloc64: (n: number) => Float64Array,
) {
  const ng = g.n * g.groups;
  const mean = alloc64(ng);
  const invstd = alloc64(ng);
  K.groupNormStats(mean, invstd, x, g, eps);
  const y = alloc32(x.length);
  K.groupNormElemt(y, x, mean, invstd, w, b, g);
  const sumDy = alloc64(g.n * g.c);
  const sumDyXmu = alloc64(g.n * g.c);
  K.groupNormBackwardReduce(sumDy, sumDyXmu, dy, x, mean, g);
  const dWeight = new Float32Array(g.c);
  const dBias = new Float32Array(g.c);
  groupNormParamGrads(dWeight, dBias, sumDy, sumDyXmu, invstd, g);
  const dx = alloc32(x.length);
  K.groupNormBackwardElemt(dx, dy, x, mean, invstd, w, sumDy, sumDyXmu, g);
  return { mean, invstd, y, dx, dWeight, dBias };
}

const plain32 = (n: number): Float32Array => new Float32Array(n);
const plain64 = (n: number): Float64Array => new Float64Array(n);

function geom(shape: readonly number[], groups: number): GNGeom {
  return { n: shape[0]!, c: shape[1]!, s: shape.slice(2).reduce((a, b) => a * b, 1), groups };
}

test('GroupNorm fixtures cover ranks 2–5, groups 1 and C, N = 1, C % 4 ≠ 0, affine off, eps ≠ 1e-5, large mean', () => {
  const has = (p: (f: (typeof GN_FIXTURES)[number]) => boolean): boolean => GN_FIXTURES.some(p);
  for (const r of [2, 3, 4, 5])
    assert.ok(
      has((f) => f.shape.length === r),
      `rank ${r}`,
    );
  assert.ok(has((f) => f.groups === 1) && has((f) => f.groups === f.shape[1]) && has((f) => f.shape[0] === 1));
  assert.ok(has((f) => f.shape[1]! % 4 !== 0) && has((f) => !f.affine) && has((f) => f.eps >= 0.1));
  assert.ok(has((f) => Math.abs(f.mean[0]!) > 1000));
});

for (const K of BACKENDS) {
  for (const heap of [false, true]) {
    // Tolerances (atol + rtol·|ref|) against PyTorch's float64 answer; our elementwise passes are float32:
    // y = ((x − μhi) − μlo)·(invstd·γ) + β rounds ~4 times at 2⁻²⁴ ≈ 6e-8 relative to |x̂·γ| ≲ 10, |β|,
    // so errors stay ≲ 3e-7 (measured ≤ 1.4e-7); atol = rtol = 1e-6. dx has terms of size invstd·|γ·dy| that
    // cancel, so its atol is 1e-6 of that scale (measured ≤ 6e-8 of it). dγ, dβ are float64 sums rounded to
    // float32 once (≤ 6e-8 relative) but some entries cancel to ~0: rtol 1e-6 + atol 1e-6·max|ref|.
    // Statistics are float64 sums of float32 inputs (measured ≤ 2e-16 relative): 1e-12.
    const where = heap ? 'heap arrays' : 'plain arrays, staged';
    test(`${K.name}: PyTorch GroupNorm fixtures, stats + forward + backward (${where})`, () => {
      const a32 = heap ? allocF32 : plain32;
      const a64 = heap ? allocF64 : plain64;
      const taken: ArrayBufferView[] = [];
      const put = (v: number[] | null): Float32Array | null => {
        if (v === null) return null;
        const t = a32(v.length);
        t.set(v);
        taken.push(t);
        return t;
      };
      for (const f of GN_FIXTURES) {
        const label = `[${f.shape}] G=${f.groups} eps=${f.eps} affine=${f.affine} (${f.note})`;
        const g = geom(f.shape, f.groups);
        const r = run(K, g, f.eps, put(f.x)!, put(f.dy)!, put(f.weight), put(f.bias), a32, a64);
        assertMixed(r.mean, f.mean, 1e-12 * maxAbs(f.mean), 1e-12, `${label} mean`);
        assertMixed(r.invstd, f.invstd, 0, 1e-12, `${label} invstd`);
        assertMixed(r.y, f.y, 1e-6, 1e-6, `${label} y`);
        const dxScale = maxAbs(f.invstd) * (f.weight === null ? 1 : maxAbs(f.weight)) * maxAbs(f.dy);
        assertMixed(r.dx, f.dx, 1e-6 * dxScale, 1e-6, `${label} dx`);
        if (f.affine) {
          assertMixed(r.dWeight, f.dWeight!, 1e-6 * maxAbs(f.dWeight!), 1e-6, `${label} dWeight`);
          assertMixed(r.dBias, f.dBias!, 1e-6 * maxAbs(f.dBias!), 1e-6, `${label} dBias`);
        }
        if (heap) for (const a of [r.mean, r.invstd, r.y, r.dx]) taken.push(a);
      }
      if (heap) for (const a of taken) release(heapPointer(a));
    });
  }

  test(`${K.name}: forward equals the float64 definition, backward equals the reference twin, over edge sizes`, () => {
    // (n, c, s, groups): s = 1 (rank 2), odd and SIMD-tail spatial sizes, groups 1 and C, C % 4 ≠ 0, N = 1
    const cases: Array<[number, number, number, number]> = [
      [1, 1, 1, 1],
      [2, 3, 1, 3],
      [3, 6, 1, 2],
      [1, 5, 7, 5],
      [2, 4, 8, 1],
      [2, 12, 9, 4],
      [1, 2, 33, 2],
      [4, 10, 3, 5],
      [2, 8, 17, 8],
      [3, 6, 31, 3],
    ];
    let seed = 1;
    for (const [n, c, s, groups] of cases) {
      const g: GNGeom = { n, c, s, groups };
      const label = `n=${n} c=${c} s=${s} G=${groups}`;
      const x = randn(n * c * s, seed++, 0.5, 2);
      const dy = randn(n * c * s, seed++);
      const w = randn(c, seed++, 1, 0.5);
      const b = randn(c, seed++);
      const r = run(K, g, 1e-3, x, dy, w, b, plain32, plain64);
      const def = groupNormF64(x, [n, c, s], groups, 1e-3, w, b);
      assertMixed(r.y, def, 1e-6, 1e-6, `${label} y vs float64 definition`);
      const ref = run(referenceKernels, g, 1e-3, x, dy, w, b, plain32, plain64);
      // dx's terms are of size invstd·|γ·dy| and cancel (exactly, to 0, for one-element groups)
      assertMixed(r.dx, ref.dx, 1e-6 * maxAbs(ref.invstd) * maxAbs(w) * maxAbs(dy), 1e-6, `${label} dx`);
      assertMixed(r.dWeight, ref.dWeight, 1e-6 * maxAbs(ref.dWeight), 1e-6, `${label} dWeight`);
      assertMixed(r.dBias, ref.dBias, 1e-6 * maxAbs(ref.dBias), 1e-6, `${label} dBias`);
    }
  });

  test(`${K.name}: mean 1e4, std 1 keeps its digits (shifted float64 sums, μ split in two floats)`, () => {
    const g: GNGeom = { n: 2, c: 6, s: 37, groups: 3 };
    const x = randn(2 * 6 * 37, 77, 1e4, 1);
    const r = run(K, g, 1e-5, x, x, null, null, plain32, plain64);
    // float32 inputs at 1e4 are exact numbers; only our arithmetic can lose digits here
    assertMixed(r.y, groupNormF64(x, [2, 6, 37], 3, 1e-5, null, null), 1e-6, 1e-6, 'y at mean 1e4');
    const ref = run(referenceKernels, g, 1e-5, x, x, null, null, plain32, plain64);
    assertMixed(r.invstd, ref.invstd, 0, 1e-9, 'invstd at mean 1e4');
  });

  test(`${K.name}: in place (out = x, dx = dy) gives the same values; empty batch or spatial dims are fine`, () => {
    const g: GNGeom = { n: 2, c: 4, s: 11, groups: 2 };
    const x = randn(88, 5, 1, 3);
    const dy = randn(88, 6);
    const w = randn(4, 7, 1, 0.3);
    const r = run(K, g, 1e-5, x, dy, w, null, plain32, plain64);
    const xi = x.slice();
    K.groupNormElemt(xi, xi, r.mean, r.invstd, w, null, g);
    assert.deepEqual(xi, r.y);
    const sums = [new Float64Array(8), new Float64Array(8)] as const;
    K.groupNormBackwardReduce(sums[0], sums[1], dy, x, r.mean, g);
    const dyi = dy.slice();
    K.groupNormBackwardElemt(dyi, dyi, x, r.mean, r.invstd, w, sums[0], sums[1], g);
    assert.deepEqual(dyi, r.dx);
    const none = new Float32Array(0);
    const empty = run(K, { n: 0, c: 4, s: 3, groups: 2 }, 1e-5, none, none, w, w, plain32, plain64);
    assert.equal(empty.y.length, 0);
    assert.deepEqual(Array.from(empty.dBias), [0, 0, 0, 0]);
    const flat = run(K, { n: 2, c: 4, s: 0, groups: 2 }, 0.25, none, none, w, w, plain32, plain64);
    assert.deepEqual(Array.from(flat.invstd), [2, 2, 2, 2]);
    assert.deepEqual(Array.from(flat.mean), [0, 0, 0, 0]);
    assert.deepEqual(Array.from(flat.dWeight), [0, 0, 0, 0]);
  });
}
