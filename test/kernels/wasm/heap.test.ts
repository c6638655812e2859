// The wasm heap allocator: alignment, reuse by size class, views that survive memory growth, double free.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  alloc,
  release,
  allocF32,
  f32View,
  heapPointer,
  heapStats,
  sizeClass,
  withScratch,
} from '../../../src/kernels/wasm/heap.js';
import { UsageError } from '../../../src/errors.js';

test('blocks are 64-byte aligned and sized by class', () => {
  for (const n of [0, 1, 63, 64, 65, 4096, 4097, 100_000]) {
    const p = alloc(n);
    assert.equal(p % 64, 0);
    assert.ok(sizeClass(n) >= n);
    release(p);
  }
  assert.ok(sizeClass(100_000) <= 100_000 * 1.125);
});

test('a released block is reused for the same size class, so a steady loop does not grow the heap', () => {
  const sizes = [1000, 37, 5000, 1 << 20];
  const step = (): void => {
    const ps = sizes.map((s) => alloc(s));
    for (const p of ps) release(p);
  };
  step();
  const before = heapStats().reservedBytes;
  for (let i = 0; i < 50; i++) step();
  assert.equal(heapStats().reservedBytes, before);
});

test('views stay valid when the memory grows', () => {
  const a = allocF32(16);
  a.fill(7);
  const big = alloc(64 << 20); // forces a grow
  assert.deepEqual([...a], new Array(16).fill(7));
  assert.equal(heapPointer(a) >= 0, true);
  assert.deepEqual([...f32View(heapPointer(a), 16)], new Array(16).fill(7));
  release(big);
  release(heapPointer(a));
  assert.equal(heapPointer(new Float32Array(4)), -1);
});

test('double free is a usage error that names the pointer', () => {
  const p = alloc(8);
  release(p);
  assert.throws(
    () => release(p),
    (e: unknown) => e instanceof UsageError && /pointer \d+ is not a live heap block/.test(e.message),
  );
  assert.throws(() => alloc(-1), /bytes must be a non-negative integer, received -1/);
});

test('withScratch releases everything it took, even on throw', () => {
  const live = heapStats().liveBytes;
  assert.throws(() =>
    withScratch((take) => {
      take(100);
      take(200);
      throw new Error('boom');
    }),
  );
  assert.equal(heapStats().liveBytes, live);
});
