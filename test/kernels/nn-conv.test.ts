// Convolution forward and both gradients on both backends: PyTorch fixtures, the adjoint identity, finite differences,
// backend agreement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, Placer, assertClose, convGeom, dot, loadFixtures, randn } from './nn-util.js';
import { referenceKernels, wasmKernels } from '../../src/kernels/index.js';
import { heapStats } from '../../src/kernels/wasm/heap.js';
import type { ConvGeom, KernelSet } from '../../src/kernels/index.js';

const fx = loadFixtures();

/** Reduction lengths: forward sums C/g·kh·kw terms, backward-input about O/g·kh·kw, backward-weight N·outH·outW. */
function lens(g: ConvGeom): { fwd: number; bin: number; bw: number } {
  return { fwd: (g.cIn / g.groups) * g.kh * g.kw, bin: (g.cOut / g.groups) * g.kh * g.kw, bw: g.n * g.outH * g.outW };
}

interface ConvRun {
  out: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array | null;
}

function runConv(
  k: KernelSet,
  where: 'heap' | 'js',
  g: ConvGeom,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array | null,
  dy: Float32Array,
  dw0: Float32Array,
  db0: Float32Array | null,
): ConvRun {
  const pl = new Placer(where);
  const out = pl.put(new Float32Array(g.n * g.cOut * g.outH * g.outW).fill(NaN));
  const dx = pl.put(new Float32Array(x.length).fill(NaN));
  const dw = pl.put(dw0);
  const db = db0 === null ? null : pl.put(db0);
  const xs = pl.put(x),
    ws = pl.put(w),
    dys = pl.put(dy);
  k.conv2dForward(out, xs, ws, b === null ? null : pl.put(b), g);
  k.conv2dBackwardInput(dx, dys, ws, g);
  k.conv2dBackwardWeight(dw, db, dys, xs, g);
  const r = {
    out: Float32Array.from(out),
    dx: Float32Array.from(dx),
    dw: Float32Array.from(dw),
    db: db === null ? null : Float32Array.from(db),
  };
  pl.free();
  return r;
}

for (const kset of BACKENDS) {
  for (const where of ['heap', 'js'] as const) {
    test(`${kset.name}/${where}: conv2d forward, input and weight gradients match PyTorch fixtures`, () => {
      for (const [ci, c] of fx.conv.entries()) {
        const g = c.geom;
        const L = lens(g);
        const f = (a: number[] | null): Float32Array | null => (a === null ? null : Float32Array.from(a));
        // dw/dbias accumulate: start from a known non-zero value and expect start + gradient.
        const dw0 = randn(c.weight.length, 100 + ci);
        const db0 = c.dbias === null ? null : randn(c.dbias.length, 200 + ci);
        const r = runConv(kset, where, g, f(c.x)!, f(c.weight)!, f(c.bias), f(c.dy)!, dw0, db0);
        const tag = `case ${ci} ${JSON.stringify(g)}`;
        assertClose(r.out, c.out, L.fwd, `${tag} out`);
        assertClose(r.dx, c.dx, L.bin, `${tag} dx`);
        assertClose(
          r.dw,
          c.dw.map((v, i) => v + dw0[i]!),
          L.bw,
          `${tag} dw`,
        );
        if (c.dbias !== null)
          assertClose(
            r.db!,
            c.dbias.map((v, i) => v + db0![i]!),
            L.bw,
            `${tag} dbias`,
          );
      }
    });
  }
}

// Random geometries covering stride, padding, dilation, groups, 1×1, non-square kernels, odd sizes, the tiny-CNN
// shapes.
const GEOMS: ConvGeom[] = [
  convGeom(2, 3, 32, 32, 16, 3, 3, { pad: [1, 1] }),
  convGeom(2, 16, 32, 32, 16, 3, 3, { pad: [1, 1] }),
  convGeom(1, 5, 11, 13, 7, 1, 1),
  convGeom(3, 4, 9, 7, 6, 1, 1, { stride: [2, 2] }),
  convGeom(1, 6, 10, 9, 9, 3, 3, { pad: [2, 2], dil: [2, 2], groups: 3 }),
  convGeom(2, 8, 12, 12, 8, 3, 3, { pad: [1, 1], groups: 8 }),
  convGeom(1, 3, 13, 11, 5, 2, 5, { stride: [2, 3], pad: [1, 2] }),
  convGeom(1, 2, 7, 7, 3, 7, 7, { pad: [3, 3] }),
  convGeom(2, 7, 15, 17, 33, 3, 3, { pad: [1, 1], stride: [2, 2] }),
  convGeom(1, 4, 5, 5, 4, 3, 3, { pad: [4, 4], dil: [4, 4] }),
  convGeom(1, 1, 1, 1, 1, 1, 1),
  convGeom(1, 4, 3, 3, 2, 3, 3),
  convGeom(0, 4, 5, 5, 4, 3, 3, { pad: [1, 1] }),
  convGeom(1, 32, 6, 5, 12, 3, 3, { pad: [1, 1] }), // K = 288: the direct forward splits the reduction
  convGeom(2, 3, 5, 6, 4, 1, 1, { pad: [1, 1] }), // pad > dil·(k − 1): input gradient via col2im
  convGeom(1, 4, 7, 6, 5, 3, 3, { pad: [3, 2] }),
  convGeom(1, 3, 9, 8, 4, 3, 3, { stride: [2, 1], pad: [1, 1] }),
  convGeom(2, 6, 11, 10, 10, 3, 3, { pad: [1, 1], groups: 2 }), // 5 output channels per group: partial row blocks
  convGeom(2, 4, 9, 19, 4, 3, 3, { pad: [2, 2], dil: [2, 2], groups: 4 }), // depthwise, dilated, 16 + 3 columns
  convGeom(1, 4, 6, 6, 8, 3, 3, { pad: [1, 1], groups: 4 }), // channel multiplier 2 (not the depthwise loop)
];

