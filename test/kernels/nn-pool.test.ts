// Pooling, bilinear upsample and elementwise kernels on both backends: PyTorch fixtures, exact invariants, heap and JS
// arrays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, Placer, assertClose, dot, loadFixtures, randn } from './nn-util.js';
import { allocF32, heapPointer, release } from '../../src/kernels/wasm/heap.js';
import { referenceKernels, wasmKernels } from '../../src/kernels/index.js';

const fx = loadFixtures();

for (const kset of BACKENDS) {
  for (const where of ['heap', 'js'] as const) {
    test(`${kset.name}/${where}: max and average pooling match PyTorch (values, argmax, gradients)`, () => {
      for (const [ci, c] of fx.pool.entries()) {
        const g = c.geom;
        const pl = new Placer(where);
        const x = pl.put(Float32Array.from(c.x));
        const dy = pl.put(Float32Array.from(c.dy));
        const out = pl.put(new Float32Array(c.out.length).fill(NaN));
        const dx = pl.put(new Float32Array(c.x.length).fill(NaN));
        const tag = `${c.kind} case ${ci}`;
        if (c.kind === 'max') {
          const argmax = new Int32Array(c.out.length).fill(-7);
          kset.maxPool2dForward(out, argmax, x, g);
          assert.deepEqual([...out], c.out, `${tag} out`); // max pooling only copies values: exact
          assert.deepEqual([...argmax], c.argmax, `${tag} argmax`);
          kset.maxPool2dBackward(dx, dy, argmax, g);
          assertClose(dx, c.dx, g.kh * g.kw, `${tag} dx`);
        } else {
          kset.avgPool2dForward(out, x, g);
          assertClose(out, c.out, g.kh * g.kw, `${tag} out`);
          kset.avgPool2dBackward(dx, dy, g);
          assertClose(dx, c.dx, g.kh * g.kw, `${tag} dx`);
        }
        pl.free();
      }
    });

    test(`${kset.name}/${where}: bilinear upsample (align_corners=false) matches PyTorch forward and backward`, () => {
      for (const [ci, c] of fx.upsample.entries()) {
        const pl = new Placer(where);
        const out = pl.put(new Float32Array(c.out.length).fill(NaN));
        const dx = pl.put(new Float32Array(c.x.length).fill(NaN));
        kset.upsampleBilinearForward(out, pl.put(Float32Array.from(c.x)), c.n, c.c, c.h, c.w, c.outH, c.outW);
        assertClose(out, c.out, 4, `upsample case ${ci} out`);
        kset.upsampleBilinearBackward(dx, pl.put(Float32Array.from(c.dy)), c.n, c.c, c.h, c.w, c.outH, c.outW);
        assertClose(dx, c.dx, 16, `upsample case ${ci} dx`);
        pl.free();
      }
    });

    test(`${kset.name}/${where}: elementwise add, axpy, scale, relu, relu backward, sum at odd lengths`, () => {
      for (const len of [0, 1, 3, 4, 7, 16, 33, 1025]) {
        const pl = new Placer(where);
        const a = randn(len, len + 1),
          b = randn(len, len + 2);
        const out = pl.zeros(len);
        kset.add(out, pl.put(a), pl.put(b));
        assert.deepEqual(
          [...out],
          [...a].map((v, i) => Math.fround(v + b[i]!)),
          `add ${len}`,
        );
        const y = pl.put(b);
        kset.axpy(y, 0.75, pl.put(a));
        // one or two float32 roundings (fused or not): within an ulp or two of the exact b + 0.75·a
        assertClose(
          y,
          [...a].map((v, i) => b[i]! + 0.75 * v),
          1,
          `axpy ${len}`,
          2e-7,
        );
        kset.scale(out, pl.put(a), -2.5);
        assert.deepEqual(
          [...out],
          [...a].map((v) => Math.fround(v * -2.5)),
          `scale ${len}`,
        );
        kset.reluForward(out, pl.put(a));
        assert.deepEqual(
          [...out],
          [...a].map((v) => (v > 0 ? v : 0)),
          `relu ${len}`,
        );
        const dx = pl.zeros(len);
        kset.reluBackward(dx, pl.put(b), out);
        assert.deepEqual(
          [...dx],
          [...b].map((v, i) => (a[i]! > 0 ? v : 0)),
          `relu backward ${len}`,
        );
        const s = kset.sum(pl.put(a));
        assert.ok(Math.abs(s - [...a].reduce((p, v) => p + v, 0)) <= 1e-9 * (1 + len), `sum ${len}`);
        const lo = len >> 2,
          hi = len - (len >> 3); // odd, unaligned ranges must equal the sum of the same subarray exactly
        const pa = pl.put(a);
        assert.equal(kset.sum(pa, lo, hi), kset.sum(pa.subarray(lo, hi)), `sum range ${lo}..${hi} of ${len}`);
        assert.equal(kset.sum(pa, lo, lo), 0, `empty sum range ${len}`);
        pl.free();
      }
    });
  }

  test(`${kset.name}: max pool picks the first maximum on ties and propagates NaN; relu keeps NaN`, () => {
    const g = { n: 1, c: 1, h: 2, w: 4, kh: 2, kw: 2, strideH: 2, strideW: 2, padH: 0, padW: 0, outH: 1, outW: 2 };
    const x = new Float32Array([5, 5, 1, NaN, 5, 5, 2, 3]);
    const out = new Float32Array(2);
    const am = new Int32Array(2);
    kset.maxPool2dForward(out, am, x, g);
    assert.equal(out[0], 5);
    assert.equal(am[0], 0);
    assert.ok(Number.isNaN(out[1]!));
    assert.equal(am[1], 3);
    const r = new Float32Array(3);
    kset.reluForward(r, new Float32Array([NaN, -1, 2]));
    assert.ok(Number.isNaN(r[0]!));
    assert.deepEqual([...r.subarray(1)], [0, 2]);
  });

  test(`${kset.name}: pooling and upsample backward are the adjoints of their forwards`, () => {
    const g = { n: 2, c: 3, h: 9, w: 8, kh: 3, kw: 2, strideH: 2, strideW: 1, padH: 1, padW: 1, outH: 5, outW: 9 };
    const x = randn(2 * 3 * 9 * 8, 5);
    const dy = randn(2 * 3 * 5 * 9, 6);
    const out = new Float32Array(dy.length);
    const dx = new Float32Array(x.length);
    kset.avgPool2dForward(out, x, g);
    kset.avgPool2dBackward(dx, dy, g);
    assert.ok(Math.abs(dot(out, dy) - dot(x, dx)) < 1e-4 * Math.sqrt(dy.length));
    const up = new Float32Array(2 * 3 * 13 * 5);
    const dyu = randn(up.length, 9);
    const dxu = new Float32Array(x.length);
    kset.upsampleBilinearForward(up, x, 2, 3, 9, 8, 13, 5);
    kset.upsampleBilinearBackward(dxu, dyu, 2, 3, 9, 8, 13, 5);
    assert.ok(Math.abs(dot(up, dyu) - dot(x, dxu)) < 1e-4 * Math.sqrt(up.length));
  });

  test(`${kset.name}: max pool argmax as a heap Int32Array is written in place`, () => {
    const g = { n: 1, c: 2, h: 4, w: 4, kh: 2, kw: 2, strideH: 2, strideW: 2, padH: 0, padW: 0, outH: 2, outW: 2 };
    const x = allocF32(32);
    x.set(randn(32, 3));
    const out = allocF32(8);
    const amF = allocF32(8); // borrow a heap block for the Int32Array view
    const am = new Int32Array(amF.buffer, amF.byteOffset, 8);
    const amJs = new Int32Array(8);
    kset.maxPool2dForward(out, am, x, g);
    kset.maxPool2dForward(new Float32Array(8), amJs, Float32Array.from(x), g);
    assert.deepEqual([...am], [...amJs]);
    for (let i = 0; i < 8; i++) assert.equal(out[i], x[Math.floor(i / 4) * 16 + am[i]!]);
    for (const a of [x, out, amF]) release(heapPointer(a));
  });
}

test('wasm bilinear upsample beyond the tabulated width (4096 columns) matches the reference, both directions', () => {
  // outW > 4096 takes the wasm kernel's per-element path; w > 4096 (downsampling) too
  for (const [h, w, outH, outW] of [
    [2, 3, 3, 4100],
    [3, 4099, 2, 5],
  ]) {
    const x = randn(2 * h! * w!, 9),
      dy = randn(2 * outH! * outW!, 10);
    const got = new Float32Array(dy.length),
      want = new Float32Array(dy.length);
    wasmKernels.upsampleBilinearForward(got, x, 2, 1, h!, w!, outH!, outW!);
    referenceKernels.upsampleBilinearForward(want, x, 2, 1, h!, w!, outH!, outW!);
    assertClose(got, want, 4, `forward ${w}→${outW}`);
    const dxg = new Float32Array(x.length),
      dxw = new Float32Array(x.length);
    wasmKernels.upsampleBilinearBackward(dxg, dy, 2, 1, h!, w!, outH!, outW!);
    referenceKernels.upsampleBilinearBackward(dxw, dy, 2, 1, h!, w!, outH!, outW!);
    assertClose(dxg, dxw, 16, `backward ${w}→${outW}`);
  }
});
