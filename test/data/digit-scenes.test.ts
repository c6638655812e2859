// DigitScenes: labels match pixels, determinism, disjoint train/val digits, edge sizes, bad options; SegMetrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigitScenes, DIGIT_SCENE_MEAN, DIGIT_SCENE_STD } from '../../src/data/digit-scenes.js';
import { IGNORE_INDEX, SegMetrics, argmaxClasses } from '../../src/data/seg-metrics.js';
import { loadDigits } from '../../src/data/mnist.js';

const inBox = (p: { x: number; y: number; side: number }, x: number, y: number, pad: number): boolean =>
  x >= p.x - pad && x < p.x + p.side + pad && y >= p.y - pad && y < p.y + p.side + pad;

test('labels match pixels: digits brighter than background, labels in their digit’s box, ignore only on rims', () => {
  // without the per-scene contrast and brightness (tested below), which may clamp a dark scene's digits
  const d = new DigitScenes({ split: 'train', length: 40, seed: 5, contrast: 0, brightness: 0 });
  let rims = 0;
  let digitPx = 0;
  for (let i = 0; i < d.length; i++) {
    const { image, label, digits } = d.get(i);
    assert.ok(digits.length >= 1 && digits.length <= 3);
    const n = d.size;
    let fg = 0;
    let nf = 0;
    let bg = 0;
    let nb = 0;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const l = label[y * n + x]!;
        const v = image[y * n + x]!;
        assert.ok(v >= 0 && v <= 1);
        if (l === 0) {
          bg += v;
          nb++;
        } else if (l === IGNORE_INDEX) {
          rims++;
          // a rim pixel is just outside a digit's region: in a digit's box grown by grow + 1, next to a labelled pixel
          assert.ok(
            digits.some((p) => inBox(p, x, y, d.grow + 1)),
            `scene ${i}: ignore at (${x}, ${y}) outside every digit`,
          );
          const near = [
            [0, 1],
            [0, -1],
            [1, 0],
            [-1, 0],
            [1, 1],
            [1, -1],
            [-1, 1],
            [-1, -1],
          ].some(([dx, dy]) => {
            const q = label[(y + dy!) * n + x + dx!];
            return (
              x + dx! >= 0 &&
              x + dx! < n &&
              y + dy! >= 0 &&
              y + dy! < n &&
              q !== undefined &&
              q !== 0 &&
              q !== IGNORE_INDEX
            );
          });
          assert.ok(near || digits.length > 1, `scene ${i}: ignore at (${x}, ${y}) not next to a digit pixel`);
        } else {
          assert.ok(l >= 1 && l <= 10);
          assert.ok(
            digits.some((p) => p.digit === l - 1 && inBox(p, x, y, d.grow)),
            `scene ${i}: label ${l} at (${x}, ${y}) outside every digit ${l - 1}`,
          );
          fg += v;
          nf++;
          digitPx++;
        }
      }
    }
    // a digit's region is its ink grown by `grow` px: brighter on average, by less than the ink itself
    if (nf > 0) assert.ok(fg / nf > bg / nb + 0.1, `scene ${i}: digit mean ${fg / nf} vs background ${bg / nb}`);
    // the visible (last) digit owns its pixels: its class appears unless it is too small to keep a labelled pixel
    const last = digits.at(-1)!;
    assert.ok(label.includes(last.digit + 1), `scene ${i}: the top digit ${last.digit} has no labelled pixel`);
  }
  assert.ok(rims > 0 && digitPx > rims, `digit pixels ${digitPx}, rim pixels ${rims}`);
});

