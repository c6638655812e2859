// Test helpers for group norm: PyTorch fixtures, a mixed-tolerance check, a float64 twin written from the definition.
import assert from 'node:assert/strict';
import { fixture } from './close.js';

/** One case of fixtures/gn/cases.json (scripts/gen_gn_fixtures.py; outputs computed by PyTorch in float64). */
export interface GNFixture {
  note: string;
  shape: number[];
  groups: number;
  eps: number;
  affine: boolean;
  x: number[];
  dy: number[];
  weight: number[] | null;
  bias: number[] | null;
  y: number[];
  mean: number[];
  invstd: number[];
  dx: number[];
  dWeight: number[] | null;
  dBias: number[] | null;
}

export const GN_FIXTURES: readonly GNFixture[] = fixture<{ cases: GNFixture[] }>('gn/cases.json').cases;

/**
 * |actual − expected| ≤ atol + rtol·|expected| per element (NaN matches NaN); the failure names the element
 * and, on success, the largest ratio of error to tolerance is returned (how much margin there was).
 */
export function assertMixed(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  what: string,
): number {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    const tol = atol + rtol * Math.abs(e);
    const err = Math.abs(a - e);
    if (!(err <= tol)) {
      assert.fail(`${what}[${i}]: got ${a}, expected ${e} (|diff| ${err} > atol ${atol} + rtol ${rtol}·|expected|)`);
    }
    worst = Math.max(worst, err / tol);
  }
  return worst;
}

/** Largest |v| (the scale a tolerance is set against). */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/**
 * Group norm in float64 from the definition (independent of src/): per sample and group of C/G consecutive
 * channels, μ = mean, σ² = biased variance, y = (x − μ)/sqrt(σ² + eps)·γ + β.
 */
export function groupNormF64(
  x: ArrayLike<number>,
  shape: readonly number[],
  groups: number,
  eps: number,
  weight: ArrayLike<number> | null,
  bias: ArrayLike<number> | null,
): Float64Array {
  const [n, c] = shape as [number, number];
  const s = shape.slice(2).reduce((a, b) => a * b, 1);
  const m = (c / groups) * s;
  const y = new Float64Array(n * c * s);
  for (let k = 0; k < n * groups; k++) {
    let mu = 0;
    for (let j = 0; j < m; j++) mu += x[k * m + j]!;
    mu /= m;
    let v = 0;
    for (let j = 0; j < m; j++) v += (x[k * m + j]! - mu) ** 2;
    v /= m;
    for (let j = 0; j < m; j++) {
      const ch = Math.floor(((k % groups) * m + j) / s); // position within the sample / plane size
      y[k * m + j] = ((x[k * m + j]! - mu) / Math.sqrt(v + eps)) * (weight ? weight[ch]! : 1) + (bias ? bias[ch]! : 0);
    }
  }
  return y;
}
