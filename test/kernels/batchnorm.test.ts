// Batch-norm kernels on both backends: PyTorch fixtures, the exact shard merge, cancellation, SIMD tails and both
// memory paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  batchNormTrain,
  batchNormBackward,
  bnGeom,
  bnLocalStats,
  bnMergeStats,
  referenceKernels,
} from '../../src/kernels/index.js';
import type { BNGeom } from '../../src/kernels/index.js';
import { allocF32, heapPointer, release } from '../../src/kernels/wasm/heap.js';
import { BACKENDS, assertClose, checkReduce, exactVar, randn, rng } from './helpers.js';
import { loadFixtures, type Fixture } from '../helpers/bn-fixtures.js';
import { backwardElemtF64, elemtF64, statsF64 } from '../helpers/bn-f64.js';

const f32 = (a: number[] | null): Float32Array | null => (a === null ? null : Float32Array.from(a));
const FIXTURES = loadFixtures();

test(
  'the fixtures cover ranks 2–5, C = 1, both layouts, several eps, momentum 0.1/None, affine on/off, fused ' + 'ReLU',
  () => {
    const has = (p: (f: Fixture) => boolean): boolean => FIXTURES.some(p);
    for (const r of [2, 3, 4, 5])
      for (const cl of [false, true])
        assert.ok(
          has((f) => f.shape.length === r && f.channelsLast === cl),
          `rank ${r} cl ${cl}`,
        );
    assert.ok(has((f) => (f.channelsLast ? f.shape[f.shape.length - 1] : f.shape[1]) === 1));
    assert.ok(new Set(FIXTURES.map((f) => f.eps)).size >= 3);
    assert.ok(has((f) => f.momentum === null) && has((f) => f.momentum === 0.1));
    assert.ok(has((f) => !f.affine) && has((f) => f.affine) && has((f) => f.relu) && has((f) => f.relu && !f.affine));
  },
);

