// GEMM on both backends against a float64 naive product: every transpose combination, alpha/beta, odd and empty sizes,
// heap and JS arrays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, Placer, assertClose, naiveGemm, randn } from './nn-util.js';

const SIZES: ReadonlyArray<[number, number, number]> = [
  [1, 1, 1],
  [3, 7, 17],
  [17, 33, 7],
  [65, 3, 33],
  [33, 65, 65],
  [7, 1, 129],
  [1, 67, 5],
  [16, 1024, 27],
  [13, 19, 144],
  [64, 100, 9],
];

for (const kset of BACKENDS) {
  for (const where of ['heap', 'js'] as const) {
    test(`${kset.name}/${where}: gemm matches float64 for all transposes, alpha and beta`, () => {
      let seed = 1;
      for (const [m, n, k] of SIZES) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            for (const [alpha, beta] of [
              [1, 0],
              [0.5, 1],
              [-1.5, 0.25],
            ] as const) {
              const pl = new Placer(where);
              const a = randn(m * k, seed++);
              const b = randn(k * n, seed++);
              const c0 = randn(m * n, seed++);
              const c = pl.put(c0);
              kset.gemm(c, pl.put(a), pl.put(b), m, n, k, ta, tb, alpha, beta);
              const p = naiveGemm(a, b, m, n, k, ta, tb);
              const want = p.map((v, i) => alpha * v + (beta === 0 ? 0 : beta * c0[i]!));
              assertClose(c, want, k, `gemm ${m}x${n}x${k} ta=${ta} tb=${tb} a=${alpha} b=${beta}`);
              pl.free();
            }
          }
        }
      }
    });

    test(
      `${kset.name}/${where}: gemm BLAS edges: beta = 0 overwrites C, alpha = 0 reads no A/B, k = 0 scales C, ` +
        `empty sizes are no-ops`,
      () => {
        const pl = new Placer(where);
        const m = 5,
          n = 9,
          k = 4;
        const a = randn(m * k, 7);
        const b = randn(k * n, 8);
        const c = pl.put(new Float32Array(m * n).fill(NaN));
        kset.gemm(c, pl.put(a), pl.put(b), m, n, k, false, false, 1, 0);
        assertClose(c, naiveGemm(a, b, m, n, k, false, false), k, 'beta=0');
        // alpha = 0: C = beta·C without reading A or B (NaN there does not leak).
        const c1 = pl.put(new Float32Array([1, -2, 4, 8]));
        kset.gemm(
          c1,
          pl.put(new Float32Array(6).fill(NaN)),
          pl.put(new Float32Array(6).fill(NaN)),
          2,
          2,
          3,
          false,
          false,
          0,
          0.5,
        );
        assert.deepEqual([...c1], [0.5, -1, 2, 4]);
        // k = 0: C = beta·C.
        const c2 = pl.put(new Float32Array([1, 2, 3, 4, 5, 6]));
        kset.gemm(c2, pl.put(new Float32Array(0)), pl.put(new Float32Array(0)), 2, 3, 0, false, false, 1, 0.5);
        assert.deepEqual([...c2], [0.5, 1, 1.5, 2, 2.5, 3]);
        // m = 0 or n = 0: nothing touched, nothing read.
        kset.gemm(
          pl.put(new Float32Array(0)),
          pl.put(new Float32Array(0)),
          pl.put(randn(12, 1)),
          0,
          3,
          4,
          false,
          false,
          1,
          0,
        );
        kset.gemm(
          pl.put(new Float32Array(0)),
          pl.put(randn(12, 1)),
          pl.put(new Float32Array(0)),
          3,
          0,
          4,
          true,
          true,
          1,
          0,
        );
        pl.free();
      },
    );
  }

  test(`${kset.name}: gemm on subarray views (non-zero byte offsets) reads and writes only its window`, () => {
    const pl = new Placer('heap');
    const m = 6,
      n = 10,
      k = 5;
    const bigA = pl.put(randn(m * k + 3, 11));
    const bigB = pl.put(randn(k * n + 5, 12));
    const bigC = pl.put(new Float32Array(m * n + 2).fill(9));
    const a = bigA.subarray(3),
      b = bigB.subarray(5),
      c = bigC.subarray(1, 1 + m * n);
    kset.gemm(c, a, b, m, n, k, false, true, 1, 0);
    assertClose(c, naiveGemm(a, b, m, n, k, false, true), k, 'subarray');
    assert.equal(bigC[0], 9);
    assert.equal(bigC[m * n + 1], 9);
    pl.free();
  });
}

test('negative control: the closeness check rejects a product with one wrong term', () => {
  const a = randn(12, 3),
    b = randn(12, 4);
  const want = naiveGemm(a, b, 3, 3, 4, false, true);
  const bad = Float32Array.from(want);
  bad[4] = bad[4]! + a[4]! * b[4]!;
  assert.throws(() => assertClose(bad, want, 4, 'control'), /element 4/);
});
