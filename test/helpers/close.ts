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
