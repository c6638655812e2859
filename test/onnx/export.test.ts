// ONNX export round trips: ONNX Runtime's output equals ours (eval mode) for every exportable op and the segmentation
// net.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, exportOnnx, RandomGenerator, Tensor, type ExportableModule } from '../../src/index.js';
import { checkOnnxModel } from '../../src/onnx/index.js';
import { AllOps, Functional, randomizeNorms, segStandIn } from './models.js';
import { assertMatch, ort, ours } from './roundtrip.js';

const rnd = (shape: number[], seed: number): Tensor => Tensor.randn(shape, { generator: new RandomGenerator(seed) });

test(
  'every exportable op: ONNX Runtime equals ours to 1e-4 (odd sizes, groups, dilation, stride 2, SyncBN, ' + 'BN+ReLU)',
  async () => {
    const m = new AllOps(1).eval();
    randomizeNorms(m, 2);
    const x = rnd([3, 3, 13, 11], 3);
    const bytes = exportOnnx(m, { input: x });
    const info = checkOnnxModel(bytes);
    assert.equal(info.opset, 18);
    for (const op of [
      'Conv',
      'BatchNormalization',
      'Relu',
      'MaxPool',
      'AveragePool',
      'GlobalAveragePool',
      'Resize',
      'Concat',
      'Add',
      'Reshape',
      'Flatten',
      'Gemm',
      'MatMul',
      'Transpose',
      'InstanceNormalization',
      'Mul',
    ]) {
      assert.ok(info.opTypes.includes(op), `graph has no ${op}: ${info.opTypes.join(' ')}`);
    }
    assert.ok(!info.opTypes.includes('Dropout'));
    // SyncBN and Sequential's fused BN → ReLU: BatchNormalization then Relu, each.
    assert.equal(info.opTypes.filter((o) => o === 'BatchNormalization').length, 3);
    assertMatch(await ort(bytes, x), ours(m, x));
    assertMatch(await ort(bytes, x, 'all'), ours(m, x));
    // opset 21: GroupNorm as one GroupNormalization node (per-channel γ, β) instead of the decomposition
    const b21 = exportOnnx(m, { input: x, opset: 21 });
    const ops21 = checkOnnxModel(b21).opTypes;
    assert.ok(ops21.includes('GroupNormalization') && !ops21.includes('InstanceNormalization'), ops21.join(' '));
    assertMatch(await ort(b21, x), ours(m, x));
  },
);

test('the demo network (createModel("demo"), BN and GroupNorm): ONNX Runtime equals ours to 1e-4', async () => {
  const m = createModel('demo', { seed: 4 }) as ExportableModule;
  randomizeNorms(m, 5);
  m.eval();
  const x = rnd([2, 1, 64, 64], 6);
  const bytes = exportOnnx(m, { input: [2, 1, 64, 64] });
  assertMatch(await ort(bytes, x), ours(m, x));
  // the demo's GroupNorm configuration
  const gn = createModel('demo', { seed: 4, norm: 'groupnorm', width: 6 }) as ExportableModule;
  randomizeNorms(gn, 5);
  gn.eval();
  const gb = exportOnnx(gn, { input: [2, 1, 64, 64] });
  assert.ok(checkOnnxModel(gb).opTypes.includes('InstanceNormalization'));
  assertMatch(await ort(gb, x), ours(gn, x));
  // a stand-in of another shape: 3 channels, a non-square odd-multiple size
  const s = segStandIn(4).eval();
  randomizeNorms(s, 5);
  const y = rnd([2, 3, 20, 28], 6);
  assertMatch(await ort(exportOnnx(s, { input: y }), y), ours(s, y));
});

test(
  'functional calls inside a custom forward are traced (upsampleBilinear, adaptiveAvgPool2d, add); GroupNorm ' +
    'without affine',
  async () => {
    const m = new Functional().eval();
    const x = rnd([1, 2, 5, 7], 7);
    const bytes = exportOnnx(m, { input: [1, 2, 5, 7] });
    assert.deepEqual(checkOnnxModel(bytes).opTypes, [
      'Conv',
      'Reshape',
      'InstanceNormalization',
      'Reshape',
      'GlobalAveragePool',
      'Resize',
      'Add',
    ]);
    assertMatch(await ort(bytes, x), ours(m, x));
  },
);

test('dynamic batch: one file runs at batch 1 and 5, equal to ours', async () => {
  const m = new AllOps(8).eval();
  randomizeNorms(m, 9);
  const bytes = exportOnnx(m, { input: [2, 3, 13, 11], dynamicBatch: true });
  const info = checkOnnxModel(bytes);
  assert.deepEqual(info.inputs[0]!.shape, [null, 3, 13, 11]);
  assert.deepEqual(info.outputs[0]!.shape, [null, 7]);
  for (const n of [1, 5]) {
    const x = rnd([n, 3, 13, 11], 10 + n);
    assertMatch(await ort(bytes, x), ours(m, x));
  }
  // Without dynamicBatch the traced batch is fixed: ORT refuses another one.
  const fixed = exportOnnx(m, { input: [2, 3, 13, 11] });
  await assert.rejects(ort(fixed, rnd([5, 3, 13, 11], 1)), {
    name: 'UsageError',
    message: /ONNX Runtime rejected input of shape \[5, 3, 13, 11\] \(model input "input" has shape \[2, 3, 13, 11\]\)/,
  });
});

test(
  'weights are initializers under their state-dict names; the file is written atomically when path is ' + 'given',
  async () => {
    const { mkdtempSync, readFileSync, readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-onnx-'));
    const m = segStandIn(0).eval();
    const path = join(dir, 'seg.onnx');
    const bytes = exportOnnx(m, { input: [1, 3, 8, 8], path, opset: 21 });
    assert.ok(Buffer.from(bytes).equals(readFileSync(path)));
    assert.deepEqual(readdirSync(dir), ['seg.onnx']);
    assert.equal(checkOnnxModel(bytes).opset, 21);
    const text = Buffer.from(bytes).toString('latin1');
    for (const k of Object.keys(m.stateDict())) {
      if (k.endsWith('num_batches_tracked'))
        assert.ok(!text.includes(k), `${k} is not used by inference and must not be exported`);
      else assert.ok(text.includes(k), `initializer ${k} missing`);
    }
  },
);

test('training mode: warns, exports eval semantics, and restores each module’s mode', async () => {
  const m = new AllOps(2);
  randomizeNorms(m, 3);
  m.train();
  m.drop.training = false; // a mixed state must come back as it was
  const warnings: Error[] = [];
  const onWarn = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarn);
  const x = rnd([2, 3, 13, 11], 4);
  let bytes: Uint8Array;
  try {
    bytes = exportOnnx(m, { input: x });
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarn);
  }
  assert.equal(warnings.length, 1);
  assert.equal((warnings[0] as Error & { code: string }).code, 'SYNCBN_ONNX_TRAINING');
  assert.match(warnings[0]!.message, /training mode; it is exported with eval semantics/);
  assert.equal(m.training, true);
  assert.equal(m.drop.training, false);
  assert.equal(m.stem.training, true);
  assertMatch(await ort(bytes, x), ours(m, x)); // ours() runs in eval
});
