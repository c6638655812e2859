// Shape helpers: validation, element counts, and the "[2, 3, 4]" form every shape error message uses.
import { ShapeError } from '../errors.js';

/** A tensor shape: one non-negative integer size per dimension. */
export type Shape = readonly number[];

/** "[2, 3, 4]" */
export function fmtShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

export function numel(s: Shape): number {
  let n = 1;
  for (let i = 0; i < s.length; i++) n *= s[i]!; // indexed: no iterator garbage on the per-tensor path
  return n;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Validate a user-given shape (non-negative integer dims); `what` names it in the message. */
export function checkShape(s: unknown, what: string): Shape {
  if (!Array.isArray(s))
    throw new ShapeError(`${what}: shape must be an array of non-negative integers, received ${typeof s}`);
  for (const d of s) {
    if (!Number.isInteger(d) || d < 0)
      throw new ShapeError(`${what}: shape must be an array of non-negative integers, received [${s.join(', ')}]`);
  }
  return Object.freeze([...s]) as Shape;
}

/** Resolve one -1 in a reshape target against `size` elements. */
export function inferShape(target: readonly number[], size: number, from: Shape): Shape {
  let free = -1;
  let known = 1;
  for (let i = 0; i < target.length; i++) {
    const d = target[i]!;
    if (d === -1) {
      if (free >= 0) throw new ShapeError(`reshape: only one dimension can be -1, received ${fmtShape(target)}`);
      free = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`reshape: dimensions must be non-negative integers or -1, received ${fmtShape(target)}`);
    } else known *= d;
  }
  const out = [...target];
  if (free >= 0) {
    if (known === 0 || size % known !== 0)
      throw new ShapeError(`reshape: cannot reshape ${fmtShape(from)} (${size} elements) to ${fmtShape(target)}`);
    out[free] = size / known;
  } else if (known !== size) {
    throw new ShapeError(`reshape: cannot reshape ${fmtShape(from)} (${size} elements) to ${fmtShape(target)}`);
  }
  return Object.freeze<number[]>(out);
}
