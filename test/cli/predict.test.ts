// `syncbn predict`: both backends on .npy and PNG images give the same predictions; masks and timings are written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { RandomGenerator, parseNpy, Tensor, writeNpy } from '../../src/index.js';
import { classColour } from '../../src/cli/images.js';
import { demoModelDir, syncbn } from './helpers.js';

async function setup(): Promise<string> {
  const dir = demoModelDir();
  const e = syncbn(
    ['export', 'demo.safetensors', '--arch', 'demo', '--opt', 'width=4', '--onnx', 'demo.onnx', '--input', '1,1,64,64'],
    dir,
  );
  assert.equal(e.code, 0, e.stderr);
  const img = Tensor.rand([1, 64, 64], { generator: new RandomGenerator(5) });
  await writeNpy(join(dir, 'a.npy'), img.data, [1, 64, 64]);
  const png = new PNG({ width: 64, height: 64 });
  for (let p = 0; p < 64 * 64; p++) png.data.set([(p * 7) % 256, (p * 7) % 256, (p * 7) % 256, 255], 4 * p);
  writeFileSync(join(dir, 'b.png'), PNG.sync.write(png));
  return dir;
}

test('predict with ONNX Runtime and with our engine: same logits (1e-4), masks, per-image times', async () => {
  const dir = await setup();
  const a = syncbn(['predict', 'demo.onnx', 'a.npy', 'b.png', '--mean', '0.3', '--std', '0.25', '--out', 'ort'], dir);
  assert.equal(a.code, 0, a.stderr);
  assert.match(
    a.stdout,
    /^a\.npy: mask 64×64 of 11 classes → a\.mask\.png, \d+\.\d\d ms \(onnxruntime\)\nb\.png: mask 64×64 of 11 classes → b\.mask\.png, \d+\.\d\d ms \(onnxruntime\)\n$/,
  );
  const b = syncbn(
    [
      'predict',
      'demo.safetensors',
      'a.npy',
      'b.png',
      '--arch',
      'demo',
      '--opt',
      'width=4',
      '--mean',
      '0.3',
      '--std',
      '0.25',
      '--out',
      'ours',
    ],
    dir,
  );
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /\(syncbn\)\n$/);
  for (const name of ['a', 'b']) {
    const x = parseNpy(readFileSync(join(dir, 'ort', `${name}.logits.npy`)));
    const y = parseNpy(readFileSync(join(dir, 'ours', `${name}.logits.npy`)));
    assert.deepEqual(x.shape, [1, 11, 64, 64]);
    let scale = 0;
    for (const v of y.data) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < x.data.length; i++)
      assert.ok(Math.abs(x.data[i]! - y.data[i]!) <= 1e-4 * (Math.abs(y.data[i]!) + scale), `${name} logit ${i}`);
    // the mask PNG is the palette colour of the .mask.npy class at every pixel
    const cls = parseNpy(readFileSync(join(dir, 'ours', `${name}.mask.npy`)));
    const png = PNG.sync.read(readFileSync(join(dir, 'ours', `${name}.mask.png`)));
    assert.deepEqual([png.width, png.height], [64, 64]);
    for (let p = 0; p < 64 * 64; p += 97)
      assert.deepEqual([...png.data.subarray(4 * p, 4 * p + 3)], classColour(cls.data[p]!));
  }
});

test('predict: corrupt ONNX, missing --arch, wrong channels and unknown extensions name the problem', async () => {
  const dir = await setup();
  writeFileSync(join(dir, 'junk.onnx'), 'not a model');
  let r = syncbn(['predict', 'junk.onnx', 'a.npy', '--out', 'o'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^syncbn predict: IOError: junk\.onnx: not a valid ONNX model \(protobuf decoding failed: /);
  r = syncbn(['predict', 'demo.safetensors', 'a.npy', '--out', 'o'], dir);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^syncbn predict: UsageError: syncbn predict: --arch NAME is required with a \.safetensors model/,
  );
  await writeNpy(join(dir, 'rgb.npy'), new Float32Array(3 * 64 * 64), [3, 64, 64]);
  r = syncbn(['predict', 'demo.onnx', 'rgb.npy', '--out', 'o'], dir);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^syncbn predict: ShapeError: rgb\.npy: the model takes 1 channel\(s\), the image has 3 \(shape \[3, 64, 64\]\)/,
  );
  r = syncbn(['predict', 'demo.onnx', 'a.jpg', '--out', 'o'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^syncbn predict: IOError: could not read image "a\.jpg": ENOENT/);
  writeFileSync(join(dir, 'a.jpg'), 'x');
  r = syncbn(['predict', 'demo.onnx', 'a.jpg', '--out', 'o'], dir);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^syncbn predict: UsageError: image "a\.jpg": expected a \.npy or \.png file, received extension "\.jpg"/,
  );
  r = syncbn(['predict', 'demo.onnx', 'a.npy', '--std', '0', '--out', 'o'], dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^syncbn predict: --std must be a positive number, received "0"/);
  r = syncbn(['predict', 'demo.onnx', 'a.npy'], dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^syncbn predict: --out DIR is required/);
});
