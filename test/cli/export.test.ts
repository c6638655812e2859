// `syncbn export`: safetensors + architecture name → a checked ONNX file; bad input exits 2 naming the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkOnnxModel } from '../../src/onnx/index.js';
import { demoModelDir, syncbn } from './helpers.js';

test('export writes an ONNX file with the weights under their names and a dynamic batch', () => {
  const dir = demoModelDir();
  const r = syncbn(
    [
      'export',
      'demo.safetensors',
      '--arch',
      'demo',
      '--opt',
      'width=4',
      '--onnx',
      'demo.onnx',
      '--input',
      '1,1,64,64',
      '--dynamic-batch',
    ],
    dir,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^wrote demo\.onnx: \d+ bytes, opset 18, 17 nodes, input \[N, 1, 64, 64\] → output \[N, 11, 64, 64\]\n$/,
  );
  const bytes = readFileSync(join(dir, 'demo.onnx'));
  const info = checkOnnxModel(bytes);
  assert.deepEqual(info.inputs[0]!.shape, [null, 1, 64, 64]);
  assert.ok(bytes.toString('latin1').includes('3.running_var'));
});

test('export: bad input exits 2 (usage) or 1 (failure) with a message naming the problem', () => {
  const dir = demoModelDir();
  const base = ['export', 'demo.safetensors', '--arch', 'demo', '--opt', 'width=4', '--onnx', 'x.onnx'];
  let r = syncbn(base, dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^syncbn export: --input N,C,H,W is required \(the forward pass is traced at this shape\)\n/);
  r = syncbn([...base, '--input', '1,1,x,64'], dir);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^syncbn export: --input must be comma-separated positive integers such as 1,1,64,64, received "1,1,x,64"/,
  );
  r = syncbn(['export', 'demo.safetensors', '--arch', 'nope', '--onnx', 'x.onnx', '--input', '1,1,64,64'], dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^syncbn export: UsageError: createModel: name must be one of "demo"/);
  // width 16 ≠ saved 4
  r = syncbn(['export', 'demo.safetensors', '--arch', 'demo', '--onnx', 'x.onnx', '--input', '1,1,64,64'], dir);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^syncbn export: ShapeError: loadStateDict: 0\.weight: shape in state dict \[4, 1, 3, 3\] does not match the module's \[16, 1, 3, 3\]/,
  );
  r = syncbn([...base.slice(0, -1), join('no', 'such', 'dir', 'x.onnx'), '--input', '1,1,64,64'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^syncbn export: IOError: exportOnnx: could not write "no\/such\/dir\/x\.onnx": ENOENT/);
  assert.ok(!existsSync(join(dir, 'x.onnx')));
});