test('wasm and reference agree on random geometries (heap and JS arrays)', () => {
  const wasmK = BACKENDS[1]!;
  for (const [gi, g] of GEOMS.entries()) {
    const x = randn(g.n * g.cIn * g.h * g.w, 10 + gi);
    const w = randn(g.cOut * (g.cIn / g.groups) * g.kh * g.kw, 30 + gi);
    const b = randn(g.cOut, 50 + gi);
    const dy = randn(g.n * g.cOut * g.outH * g.outW, 70 + gi);
    const dw0 = randn(w.length, 90 + gi);
    const db0 = randn(g.cOut, 110 + gi);
    const ref = runConv(referenceKernels, 'js', g, x, w, b, dy, dw0, db0);
    for (const where of ['heap', 'js'] as const) {
      const r = runConv(wasmK, where, g, x, w, b, dy, dw0, db0);
      const L = lens(g);
      const tag = `geom ${gi} ${where}`;
      assertClose(r.out, ref.out, L.fwd, `${tag} out`);
      assertClose(r.dx, ref.dx, L.bin, `${tag} dx`);
      assertClose(r.dw, ref.dw, L.bw, `${tag} dw`);
      assertClose(r.db!, ref.db!, L.bw, `${tag} dbias`);
    }
  }
});

for (const kset of BACKENDS) {
  test(`${kset.name}: adjoint identities ⟨conv(x), dy⟩ = ⟨x, convᵀ_x(dy)⟩ = ⟨w, convᵀ_w(dy)⟩`, () => {
    for (const [gi, g] of GEOMS.entries()) {
      const x = randn(g.n * g.cIn * g.h * g.w, 300 + gi);
      const w = randn(g.cOut * (g.cIn / g.groups) * g.kh * g.kw, 400 + gi);
      const dy = randn(g.n * g.cOut * g.outH * g.outW, 500 + gi);
      const r = runConv(kset, 'heap', g, x, w, null, dy, new Float32Array(w.length), null);
      const lhs = dot(r.out, dy);
      const viaX = dot(x, r.dx);
      const viaW = dot(w, r.dw);
      const scale = Math.sqrt(dy.length * lens(g).fwd) + 1;
      assert.ok(Math.abs(lhs - viaX) <= 1e-4 * scale, `geom ${gi}: ⟨conv x, dy⟩ ${lhs} vs ⟨x, dx⟩ ${viaX}`);
      assert.ok(Math.abs(lhs - viaW) <= 1e-4 * scale, `geom ${gi}: ⟨conv x, dy⟩ ${lhs} vs ⟨w, dw⟩ ${viaW}`);
    }
  });
}

test('reference: finite differences in float64 confirm the gradients of L = ⟨conv(x, w) + b, dy⟩', () => {
  // L is linear in x, w and b, so a central difference is exact up to the float32 storage of the perturbed input;
  // we perturb by a power of two that float32 represents exactly and evaluate L in float64.
  const g = convGeom(1, 4, 6, 5, 4, 3, 2, { stride: [2, 1], pad: [1, 1], dil: [1, 2], groups: 2 });
  const x = randn(g.n * g.cIn * g.h * g.w, 7);
  const w = randn(g.cOut * (g.cIn / g.groups) * g.kh * g.kw, 8);
  const b = randn(g.cOut, 9);
  const dy = randn(g.n * g.cOut * g.outH * g.outW, 10);
  const L = (xx: Float32Array, ww: Float32Array, bb: Float32Array): number => {
    const out = new Float32Array(dy.length);
    referenceKernels.conv2dForward(out, xx, ww, bb, g);
    return dot(out, dy);
  };
  const r = runConv(referenceKernels, 'js', g, x, w, b, dy, new Float32Array(w.length), new Float32Array(g.cOut));
  const h = 2 ** -6;
  const check = (arr: Float32Array, grad: Float32Array, name: string): void => {
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i]!;
      arr[i] = v + h;
      const up = L(x, w, b);
      arr[i] = v - h;
      const dn = L(x, w, b);
      arr[i] = v;
      const fd = (up - dn) / (2 * h);
      assert.ok(
        Math.abs(fd - grad[i]!) <= 1e-4 * (1 + Math.abs(fd)),
        `${name}[${i}]: finite difference ${fd} vs gradient ${grad[i]}`,
      );
    }
  };
  check(x, r.dx, 'dx');
  check(w, r.dw, 'dw');
  check(b, r.db!, 'dbias');
});

test('wasm conv reuses its scratch: repeated steps over the same shapes do not grow the heap', () => {
  const shapes = [GEOMS[0]!, GEOMS[1]!, GEOMS[8]!, GEOMS[13]!];
  const step = (): void => {
    for (const [gi, g] of shapes.entries()) {
      const x = randn(g.n * g.cIn * g.h * g.w, gi);
      const w = randn(g.cOut * (g.cIn / g.groups) * g.kh * g.kw, gi + 1);
      const dy = randn(g.n * g.cOut * g.outH * g.outW, gi + 2);
      runConv(wasmKernels, 'heap', g, x, w, null, dy, new Float32Array(w.length), null);
      runConv(wasmKernels, 'js', g, x, w, null, dy, new Float32Array(w.length), null);
    }
  };
  step();
  const before = heapStats();
  for (let i = 0; i < 5; i++) step();
  const after = heapStats();
  assert.equal(after.reservedBytes, before.reservedBytes);
  assert.equal(after.liveBytes, before.liveBytes);
});