for (const K of BACKENDS) {
  for (const heap of [false, true]) {
    test(
      `${K.name}: PyTorch fixtures, forward + running stats + backward ≤ 1e-5 ` +
        `(${heap ? 'heap arrays' : 'plain arrays, staged'})`,
      () => {
        for (const f of FIXTURES) {
          const label =
            `${f.file} shape [${f.shape}] cl=${f.channelsLast} eps=${f.eps} m=${f.momentum} ` +
            `affine=${f.affine} relu=${f.relu}`;
          const toHeap = (a: number[]): Float32Array => {
            if (!heap) return Float32Array.from(a);
            const h = allocF32(a.length);
            h.set(a);
            return h;
          };
          const x = toHeap(f.x);
          const dy = toHeap(f.dy);
          const out = heap ? allocF32(x.length) : undefined;
          const runningMean = Float32Array.from(f.runningMean0);
          const runningVar = Float32Array.from(f.runningVar0);
          const weight = f32(f.weight);
          const r = batchNormTrain(x, {
            shape: f.shape,
            channelsLast: f.channelsLast,
            eps: f.eps,
            momentum: f.momentum,
            weight,
            bias: f32(f.bias),
            runningMean,
            runningVar,
            numBatchesTracked: f.numBatchesTracked,
            relu: f.relu,
            out,
            kernels: K,
          });
          assertClose(r.out, f.y, 1e-5, `${label} y`);
          assertClose(r.mean, f.mean, 1e-9, `${label} mean`);
          assertClose(r.varBiased, f.varBiased, 1e-9, `${label} varBiased`);
          assertClose(r.varUnbiased, f.varUnbiased, 1e-9, `${label} varUnbiased`);
          assertClose(runningMean, f.runningMean, 1e-5, `${label} runningMean`);
          assertClose(runningVar, f.runningVar, 1e-5, `${label} runningVar`);
          const b = batchNormBackward(dy, x, r.saved, {
            shape: f.shape,
            channelsLast: f.channelsLast,
            weight,
            y: f.relu ? r.out : null,
            kernels: K,
          });
          // the terms of dx are of size |γ·invstd·dy|; they cancel exactly when the count is 2
          const gain = Math.max(...Array.from(r.invstd, (v, ch) => v * Math.abs(weight?.[ch] ?? 1)));
          assertClose(
            b.dx,
            f.dx,
            1e-5,
            `${label} dx`,
            gain * Math.sqrt(f.dy.reduce((a, v) => a + v * v, 0) / f.dy.length),
          );
          if (f.affine) {
            assertClose(b.dWeight, f.dWeight!, 1e-5, `${label} dWeight`);
            assertClose(b.dBias, f.dBias!, 1e-5, `${label} dBias`);
          }
          if (heap) for (const a of [x, dy, out!]) release(heapPointer(a));
        }
      },
    );
  }

  test(`${K.name}: merging k = 1..8 shards of unequal sizes (some empty) equals the whole batch ≤ 1e-12`, () => {
    const r = rng(7);
    for (const channelsLast of [false, true]) {
      for (let k = 1; k <= 8; k++) {
        const c = 3 + (k % 4);
        const s = 1 + ((k * 5) % 7);
        // random cut points along N; duplicates make empty shards
        const n = 29 + k;
        const cuts = [0, n, ...Array.from({ length: k - 1 }, () => Math.floor(r() * (n + 1)))].sort((a, b) => a - b);
        if (k >= 3) cuts[2] = cuts[1]!; // at least one empty shard
        const x = randn(n * c * s, 100 + k, 3, 2);
        const whole = bnMergeStats([bnLocalStats(x, { n, c, s, channelsLast }, K)], c, 1e-5, K);
        const shards = [];
        for (let i = 0; i + 1 < cuts.length; i++) {
          const a = cuts[i]!;
          const e = cuts[i + 1]!;
          const g: BNGeom = { n: e - a, c, s, channelsLast };
          shards.push(bnLocalStats(x.subarray(a * c * s, e * c * s), g, K));
        }
        assert.ok(shards.some((sh) => sh.count === 0) || k < 3);
        const merged = bnMergeStats(shards, c, 1e-5, K);
        const label = `k=${k} cl=${channelsLast} counts=${shards.map((sh) => sh.count)}`;
        assert.equal(merged.count, n * s);
        assertClose(merged.mean, whole.mean, 1e-12, `${label} mean`);
        assertClose(merged.varBiased, whole.varBiased, 1e-12, `${label} varBiased`);
        assertClose(merged.varUnbiased, whole.varUnbiased, 1e-12, `${label} varUnbiased`);
        assertClose(merged.invstd, whole.invstd, 1e-12, `${label} invstd`);
      }
    }
  });

  test(`${K.name}: cancellation — mean 1e4, std 1 gives the variance to ≤ 1e-5 (and Σx, Σx² in float64 too)`, () => {
    for (const channelsLast of [false, true]) {
      const n = 64;
      const c = 3;
      const s = 37;
      const x = randn(n * c * s, 11, 1e4, 1);
      const g: BNGeom = { n, c, s, channelsLast };
      const truth = exactVar(x, g);
      const st = bnMergeStats([bnLocalStats(x, g, K)], c, 0, K);
      assertClose(st.varBiased, truth, 1e-5, 'var (Welford/shifted)');
      const sum = new Float64Array(c);
      const sumSq = new Float64Array(c);
      K.batchNormSums(sum, sumSq, x, g);
      const cnt = n * s;
      assertClose(
        Array.from(sum, (v, ch) => sumSq[ch]! / cnt - (v / cnt) ** 2),
        truth,
        1e-5,
        'var from float64 Σx, Σx²',
      );
    }
  });

  test(`${K.name}: sizes 0 and 1, odd lengths (SIMD tails), C = 1: stats, elemt, backward match the reference`, () => {
    for (const channelsLast of [false, true]) {
      for (const [n, c, s] of [
        [0, 3, 5],
        [1, 1, 1],
        [1, 3, 1],
        [2, 1, 1],
        [3, 5, 1],
        [2, 2, 3],
        [1, 1, 17],
        [3, 7, 9],
        [2, 13, 5],
        [5, 9, 19],
        [2, 33, 3],
        [1, 4, 64],
      ] as const) {
        const g: BNGeom = { n, c, s, channelsLast };
        const x = randn(n * c * s, n * 100 + c * 10 + s, 0.5, 1.5);
        const dy = randn(n * c * s, 7 + n + c + s);
        const label = `n=${n} c=${c} s=${s} cl=${channelsLast}`;
        const mine = bnLocalStats(x, g, K);
        const ref = { count: g.n * g.s, ...statsF64(x, g) };
        assert.equal(mine.count, n * s);
        assertClose(mine.mean, ref.mean, 1e-12, `${label} mean`);
        assertClose(mine.m2, ref.m2, 1e-12, `${label} m2`);
        if (n * s < 2) continue;
        const st = bnMergeStats([ref], c, 1e-5, referenceKernels);
        const w = randn(c, 3, 1, 0.3);
        const b = randn(c, 4);
        for (const relu of [false, true]) {
          const y = new Float32Array(x.length);
          K.batchNormElemt(y, x, st.mean, st.invstd, w, b, g, relu);
          const yr = elemtF64(x, st.mean, st.invstd, w, b, g, relu);
          assertClose(y, yr, 1e-6, `${label} relu=${relu} y`);
          const sums = checkReduce(K, dy, x, st.mean, g, relu ? y : null, label);
          const dx = new Float32Array(x.length);
          K.batchNormBackwardElemt(dx, dy, x, st.mean, st.invstd, w, sums[0], sums[1], n * s, g, relu ? y : null);
          const dxr = backwardElemtF64(dy, x, st.mean, st.invstd, w, sums[0], sums[1], n * s, g, relu ? y : null);
          const gain = Math.max(...Array.from(st.invstd, (v, ch) => v * Math.abs(w[ch]!)));
          assertClose(
            dx,
            dxr,
            1e-5,
            `${label} relu=${relu} dx`,
            gain * Math.sqrt(dy.reduce((a, v) => a + v * v, 0) / dy.length),
          );
        }
      }
    }
  });

  test(`${K.name}: elemt and backward elemt keep their digits when |μ| ≫ σ (μ/σ = 1e4 and 15, both layouts)`, () => {
    for (const channelsLast of [false, true]) {
      for (const offset of [1e4, 15, -15]) {
        const g: BNGeom = { n: 6, c: 8, s: 13, channelsLast };
        const len = g.n * g.c * g.s;
        const x = randn(len, 21, offset, 1);
        const dy = randn(len, 22);
        const st = bnMergeStats([bnLocalStats(x, g, referenceKernels)], g.c, 1e-5, referenceKernels);
        const w = randn(g.c, 23, 1, 0.2);
        const b = randn(g.c, 24);
        const label = `offset ${offset} cl=${channelsLast}`;
        const y = new Float32Array(len);
        K.batchNormElemt(y, x, st.mean, st.invstd, w, b, g, false);
        const yr = elemtF64(x, st.mean, st.invstd, w, b, g, false);
        assertClose(y, yr, 2e-6, `${label} y`);
        const [sDy, sDyXmu] = checkReduce(K, dy, x, st.mean, g, null, label);
        const dx = new Float32Array(len);
        K.batchNormBackwardElemt(dx, dy, x, st.mean, st.invstd, w, sDy, sDyXmu, g.n * g.s, g, null);
        const dxr = backwardElemtF64(dy, x, st.mean, st.invstd, w, sDy, sDyXmu, g.n * g.s, g, null);
        assertClose(dx, dxr, 2e-6, `${label} dx`);
      }
    }
  });

  test(
    `${K.name}: elemt and backward write exactly their output range (neighbours untouched, in and out of the ` +
      `heap)`,
    () => {
      for (const heap of [false, true]) {
        const g: BNGeom = { n: 2, c: 3, s: 5, channelsLast: false };
        const len = 30;
        const big = heap ? allocF32(len + 8) : new Float32Array(len + 8);
        big.fill(123);
        const out = big.subarray(4, 4 + len);
        const x = randn(len, 5);
        const st = bnMergeStats([bnLocalStats(x, g, K)], 3, 1e-5, K);
        K.batchNormElemt(out, x, st.mean, st.invstd, null, null, g, false);
        assert.deepEqual([...big.subarray(0, 4), ...big.subarray(4 + len)], new Array(8).fill(123));
        assert.ok(out.every((v) => v !== 123));
        if (heap) release(heapPointer(big));
      }
    },
  );

  test(`${K.name}: in place (out = x, dx = dy), in and out of the heap`, () => {
    for (const heap of [false, true]) {
      for (const channelsLast of [false, true]) {
        const g: BNGeom = { n: 3, c: 5, s: 7, channelsLast };
        const len = 105;
        const src = randn(len, 31, 2, 3);
        const dySrc = randn(len, 32);
        const st = bnMergeStats([bnLocalStats(src, g, referenceKernels)], g.c, 1e-5, referenceKernels);
        const w = randn(g.c, 33, 1, 0.2);
        const yr = elemtF64(src, st.mean, st.invstd, w, null, g, false);
        const xy = heap ? allocF32(len) : new Float32Array(len);
        xy.set(src);
        K.batchNormElemt(xy, xy, st.mean, st.invstd, w, null, g, false);
        assertClose(xy, yr, 1e-6, `heap=${heap} cl=${channelsLast} y in place`);
        const [sDy, sDyXmu] = checkReduce(K, dySrc, src, st.mean, g, null, 'in place');
        const dxr = backwardElemtF64(dySrc, src, st.mean, st.invstd, w, sDy, sDyXmu, g.n * g.s, g, null);
        const d = heap ? allocF32(len) : new Float32Array(len);
        d.set(dySrc);
        K.batchNormBackwardElemt(d, d, src, st.mean, st.invstd, w, sDy, sDyXmu, g.n * g.s, g, null);
        assertClose(d, dxr, 1e-5, `heap=${heap} cl=${channelsLast} dx in place`);
        if (heap) for (const a of [xy, d]) release(heapPointer(a));
      }
    }
  });

  test(`${K.name}: a million values per channel at mean 1e4, std 1: variance ≤ 1e-5, merge of halves ≤ 1e-12`, () => {
    for (const channelsLast of [false, true]) {
      const g: BNGeom = { n: 16, c: 2, s: 32768, channelsLast };
      const x = randn(g.n * g.c * g.s, 41, 1e4, 1);
      const truth = exactVar(x, g);
      const whole = bnMergeStats([bnLocalStats(x, g, K)], g.c, 0, K);
      assertClose(whole.varBiased, truth, 1e-5, `cl=${channelsLast} var`);
      const half = (g.n / 2) * g.c * g.s;
      const hg: BNGeom = { ...g, n: g.n / 2 };
      const merged = bnMergeStats(
        [bnLocalStats(x.subarray(0, half), hg, K), bnLocalStats(x.subarray(half), hg, K)],
        g.c,
        0,
        K,
      );
      assertClose(merged.mean, whole.mean, 1e-12, `cl=${channelsLast} merged mean`);
      assertClose(merged.varBiased, whole.varBiased, 1e-12, `cl=${channelsLast} merged var`);
    }
  });

  test(`${K.name}: running-statistics update, momentum and cumulative average`, () => {
    const rm = Float32Array.from([1, 2]);
    const rv = Float32Array.from([3, 4]);
    K.batchNormUpdateRunning(rm, rv, Float64Array.from([5, 6]), Float64Array.from([7, 8]), 0.25, 1);
    assertClose(rm, [2, 3], 1e-7, 'momentum mean');
    assertClose(rv, [4, 5], 1e-7, 'momentum var');
    K.batchNormUpdateRunning(rm, rv, Float64Array.from([8, 9]), Float64Array.from([1, 2]), null, 4);
    assertClose(rm, [2 * 0.75 + 8 * 0.25, 3 * 0.75 + 9 * 0.25], 1e-7, 'cumulative mean');
    assertClose(rv, [4 * 0.75 + 0.25, 5 * 0.75 + 0.5], 1e-7, 'cumulative var');
  });
}

