// WebAssembly SIMD group-norm kernels (bindings over wasm/gn.ts): heap arrays by pointer, others staged.
import type { GNGeom, GroupNormKernels } from '../types.js';
import { wasm } from './instance.js';
import { withScratch } from './heap.js';
import { land, place } from './stage.js';

function groupNormStats(mean: Float64Array, invstd: Float64Array, x: Float32Array, g: GNGeom, eps: number): void {
  if (g.n * g.groups === 0) return;
  withScratch((take) => {
    const mp = place(take, mean, false);
    const ip = place(take, invstd, false);
    wasm.gnStats!(mp, ip, place(take, x, true), g.n, g.c, g.s, g.groups, eps);
    land(mean, mp);
    land(invstd, ip);
  });
}

function groupNormElemt(
  out: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  invstd: Float64Array,
  weight: Float32Array | null,
  bias: Float32Array | null,
  g: GNGeom,
): void {
  if (x.length === 0) return;
  withScratch((take) => {
    const xp = place(take, x, true);
    const op = out === x ? xp : place(take, out, false);
    const wp = weight === null ? 0 : place(take, weight, true);
    const bp = bias === null ? 0 : place(take, bias, true);
    wasm.gnElemt!(op, xp, place(take, mean, true), place(take, invstd, true), wp, bp, g.n, g.c, g.s, g.groups);
    land(out, op);
  });
}

function groupNormBackwardReduce(
  sumDy: Float64Array,
  sumDyXmu: Float64Array,
  dy: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  g: GNGeom,
): void {
  if (g.n * g.c === 0) return;
  withScratch((take) => {
    const ap = place(take, sumDy, false);
    const bp = place(take, sumDyXmu, false);
    const [dyp, xp, mp] = [place(take, dy, true), place(take, x, true), place(take, mean, true)];
    wasm.gnBwdReduce!(ap, bp, dyp, xp, mp, g.n, g.c, g.s, g.groups);
    land(sumDy, ap);
    land(sumDyXmu, bp);
  });
}

function groupNormBackwardElemt(
  dx: Float32Array,
  dy: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  invstd: Float64Array,
  weight: Float32Array | null,
  sumDy: Float64Array,
  sumDyXmu: Float64Array,
  g: GNGeom,
): void {
  if (x.length === 0) return;
  withScratch((take) => {
    const dyp = place(take, dy, true);
    const xp = place(take, x, true);
    const dxp = dx === dy ? dyp : dx === x ? xp : place(take, dx, false);
    const wp = weight === null ? 0 : place(take, weight, true);
    wasm.gnBwdElemt!(
      dxp,
      dyp,
      xp,
      place(take, mean, true),
      place(take, invstd, true),
      wp,
      place(take, sumDy, true),
      place(take, sumDyXmu, true),
      g.n,
      g.c,
      g.s,
      g.groups,
    );
    land(dx, dxp);
  });
}

export const groupNormWasm: GroupNormKernels = {
  groupNormStats,
  groupNormElemt,
  groupNormBackwardReduce,
  groupNormBackwardElemt,
};