test('scene i is a pure function of (seed, split, i); other seeds and splits differ; batch() normalizes', () => {
  const a = new DigitScenes({ split: 'train', length: 10, size: 48, seed: 3 });
  assert.deepEqual(a.get(7), new DigitScenes({ split: 'train', length: 10, size: 48, seed: 3 }).get(7));
  assert.notDeepEqual(a.get(7).image, new DigitScenes({ split: 'train', length: 10, size: 48, seed: 4 }).get(7).image);
  assert.notDeepEqual(a.get(7).image, new DigitScenes({ split: 'val', length: 10, size: 48, seed: 3 }).get(7).image);
  assert.notDeepEqual(a.get(7).image, a.get(6).image);
  const b = a.batch([7, 2]);
  const hw = 48 * 48;
  assert.equal(b.images.length, 2 * hw);
  assert.ok(Math.abs(b.images[hw + 100]! - (a.get(2).image[100]! - DIGIT_SCENE_MEAN) / DIGIT_SCENE_STD) < 1e-6);
  assert.deepEqual([...b.labels.subarray(0, hw)], [...a.get(7).label]);
});

test(
  'per-scene contrast and brightness: pixel = clamp(offset + gain · clean pixel); they spread the scene ' + 'means',
  () => {
    const opts = { split: 'train', length: 64, size: 32, seed: 2 } as const;
    const jit = new DigitScenes(opts);
    const clean = new DigitScenes({ ...opts, contrast: 0, brightness: 0 });
    const sceneMeans = (d: DigitScenes): number[] =>
      Array.from({ length: d.length }, (_, i) => d.get(i).image.reduce((a, v) => a + v, 0) / (32 * 32));
    const sd = (xs: number[]): number => {
      const m = xs.reduce((a, v) => a + v, 0) / xs.length;
      return Math.sqrt(xs.reduce((a, v) => a + (v - m) ** 2, 0) / xs.length);
    };
    const gains: number[] = [];
    for (let i = 0; i < jit.length; i++) {
      const a = jit.get(i);
      const c = clean.get(i);
      assert.deepEqual(a.label, c.label);
      assert.deepEqual(a.digits, c.digits);
      assert.ok(a.gain >= 0.5 && a.gain <= 1.5 && Math.abs(a.offset) <= 0.25, `scene ${i}: ${a.gain}, ${a.offset}`);
      assert.ok(c.gain === 1 && c.offset === 0, `scene ${i}: ${c.gain}, ${c.offset}`);
      for (let q = 0; q < a.image.length; q++) {
        const want = Math.min(1, Math.max(0, a.offset + a.gain * c.image[q]!));
        assert.ok(Math.abs(a.image[q]! - want) < 1e-6, `scene ${i} pixel ${q}: ${a.image[q]} vs ${want}`);
      }
      gains.push(a.gain);
    }
    assert.ok(
      Math.min(...gains) < 0.7 && Math.max(...gains) > 1.3,
      `gains ${Math.min(...gains)}…${Math.max(...gains)}`,
    );
    // the between-scene spread of the mean brightness: what per-image statistics miss
    const [sj, sc] = [sd(sceneMeans(jit)), sd(sceneMeans(clean))];
    assert.ok(sj > 1.5 * sc, `scene-mean spread ${sj} with the transform vs ${sc} without`);
  },
);

test('train and validation scenes use disjoint MNIST images (first 85 % of each class vs the rest)', () => {
  const tr = new DigitScenes({ split: 'train', length: 300, size: 32 });
  const va = new DigitScenes({ split: 'val', length: 300, size: 32 });
  const digits = loadDigits();
  for (let d = 0; d < 10; d++) {
    const [a, b] = tr.sourceRange(d);
    const [c, e] = va.sourceRange(d);
    assert.deepEqual(
      [a, b, c, e],
      [0, Math.floor(0.85 * digits[d]!.count), Math.floor(0.85 * digits[d]!.count), digits[d]!.count],
    );
  }
  const used = (s: DigitScenes): Set<string> => {
    const u = new Set<string>();
    for (let i = 0; i < s.length; i++) for (const p of s.get(i).digits) u.add(`${p.digit}/${p.source}`);
    return u;
  };
  const ut = used(tr);
  const uv = used(va);
  assert.ok(ut.size > 200 && uv.size > 200);
  for (const k of uv) assert.ok(!ut.has(k), `digit ${k} in both splits`);
  for (const k of uv) {
    const [d, src] = k.split('/').map(Number);
    assert.ok(src! >= va.sourceRange(d!)[0], k);
  }
});

