// The digits as data: packDigits/unpackDigits round trip, their errors, and DigitScenes drawing from given digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigitScenes } from '../../src/data/digit-scenes.js';
import { DIGIT_SIDE, packDigits, unpackDigits, type DigitClass } from '../../src/data/digits.js';
import { loadDigits } from '../../src/data/mnist.js';
import { IOError, UsageError } from '../../src/errors.js';

const P = DIGIT_SIDE * DIGIT_SIDE;

/** 10 classes of 0…2 images with distinct pixel values. */
function tiny(): DigitClass[] {
  return Array.from({ length: 10 }, (_, d) => {
    const count = d % 3;
    return { count, pixels: Float32Array.from({ length: count * P }, (_, i) => (d * 1000 + i) / 1e4) };
  });
}

test('packDigits/unpackDigits round-trip, into a SharedArrayBuffer too, views without a copy', () => {
  const classes = tiny();
  const bytes = packDigits(classes);
  assert.equal(bytes.byteLength, 40 + classes.reduce((a, c) => a + c.count, 0) * P * 4);
  const back = unpackDigits(bytes.buffer);
  assert.deepEqual(
    back.map((c) => c.count),
    classes.map((c) => c.count),
  );
  for (let d = 0; d < 10; d++) assert.deepEqual(back[d]!.pixels, classes[d]!.pixels);
  const shared = packDigits(classes, (n) => new SharedArrayBuffer(n));
  assert.ok(shared.buffer instanceof SharedArrayBuffer);
  const views = unpackDigits(shared.buffer);
  assert.equal(views[4]!.pixels.buffer, shared.buffer, 'a view of the shared buffer');
});

test('unpackDigits names what is wrong with a damaged buffer', () => {
  assert.throws(
    () => unpackDigits(new ArrayBuffer(12), 'x.bin'),
    (e: unknown) => e instanceof IOError && e.message === 'x.bin: need at least 40 bytes, received 12',
  );
  const bytes = packDigits(tiny());
  const cut = bytes.buffer.slice(0, bytes.byteLength - 4);
  assert.throws(
    () => unpackDigits(cut),
    /^IOError: packed digits: counts \[0,1,2,0,1,2,0,1,2,0\] need 28264 bytes, received 28260$/,
  );
});

test('DigitScenes from given digits: the same scenes as from the installed package; other digits, other scenes', () => {
  const given = unpackDigits(packDigits(loadDigits()).buffer);
  for (const split of ['train', 'val'] as const) {
    const a = new DigitScenes({ split, length: 6, size: 24, seed: 2 });
    const b = new DigitScenes({ split, length: 6, size: 24, seed: 2, digits: given });
    for (let i = 0; i < 6; i++) assert.deepEqual(b.get(i), a.get(i), `${split} scene ${i}`);
  }
  const inverted = loadDigits().map((c) => ({ count: c.count, pixels: c.pixels.map((v) => 1 - v) }));
  const c = new DigitScenes({ split: 'train', length: 2, size: 24, seed: 2, digits: inverted });
  assert.notDeepEqual(c.get(0).image, new DigitScenes({ split: 'train', length: 2, size: 24, seed: 2 }).get(0).image);
});

test('DigitScenes checks its digits option', () => {
  const bad = (digits: unknown, received: string): void =>
    assert.throws(
      () => new DigitScenes({ split: 'train', length: 1, digits: digits as DigitClass[] }),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message === `DigitScenes: digits must be an array of 10 digit classes, received ${received}`,
    );
  bad(tiny().slice(0, 9), '"9 classes"');
  bad('x', '"x"');
});
