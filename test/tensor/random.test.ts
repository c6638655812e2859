// RandomGenerator's integer, permutation and 32-bit uniform draws: ranges, edge sizes, uniformity, argument errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RandomGenerator } from '../../src/tensor/random.js';

test('int(n) stays in [0, n) and hits every value about equally; bad n is a UsageError naming the range', () => {
  const g = new RandomGenerator(3);
  const n = 7;
  const hits = new Array<number>(n).fill(0);
  for (let i = 0; i < 70_000; i++) hits[g.int(n)]!++;
  // 10,000 expected per value, σ ≈ 93: ±600 is > 6σ
  for (const h of hits) assert.ok(Math.abs(h - 10_000) < 600, `counts ${hits.join(', ')}`);
  assert.equal(g.int(1), 0);
  assert.ok(g.int(2 ** 32) < 2 ** 32);
  for (const bad of [0, -1, 2.5, 2 ** 32 + 1, Number.NaN]) {
    assert.throws(() => g.int(bad), {
      name: 'UsageError',
      message: /^RandomGenerator\.int: n must be an integer in \[1, 2\^32\], received /,
    });
  }
});

test('permutation(n): edge sizes 0 and 1, a permutation for odd n, the same stream for the same seed', () => {
  const g = new RandomGenerator(5);
  assert.deepEqual(g.permutation(0), []);
  assert.deepEqual(g.permutation(1), [0]);
  const p = new RandomGenerator(9).permutation(11);
  assert.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 11 }, (_, i) => i),
  );
  assert.deepEqual(new RandomGenerator(9).permutation(11), p);
  assert.notDeepEqual(new RandomGenerator(10).permutation(11), p);
});

test('float() is one 32-bit draw in [0, 1); random() takes two (53 bits)', () => {
  const a = new RandomGenerator(1);
  const b = new RandomGenerator(1);
  for (let i = 0; i < 1000; i++) {
    const f = a.float();
    assert.ok(f >= 0 && f < 1);
    assert.equal(f, b.nextU32() / 2 ** 32);
  }
  const c = new RandomGenerator(2);
  const d = new RandomGenerator(2);
  c.random();
  d.nextU32();
  d.nextU32();
  assert.equal(c.nextU32(), d.nextU32());
});
