// The large float32 sums of the collectives (wasm axpy) equal the plain per-element loop bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAST_SUM_MIN, reduceInto } from '../../src/comm/reduce.js';
import { OPS } from '../../src/comm/wire.js';
import { allocF32, heapPointer, release } from '../../src/kernels/wasm/heap.js';

const sumF32Into = (d: Float32Array, at: number, s: Float32Array): void => reduceInto(d, at, s, OPS.indexOf('sum'));

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // wide exponent range, so additions round (and cancel) in every way they can
    a[i] = (s / 2 ** 32 - 0.5) * 2 ** (((s >>> 7) % 40) - 20);
  }
  return a;
}

test(
  'reduceInto sum, float32: equals d[at+i] += s[i] bitwise for heap and plain destinations, any offset, sizes ' +
    'across the slice boundary',
  () => {
    for (const n of [0, 1, 7, FAST_SUM_MIN - 1, FAST_SUM_MIN, 65536, 65536 + 3, 3 * 65536 + 5]) {
      for (const at of [0, 5]) {
        const s = random(n, n + 1);
        const shared = new Float32Array(new SharedArrayBuffer(n * 4));
        shared.set(s);
        const base = random(n + at, n + 2);
        const want = base.slice();
        for (let i = 0; i < n; i++) want[at + i] = want[at + i]! + s[i]!;
        const plain = base.slice();
        sumF32Into(plain, at, shared);
        assert.deepEqual(new Uint32Array(plain.buffer), new Uint32Array(want.buffer), `plain n=${n} at=${at}`);
        const heap = allocF32(n + at);
        heap.set(base);
        sumF32Into(heap, at, s);
        assert.ok(heapPointer(heap) >= 0);
        assert.deepEqual(new Uint32Array(heap.slice().buffer), new Uint32Array(want.buffer), `heap n=${n} at=${at}`);
        release(heapPointer(heap));
      }
    }
  },
);

test('reduceInto sum, float32: NaN and ±Infinity propagate as in the scalar loop', () => {
  const n = FAST_SUM_MIN + 9;
  const d = new Float32Array(n).fill(1);
  const s = new Float32Array(n).fill(2);
  s[3] = NaN;
  s[n - 1] = Infinity;
  d[n - 1] = -Infinity;
  d[10] = Infinity;
  sumF32Into(d, 0, s);
  assert.ok(Number.isNaN(d[3]!));
  assert.ok(Number.isNaN(d[n - 1]!));
  assert.equal(d[10], Infinity);
  assert.equal(d[0], 3);
});
