// safetensors: byte format, round trip, loading PyTorch's file, atomic writes, malformed files; Python reads ours where
// torch is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../src/tensor/tensor.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadModule,
  loadSafetensors,
  saveModule,
  saveSafetensors,
} from '../../src/io/safetensors.js';
import { TinyCNN } from '../helpers/tiny-cnn.js';
import { findTorchPython } from '../helpers/python.js';
import { fixture } from '../helpers/close.js';

const repo = (rel: string): string => fileURLToPath(new URL(`../../../${rel}`, import.meta.url));
const init = fixture<{ init: Record<string, number[]> }>('stack/tiny_cnn.json').init;

function torchInitModel(): TinyCNN {
  const m = new TinyCNN();
  const shapes = Object.fromEntries(Object.entries(m.stateDict()).map(([n, t]) => [n, t.shape]));
  m.loadStateDict(Object.fromEntries(Object.entries(init).map(([n, v]) => [n, Tensor.from(v, shapes[n])])));
  return m;
}

test(
  'the bytes follow the format: LE u64 header length, padded JSON header (dtype/shape/data_offsets), raw LE ' +
    'float32',
  () => {
    const a = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = Tensor.from([-0.5]);
    const buf = encodeSafetensors({ a, b }, { note: 'x' });
    const n = Number(buf.readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const h = JSON.parse(buf.subarray(8, 8 + n).toString());
    assert.deepEqual(h, {
      __metadata__: { note: 'x' },
      a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      b: { dtype: 'F32', shape: [1], data_offsets: [24, 28] },
    });
    assert.equal(buf.length, 8 + n + 28);
    assert.equal(buf.readFloatLE(8 + n + 4 * 5), 6);
    assert.equal(buf.readFloatLE(8 + n + 24), -0.5);
    const back = decodeSafetensors(buf);
    assert.deepEqual(back.tensors.a!.shape, [2, 3]);
    assert.deepEqual(back.tensors.a!.toArray(), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(back.metadata, { note: 'x' });
  },
);

test("PyTorch's file (int64 num_batches_tracked) loads into the same model, equal to the fixture's weights", () => {
  const m = new TinyCNN();
  loadModule(repo('fixtures/stack/tiny_cnn_torch.safetensors'), m);
  const ref = torchInitModel();
  const sd = m.stateDict();
  for (const [n, t] of Object.entries(ref.stateDict())) assert.deepEqual(sd[n]!.toArray(), t.toArray(), n);
  assert.equal(sd['bn1.num_batches_tracked']!.item(), 0);
});

test('save/load round trip through a file, written atomically (no temp file left, old file kept on failure)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-st-'));
  try {
    const path = join(dir, 'ckpt.safetensors');
    const m = torchInitModel();
    saveModule(path, m, { step: '5' });
    const { tensors, metadata } = loadSafetensors(path);
    assert.deepEqual(metadata, { format: 'pt', step: '5' });
    assert.deepEqual(Object.keys(tensors), Object.keys(m.stateDict()));
    const m2 = new TinyCNN();
    loadModule(path, m2);
    for (const [n, t] of Object.entries(m.stateDict())) assert.deepEqual(m2.stateDict()[n]!.toArray(), t.toArray(), n);
    const before = readFileSync(path);
    const dead = Tensor.zeros([2]);
    dead.dispose();
    assert.throws(() => saveSafetensors(path, { w: dead }), { name: 'StateError' });
    assert.throws(() => saveSafetensors(join(dir, 'missing', 'x.safetensors'), { w: Tensor.zeros([1]) }), {
      name: 'IOError',
      message: /^saveSafetensors: could not write ".*missing\/x\.safetensors": ENOENT/,
    });
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(readdirSync(dir), ['ckpt.safetensors']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed files are IOErrors that say what is wrong', () => {
  const good = encodeSafetensors({ a: Tensor.from([1, 2]) });
  assert.throws(() => decodeSafetensors(good.subarray(0, 5)), {
    name: 'IOError',
    message:
      'loadSafetensors: buffer is not a valid safetensors file: it has 5 bytes, fewer than the 8-byte header length',
  });
  assert.throws(() => decodeSafetensors(good.subarray(0, good.length - 1)), {
    name: 'IOError',
    message:
      'loadSafetensors: buffer is not a valid safetensors file: tensor "a" has data_offsets [0,8] outside the 7 ' +
      'data bytes',
  });
  const big = Buffer.from(good);
  big.writeBigUInt64LE(10n ** 6n, 0);
  assert.throws(() => decodeSafetensors(big), {
    name: 'IOError',
    message: /header length 1000000 exceeds the file size/,
  });
  const hdr = (h: object, data = 0): Buffer => {
    const j = Buffer.from(JSON.stringify(h));
    const b = Buffer.alloc(8 + j.length + data);
    b.writeBigUInt64LE(BigInt(j.length), 0);
    j.copy(b, 8);
    return b;
  };
  assert.throws(() => decodeSafetensors(hdr({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, 8)), {
    message: /tensor "a" has unsupported dtype "C64"/,
  });
  assert.throws(() => decodeSafetensors(hdr({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8)), {
    message: /tensor "a" of shape \[3\] and dtype F32 needs 12 bytes, its data_offsets span 8/,
  });
  assert.throws(() => decodeSafetensors(hdr({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8)), {
    message: /tensor "a" starts at byte 4, expected 0/,
  });
  assert.throws(() => loadSafetensors('/nonexistent/x.safetensors'), {
    name: 'IOError',
    message: /^loadSafetensors: could not read \/nonexistent\/x\.safetensors/,
  });
});

// Python check: where Debian's torch is installed, the generator loads a file we wrote into torch's TinyCNN.
const py = findTorchPython();
test(
  'PyTorch loads a file we wrote (scripts/gen_stack_fixtures.py --verify)',
  { skip: py !== null ? false : 'no python3 with torch (PATH python3 or /usr/bin/python3)' },
  () => {
    if (py === null) return;
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-st-'));
    try {
      const path = join(dir, 'ours.safetensors');
      saveModule(path, torchInitModel());
      const r = spawnSync(py, [repo('scripts/gen_stack_fixtures.py'), '--verify', path], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /loads into torch TinyCNN \(16 tensors, metadata \{'format': 'pt'\}\): OK/);
      writeFileSync(path, encodeSafetensors({ 'conv1.weight': Tensor.zeros([16, 3, 3, 3]) }));
      assert.notEqual(
        spawnSync(py, [repo('scripts/gen_stack_fixtures.py'), '--verify', path], { encoding: 'utf8', timeout: 120_000 })
          .status,
        0,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