test('edge sizes: length 0 and 1, an odd canvas, one digit at most', () => {
  const empty = new DigitScenes({ split: 'val', length: 0 });
  assert.throws(() => empty.get(0), {
    name: 'UsageError',
    message: 'DigitScenes.get: index must be an integer in [0, -1], received 0',
  });
  assert.equal(empty.batch([]).images.length, 0);
  const one = new DigitScenes({ split: 'train', length: 1, size: 33, maxDigits: 1 });
  const s = one.get(0);
  assert.equal(s.image.length, 33 * 33);
  assert.equal(s.digits.length, 1);
  assert.ok(s.digits[0]!.x + s.digits[0]!.side <= 33 && s.digits[0]!.y + s.digits[0]!.side <= 33);
  const tiny = new DigitScenes({ split: 'train', length: 3, size: 8 }).get(2);
  assert.equal(tiny.label.length, 64);
});

test('bad options name the option, the expectation and the value', () => {
  const bad: [object, string][] = [
    [{ split: 'test', length: 1 }, 'DigitScenes: split must be "train" or "val", received "test"'],
    [{ split: 'train', length: -1 }, 'DigitScenes: length must be an integer in [0, 2000000], received -1'],
    [{ split: 'train', length: 1.5 }, 'DigitScenes: length must be an integer in [0, 2000000], received 1.5'],
    [{ split: 'train', length: 1, size: 7 }, 'DigitScenes: size must be an integer in [8, 1024], received 7'],
    [{ split: 'train', length: 1, seed: -2 }, 'DigitScenes: seed must be an integer in [0, 2^30], received -2'],
    [{ split: 'train', length: 1, maxDigits: 0 }, 'DigitScenes: maxDigits must be an integer in [1, 16], received 0'],
    [
      { split: 'train', length: 1, minScale: 1.2, maxScale: 1 },
      'DigitScenes: maxScale must be a number in [minScale = 1.2, 2], received 1',
    ],
    [
      { split: 'train', length: 1, trainFraction: 1 },
      'DigitScenes: trainFraction must be a number in (0, 1), received 1',
    ],
    [{ split: 'train', length: 1, contrast: 1 }, 'DigitScenes: contrast must be a number in [0, 1), received 1'],
    [
      { split: 'train', length: 1, brightness: -0.1 },
      'DigitScenes: brightness must be a number in [0, 1], received -0.1',
    ],
  ];
  for (const [o, msg] of bad) assert.throws(() => new DigitScenes(o as never), { name: 'UsageError', message: msg });
  assert.throws(
    () => new DigitScenes({ split: 'train', length: 4 }).get(4),
    /index must be an integer in \[0, 3\], received 4/,
  );
});

test('SegMetrics: pixel accuracy and mIoU from the confusion matrix, ignore index skipped; argmax over classes', () => {
  const m = new SegMetrics(3);
  m.add([0, 1, 1, 2, 0, 2], [0, 1, 2, 2, IGNORE_INDEX, 1]);
  assert.equal(m.pixelAccuracy(), 3 / 5);
  // IoU: class 0: 1/1; class 1: tp 1, fp 1, fn 1 → 1/3; class 2: tp 1, fp 1, fn 1 → 1/3
  assert.ok(Math.abs(m.meanIoU() - (1 + 1 / 3 + 1 / 3) / 3) < 1e-12);
  assert.equal(new SegMetrics(2).pixelAccuracy(), 0);
  assert.equal(new SegMetrics(2).meanIoU(), 0);
  // logits (n=1, k=3, hw=2): pixel 0 → class 2, pixel 1 → class 0
  assert.deepEqual([...argmaxClasses([0, 5, 1, -1, 3, -2], 1, 3, 2)], [2, 0]);
});
