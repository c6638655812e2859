// Test helpers: closeness of float arrays scaled by the reference's magnitude, and fixture loading.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** |a − e| ≤ rtol·(|e| + max|e|) elementwise (so near-zero entries are judged at the tensor's scale). */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= rtol * (Math.abs(e) + scale) || (Number.isNaN(a) && Number.isNaN(e)))) {
      assert.fail(`${what}: element ${i}: ${a} vs expected ${e} (rtol ${rtol}, scale ${scale})`);
    }
  }
}

/** Parse a JSON fixture under fixtures/ (tests run from dist/test/<area>/). */
export function fixture<T>(rel: string): T {
  return JSON.parse(readFileSync(new URL(`../../../fixtures/${rel}`, import.meta.url), 'utf8')) as T;
}

/** A per-element tolerance: |actual − expected| ≤ atol + rtol·|expected|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/**
 * Float32 results against a float32/float64 reference computed from the same float32 inputs.
 * One float32 rounding is ≤ 2⁻²⁴ ≈ 6e-8 relative; an output that passed through a handful of float32 operations
 * (normalize: subtract, scale, shift) carries ≤ ~8 such roundings of terms of size ≤ ~5, so 1e-6 relative and
 * 5e-6 absolute (for entries that cancel to near zero) hold with room, while a missing eps (relative 5e-6 at
 * var ≈ 1), a biased running variance (N/(N−1): ≥ 1e-3 here) or a wrong shard fall well outside.
 */
export const F32_FWD: Tolerance = { atol: 5e-6, rtol: 1e-6 };

/**
 * Gradients: dx = invstd·γ·(dy − mean(dy) − x̂·mean(dy·x̂)) cancels terms of size ~|dy| + |x̂|·|mean(dy·x̂)| ≤ ~10,
 * then scales by invstd·γ (≤ ~3): ~8 roundings of 30 ≈ 1.5e-5 absolute; float64 statistics keep the sums exact
 * to float64, so 2e-5 absolute and 1e-5 relative hold with room, below a missing mean(dy) (≥ 1e-2).
 */
export const F32_BWD: Tolerance = { atol: 2e-5, rtol: 1e-5 };

/** |a − e| ≤ atol + rtol·|e| for every element, NaN matching NaN; the message names the worst element. */
export function assertMixed(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let worst = -1;
  let ratio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    const r = Math.abs(a - e) / (tol.atol + tol.rtol * Math.abs(e));
    if (!(r <= ratio)) {
      ratio = Number.isNaN(r) ? Infinity : r;
      worst = i;
    }
  }
  if (ratio > 1) {
    assert.fail(
      `${what}: element ${worst}: ${actual[worst]} vs expected ${expected[worst]} (atol ${tol.atol}, rtol ` +
        `${tol.rtol}: ${ratio.toFixed(1)}× the tolerance)`,
    );
  }
}