test('negative control: naive float32 E[x²] − E[x]² misses the cancellation bound by orders of magnitude', () => {
  const n = 64 * 37;
  const x = randn(n, 11, 1e4, 1);
  const g: BNGeom = { n: 1, c: 1, s: n, channelsLast: false };
  const truth = exactVar(x, g)[0]!;
  let s1 = 0;
  let s2 = 0;
  for (const v of x) {
    s1 = Math.fround(s1 + v);
    s2 = Math.fround(s2 + Math.fround(v * v));
  }
  const naive = Math.fround(Math.fround(s2 / n) - Math.fround(Math.fround(s1 / n) ** 2));
  assert.ok(Math.abs(naive - truth) / truth > 1e-3, `naive float32 variance ${naive} vs ${truth} should be badly off`);
});

test('bnGeom reads both layouts', () => {
  assert.deepEqual(bnGeom([2, 3, 4, 5], false, 120), { n: 2, c: 3, s: 20, channelsLast: false });
  assert.deepEqual(bnGeom([2, 4, 5, 3], true, 120), { n: 2, c: 3, s: 20, channelsLast: true });
  assert.deepEqual(bnGeom([7, 3], true, 21), { n: 7, c: 3, s: 1, channelsLast: true });
  assert.deepEqual(bnGeom([2, 3, 1, 2, 2], false, 24), { n: 2, c: 3, s: 4, channelsLast: false });
});
