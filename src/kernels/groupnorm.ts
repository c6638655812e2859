// Group-norm geometry and argument checks shared by the kernel users, and the per-channel parameter gradients.
import type { GNGeom } from './types.js';
import { ShapeError, UsageError, describe } from '../errors.js';
import { fmtShape as fmt } from '../tensor/shape.js';

/**
 * Validate `groups` against an (N, C, *) shape and return its (n, c, s, groups) view.
 * `op` names the caller in messages. Throws ShapeError for rank < 2, UsageError when `groups` is not a
 * positive integer or does not divide C.
 */
export function gnGeom(shape: readonly number[], groups: number, op = 'groupNorm'): GNGeom {
  if (shape.length < 2) {
    throw new ShapeError(
      `${op}: input must have rank ≥ 2 (N, C, *), received rank ${shape.length} with shape ${fmt(shape)}`,
    );
  }
  if (!Number.isInteger(groups) || groups < 1) {
    throw new UsageError(`${op}: numGroups must be a positive integer, received ${describe(groups)}`);
  }
  const c = shape[1]!;
  if (c % groups !== 0) {
    throw new UsageError(
      `${op}: numChannels ${c} (input shape ${fmt(shape)}) must be divisible by numGroups ${groups}`,
    );
  }
  const s = shape.slice(2).reduce((a, b) => a * b, 1);
  return { n: shape[0]!, c, s, groups };
}

/** eps must be a finite number ≥ 0 (PyTorch's default 1e-5). */
export function checkGroupNormEps(eps: unknown, op = 'groupNorm'): number {
  if (typeof eps !== 'number' || !(Number.isFinite(eps) && eps >= 0)) {
    throw new UsageError(`${op}: eps must be a finite number ≥ 0, received ${describe(eps)}`);
  }
  return eps;
}

/**
 * Parameter gradients from the per-plane backward sums (groupNormBackwardReduce):
 * dγ[ch] = Σ_i sumDyXmu[i,ch]·invstd[i,g(ch)] = Σ dy·x̂ and dβ[ch] = Σ_i sumDy[i,ch] = Σ dy, in float64.
 * Either output may be null (not needed).
 */
export function groupNormParamGrads(
  dWeight: Float32Array | null,
  dBias: Float32Array | null,
  sumDy: Float64Array,
  sumDyXmu: Float64Array,
  invstd: Float64Array,
  g: GNGeom,
): void {
  const cg = g.c / g.groups;
  for (let ch = 0; ch < g.c; ch++) {
    let dw = 0;
    let db = 0;
    for (let i = 0; i < g.n; i++) {
      dw += sumDyXmu[i * g.c + ch]! * invstd[i * g.groups + Math.floor(ch / cg)]!;
      db += sumDy[i * g.c + ch]!;
    }
    if (dWeight !== null) dWeight[ch] = dw;
    if (dBias !== null) dBias[ch] = db;
  }
}
