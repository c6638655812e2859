// Argument checks shared by the functional ops: pairs (3 or [3, 3]), positive integers, rank checks.
import { ShapeError, UsageError, describe } from '../../errors.js';
import { fmtShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

/** A size or stride for both spatial dimensions (one number) or for each ([height, width]). */
export type Pair = number | readonly [number, number];

/** Expand `v` (n or [h, w]) to [h, w] of integers ≥ min. */
export function pair(v: Pair, what: string, min: number): [number, number] {
  if (typeof v === 'number' && Number.isInteger(v) && v >= min) return [v, v]; // common case, no closure
  const p: readonly number[] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new UsageError(`${what} must be an integer ≥ ${min} or a pair of them, received ${JSON.stringify(v)}`);
  }
  return [p[0]!, p[1]!];
}

export function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1)
    throw new UsageError(`${what} must be a positive integer, received ${describe(v)}`);
  return v;
}

export function expectRank(op: string, x: Tensor, rank: number, dims: string): void {
  if (x.ndim !== rank)
    throw new ShapeError(`${op}: input must be ${rank}-D ${dims}, received shape ${fmtShape(x.shape)}`);
}

/**
 * Reject option keys outside `allowed`, so a typo ("paddnig") or an option this layer does not have
 * fails at construction instead of being ignored. `opts` may be undefined; otherwise it must be a
 * plain object. `where` prefixes the message (the class name).
 */
export function checkOptionKeys(where: string, opts: unknown, allowed: readonly string[]): void {
  if (opts === undefined) return;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new UsageError(`${where}: options must be an object, received ${describe(opts)}`);
  }
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k))
      throw new UsageError(`${where}: unknown option ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`);
  }
}
