// The synthetic segmentation dataset: deterministic per (seed, index), labels in range, every class present; the metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapesDataset, SegMetrics, IGNORE_INDEX } from '../../src/parallel/shapes.js';

test('sample i is a pure function of (seed, i); labels are classes 0..3 or the ignore index', () => {
  const d = new ShapesDataset({ length: 40, size: 24, seed: 3 });
  assert.deepEqual(d.get(7), new ShapesDataset({ length: 40, size: 24, seed: 3 }).get(7));
  assert.notDeepEqual(d.get(7).label, new ShapesDataset({ length: 40, size: 24, seed: 4 }).get(7).label);
  const seen = new Set<number>();
  for (let i = 0; i < d.length; i++) {
    const s = d.get(i);
    assert.equal(s.image.length, 3 * 24 * 24);
    for (const v of s.label) seen.add(v);
    for (const v of s.image) assert.ok(Number.isFinite(v));
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), [0, 1, 2, 3, IGNORE_INDEX]);
  const b = d.batch([7, 2]);
  assert.deepEqual(b.images.subarray(0, 3 * 24 * 24), d.get(7).image);
  assert.deepEqual(b.labels.subarray(24 * 24), d.get(2).label);
  assert.throws(() => d.get(40), /index must be an integer in \[0, 39\], received 40/);
  assert.throws(() => new ShapesDataset({ length: 1, size: 4 }), /size must be an integer in \[8, 1024\], received 4/);
});

test('pixel accuracy and mIoU from the confusion matrix, ignore index skipped', () => {
  const m = new SegMetrics(3);
  m.add([0, 1, 1, 2, 0, 2], [0, 1, 2, 2, IGNORE_INDEX, 1]);
  assert.equal(m.pixelAccuracy(), 3 / 5);
  // IoU: class 0: 1/1; class 1: tp 1, fp 1 (pred 1 for label 2), fn 1 (label 1 → pred 2) → 1/3; class 2: tp 1, fp 1, fn 1 → 1/3
  assert.ok(Math.abs(m.meanIoU() - (1 + 1 / 3 + 1 / 3) / 3) < 1e-12);
  assert.equal(new SegMetrics(2).pixelAccuracy(), 0);
});
