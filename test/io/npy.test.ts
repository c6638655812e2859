// .npy files: numpy-written fixtures read back, our writer byte-identical to numpy.save, round trips, and every
// rejection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatNpy, parseNpy, readNpy, writeNpy } from '../../src/io/npy.js';
import { IOError, ShapeError, UsageError } from '../../src/errors.js';
import { throwsLike } from '../helpers/errors.js';

const dir = fileURLToPath(new URL('../../../fixtures/npy/', import.meta.url));
const fixture = (name: string): Uint8Array => readFileSync(join(dir, name));
/** The values scripts/gen_npy_fixtures.py writes: arange(n)·0.5 − 1 in C order. */
const ramp = (n: number): number[] => Array.from({ length: n }, (_, i) => i * 0.5 - 1);

test('reads numpy-written float32/float64 arrays of rank 0–3, including empty', async () => {
  const cases: Array<[string, string, number[], number[]]> = [
    ['f32_2x3.npy', 'float32', [2, 3], ramp(6)],
    ['f64_2x3x4.npy', 'float64', [2, 3, 4], ramp(24)],
    ['f64_5.npy', 'float64', [5], ramp(5)],
    ['f32_0x3.npy', 'float32', [0, 3], []],
    ['f64_scalar.npy', 'float64', [], [-1]],
  ];
  for (const [name, dtype, shape, values] of cases) {
    const a = await readNpy(join(dir, name));
    assert.equal(a.dtype, dtype, name);
    assert.deepEqual(a.shape, shape, name);
    assert.ok(a.data instanceof (dtype === 'float32' ? Float32Array : Float64Array), name);
    assert.deepEqual([...a.data], values, name);
  }
});

test('the writer produces the exact bytes numpy.save wrote', () => {
  const same: Array<[string, Float32Array | Float64Array, number[]]> = [
    ['f32_2x3.npy', Float32Array.from(ramp(6)), [2, 3]],
    ['f64_2x3x4.npy', Float64Array.from(ramp(24)), [2, 3, 4]],
    ['f64_5.npy', Float64Array.from(ramp(5)), [5]],
    ['f32_0x3.npy', new Float32Array(0), [0, 3]],
    ['f64_scalar.npy', Float64Array.from([-1]), []],
  ];
  for (const [name, data, shape] of same) assert.deepEqual(formatNpy(data, shape), new Uint8Array(fixture(name)), name);
});

test('round trip through a file keeps dtype, shape and every bit (NaN, ±Inf, −0, subnormals)', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'syncbn-npy-'));
  try {
    const f32 = Float32Array.from([NaN, Infinity, -Infinity, -0, 1e-45, 3.4e38, 0.1, 7]);
    const f64 = Float64Array.from([Math.PI, -0, 5e-324, Number.MAX_VALUE, NaN, 1, 2, 3, 4, 5, 6, 7]);
    await writeNpy(join(tmp, 'a.npy'), f32, [2, 2, 2]);
    await writeNpy(join(tmp, 'b.npy'), f64, [3, 4]);
    const a = await readNpy(join(tmp, 'a.npy'));
    const b = await readNpy(join(tmp, 'b.npy'));
    assert.deepEqual(a.shape, [2, 2, 2]);
    assert.deepEqual(new Uint8Array(a.data.buffer), new Uint8Array(f32.buffer));
    assert.deepEqual(b.shape, [3, 4]);
    assert.deepEqual(new Uint8Array(b.data.buffer), new Uint8Array(f64.buffer));
    // a view into a bigger buffer writes only its own elements; parse works at an odd byte offset
    const big = Float32Array.from([9, 1, 2, 3, 9]);
    const bytes = formatNpy(big.subarray(1, 4), [3]);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    assert.deepEqual([...parseNpy(shifted.subarray(1)).data], [1, 2, 3]);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test(
  'rejects Fortran order, other dtypes, big-endian, bad magic, truncation — IOError naming what was ' + 'found',
  async () => {
    throwsLike(
      () => parseNpy(fixture('f32_fortran_3x2.npy'), 'f.npy'),
      IOError,
      'npy: f.npy is in Fortran order (fortran_order: True), expected C order; save it with np.ascontiguousarray',
    );
    throwsLike(
      () => parseNpy(fixture('i32_4.npy'), 'i.npy'),
      IOError,
      "npy: i.npy has dtype '<i4', expected '<f4' (float32) or '<f8' (float64)",
    );
    throwsLike(
      () => parseNpy(fixture('f32_bigendian_3.npy'), 'b.npy'),
      IOError,
      "npy: b.npy has dtype '>f4', expected '<f4' (float32) or '<f8' (float64)",
    );
    throwsLike(
      () => parseNpy(new TextEncoder().encode('PK\x03\x04 not numpy at all')),
      IOError,
      'npy: .npy data is not a .npy file (expected magic 93 4e 55 4d 50 59, found 50 4b 03 04 20 6e)',
    );
    const good = fixture('f32_2x3.npy');
    throwsLike(
      () => parseNpy(good.subarray(0, good.length - 4), 't.npy'),
      IOError,
      'npy: t.npy should hold 24 data bytes for shape (2, 3) float32, found 20',
    );
    throwsLike(
      () => parseNpy(good.subarray(0, 40), 't.npy'),
      IOError,
      'npy: t.npy is truncated inside its header (needs 128 bytes, has 40)',
    );
    const v9 = new Uint8Array(good);
    v9[6] = 9;
    throwsLike(() => parseNpy(v9, 'v.npy'), IOError, 'npy: v.npy has format version 9.0, expected 1.0, 2.0 or 3.0');
    await assert.rejects(
      readNpy(join(dir, 'missing.npy')),
      (e: unknown) => e instanceof IOError && /npy: cannot read .*missing\.npy: ENOENT/.test((e as Error).message),
    );
  },
);

test('writer validates its arguments', () => {
  throwsLike(
    () => formatNpy(new Float32Array(5), [2, 3]),
    ShapeError,
    'npy: shape [2, 3] needs 6 elements, data has 5',
  );
  throwsLike(
    () => formatNpy(new Float32Array(5), [5, -1]),
    ShapeError,
    'npy: shape must be an array of non-negative integers, received array [5, -1]',
  );
  throwsLike(
    () => formatNpy(new Int32Array(4) as unknown as Float32Array, [4]),
    UsageError,
    'npy: data must be a Float32Array or Float64Array, received Int32Array(length 4)',
  );
});

test('reads format 2.0 headers (numpy writes them for very long headers)', () => {
  const v1 = fixture('f64_5.npy');
  const headerLen = v1[8]! | (v1[9]! << 8);
  const v2 = new Uint8Array(v1.length + 2);
  v2.set(v1.subarray(0, 6));
  v2[6] = 2;
  new DataView(v2.buffer).setUint32(8, headerLen, true);
  v2.set(v1.subarray(10), 12);
  assert.deepEqual([...parseNpy(v2).data], ramp(5));
});
