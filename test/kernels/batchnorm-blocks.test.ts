// Batch-norm kernels on both backends: every channel-block width, row count and remainder of the SIMD loops.
import { test } from 'node:test';
import { bnLocalStats, bnMergeStats, referenceKernels } from '../../src/kernels/index.js';
import type { BNGeom } from '../../src/kernels/index.js';
import { BACKENDS, assertClose, checkReduce, randn } from './helpers.js';
import { backwardElemtF64, elemtF64, statsF64 } from '../helpers/bn-f64.js';

for (const K of BACKENDS) {
  test(
    `${K.name}: every channel-block width and row count (C = 1..33, 1–9 rows), exact and fast forms, ReLU masks, ` +
      `both layouts`,
    () => {
      // Channels-last kernels unroll by 16 / 8 / 4 channels with a scalar tail, and group rows in fours
      // (stats) and pairs (backward): these sizes reach every block and every remainder of each.
      for (const channelsLast of [true, false]) {
        for (const c of [1, 2, 3, 4, 5, 7, 8, 12, 15, 16, 17, 20, 28, 31, 33]) {
          for (const [n, s] of [
            [1, 1],
            [1, 2],
            [3, 1],
            [1, 5],
            [2, 3],
            [7, 1],
            [3, 3],
          ] as const) {
            for (const offset of [0.5, 1e4]) {
              // 1e4: |μ|·invstd > 16 selects the exact (μhi, μlo) forms
              const g: BNGeom = { n, c, s, channelsLast };
              const len = n * c * s;
              const seed = c * 1000 + n * 10 + s;
              const x = randn(len, seed, offset, 1.5);
              const dy = randn(len, seed + 1);
              const label = `c=${c} n=${n} s=${s} cl=${channelsLast} offset=${offset}`;
              const mine = bnLocalStats(x, g, K);
              const ref = { count: g.n * g.s, ...statsF64(x, g) };
              assertClose(mine.mean, ref.mean, 1e-12, `${label} mean`);
              assertClose(mine.m2, ref.m2, 1e-12, `${label} m2`, 1e-300);
              if (n * s < 2) continue;
              const st = bnMergeStats([ref], c, 1e-5, referenceKernels);
              const w = randn(c, seed + 2, 1, 0.3);
              const b = randn(c, seed + 3);
              for (const relu of [false, true]) {
                const y = new Float32Array(len);
                K.batchNormElemt(y, x, st.mean, st.invstd, w, b, g, relu);
                const yr = elemtF64(x, st.mean, st.invstd, w, b, g, relu);
                assertClose(y, yr, 2e-6, `${label} relu=${relu} y`);
                const mask = relu ? y : null;
                const [sDy, sDyXmu] = checkReduce(K, dy, x, st.mean, g, mask, `${label} relu=${relu}`);
                const dx = new Float32Array(len);
                K.batchNormBackwardElemt(dx, dy, x, st.mean, st.invstd, w, sDy, sDyXmu, n * s, g, mask);
                const dxr = backwardElemtF64(dy, x, st.mean, st.invstd, w, sDy, sDyXmu, n * s, g, mask);
                const gain = Math.max(...Array.from(st.invstd, (v, ch) => v * Math.abs(w[ch]!)));
                assertClose(
                  dx,
                  dxr,
                  2e-6,
                  `${label} relu=${relu} dx`,
                  gain * Math.sqrt(dy.reduce((a, v) => a + v * v, 0) / len),
                );
              }
            }
          }
        }
      }
    },
  );

  test(
    `${K.name}: channels-last statistics over many rows (rows mod 4 = 0..3, beyond one stream group) equal the ` +
      `planes layout`,
    () => {
      // The rows kernels pair row r with row r + rows/4 (stats) and r + rows/2 (backward): counts around
      // those splits, transposed to channels-first, must give the same sums to float64 rounding.
      for (const rows of [61, 62, 63, 64, 65, 257]) {
        const c = 6;
        const x = randn(rows * c, rows, 3, 2);
        const dy = randn(rows * c, rows + 1);
        const xt = new Float32Array(rows * c);
        const dyt = new Float32Array(rows * c);
        for (let r = 0; r < rows; r++)
          for (let ch = 0; ch < c; ch++) {
            xt[ch * rows + r] = x[r * c + ch]!;
            dyt[ch * rows + r] = dy[r * c + ch]!;
          }
        const gl: BNGeom = { n: 1, c, s: rows, channelsLast: true };
        const gp: BNGeom = { n: 1, c, s: rows, channelsLast: false };
        const a = bnLocalStats(x, gl, K);
        const p = bnLocalStats(xt, gp, K);
        assertClose(a.mean, p.mean, 1e-12, `rows=${rows} mean`);
        assertClose(a.m2, p.m2, 1e-12, `rows=${rows} m2`);
        const st = bnMergeStats([p], c, 1e-5, K);
        const [s1, s2] = checkReduce(K, dy, x, st.mean, gl, null, `rows=${rows} cl`);
        const [t1, t2] = checkReduce(K, dyt, xt, st.mean, gp, null, `rows=${rows} planes`);
        assertClose(s1, t1, 1e-12, `rows=${rows} sumDy`);
        assertClose(s2, t2, 1e-12, `rows=${rows} sumDyXmu`);
      }
    },
  );
}
