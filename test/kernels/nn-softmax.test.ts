// The cross-entropy softmax kernel (softmaxPlanes) on both backends against float64 math: odd sizes, wide logit
// ranges, -Infinity and NaN logits, heap and JS arrays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, Placer, randn } from './nn-util.js';

/** Float64 softmax over planes, its max and normalizer, position by position. */
function naive(x: Float32Array, n: number, k: number, s: number): { p: Float64Array; mz: Float64Array } {
  const p = new Float64Array(n * k * s),
    mz = new Float64Array(2 * n * s);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < s; j++) {
      const at = (c: number): number => i * k * s + c * s + j;
      let m = -Infinity;
      for (let c = 0; c < k; c++) m = Math.max(m, x[at(c)]!);
      let z = 0;
      for (let c = 0; c < k; c++) z += Math.exp(x[at(c)]! - m);
      for (let c = 0; c < k; c++) p[at(c)] = Math.exp(x[at(c)]! - m) / z;
      mz[i * s + j] = m;
      mz[(n + i) * s + j] = z;
    }
  }
  return { p, mz };
}

/** |got − want| ≤ 2e-6·|want| + 1e-7·scale: float32 exp (≈ 1 ulp) and a few roundings; NaN where want is NaN. */
function close(got: Float32Array, want: Float64Array, scale: number, what: string): void {
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!,
      w = want[i]!;
    if (Number.isNaN(w)) assert.ok(Number.isNaN(g), `${what}[${i}]: expected NaN, received ${g}`);
    else assert.ok(Math.abs(g - w) <= 2e-6 * Math.abs(w) + 1e-7 * scale, `${what}[${i}]: expected ${w}, received ${g}`);
  }
}

for (const kset of BACKENDS) {
  for (const where of ['heap', 'js'] as const) {
    test(`${kset.name}/${where}: softmaxPlanes matches float64 softmax, max and normalizer`, () => {
      for (const [n, k, s, spread] of [
        [1, 1, 1, 1],
        [2, 3, 5, 1],
        [3, 11, 17, 8],
        [2, 4, 8, 40],
        [1, 2, 7, 100],
      ]) {
        const x = randn(n! * k! * s!, n! + 10 * k! + s!).map((v) => v * spread!);
        if (k! > 1 && s! > 2) {
          x[1] = -Infinity; // a class with probability exactly 0 at position 1 of sample 0
          x[2] = NaN; // position 2 of sample 0 is NaN in every class
        }
        const want = naive(x, n!, k!, s!);
        const pl = new Placer(where);
        const p = pl.put(new Float32Array(x.length).fill(7)),
          mz = pl.put(new Float32Array(2 * n! * s!).fill(7));
        kset.softmaxPlanes(p, mz, pl.put(x), n!, k!, s!);
        const tag = `n=${n} k=${k} s=${s} spread=${spread}`;
        close(p, want.p, 1, `${tag} p`);
        close(mz, want.mz, spread! * 4, `${tag} max and normalizer`);
        if (k! > 1 && s! > 2) assert.equal(p[1], 0, `${tag}: e^-Infinity is exactly 0`);
        pl.free();
      }
    });
  }
}

for (const kset of BACKENDS) {
  test(
    `${kset.name}: softmaxPlanesBackward is (p − onehot)·w, exactly 0 at ignored positions even where p is ` + `NaN`,
    () => {
      for (const [n, k, s] of [
        [1, 1, 1],
        [2, 3, 5],
        [3, 11, 17],
        [2, 4, 8],
      ]) {
        const p = randn(n! * k! * s!, 3 + s!),
          w = randn(n! * s!, 4 + k!);
        const tgt = Int32Array.from({ length: n! * s! }, (_, i) => (i % 5 === 3 ? -1 : (i * 7) % k!));
        p[0] = NaN; // position 0 of sample 0: NaN through, unless ignored
        tgt[0] = n! * s! > 1 ? -1 : 0;
        const dx = new Float32Array(p.length).fill(7);
        kset.softmaxPlanesBackward(dx, p, w, tgt, n!, k!, s!);
        for (let i = 0; i < n!; i++) {
          for (let c = 0; c < k!; c++) {
            for (let j = 0; j < s!; j++) {
              const o = (i * k! + c) * s! + j,
                t = tgt[i * s! + j]!;
              const want = t < 0 ? 0 : Math.fround((p[o]! - (c === t ? 1 : 0)) * w[i * s! + j]!);
              const got = dx[o]!;
              const tag = `n=${n} k=${k} s=${s} at ${o}`;
              if (Number.isNaN(want)) assert.ok(Number.isNaN(got), `${tag}: expected NaN, received ${got}`);
              else
                assert.ok(Math.abs(got - want) <= 2e-7 * Math.abs(want), `${tag}: expected ${want}, received ${got}`);
            }
          }
        }
      }
    },
  );
}
