// Differentiable bilinear upsampling (align_corners=false), concatenation along a dim, and dropout.
import { ShapeError, UsageError, describe } from '../../errors.js';
import { kernels } from '../../kernels/index.js';
import { traceOp } from '../../autograd/trace.js';
import { Node, isGradEnabled, needsGrad, record } from '../../autograd/node.js';
import { fmtShape } from '../../tensor/shape.js';
import { type Tensor, checkTensor } from '../../tensor/tensor.js';
import { allocTensor } from '../../tensor/internal.js';
import { defaultGenerator, type RandomGenerator } from '../../tensor/random.js';
import { expectRank, pair, type Pair } from './args.js';

class UpsampleBackward extends Node {
  readonly name = 'UpsampleBilinear2dBackward';
  constructor(private readonly inShape: readonly number[]) {
    super();
  }
  backward(dy: Tensor): Tensor[] {
    const [n, c, h, w] = this.inShape as [number, number, number, number];
    const dx = allocTensor(this.inShape);
    kernels().upsampleBilinearBackward(dx.data, dy.data, n, c, h, w, dy.shape[2]!, dy.shape[3]!);
    return [dx];
  }
}

/**
 * Bilinear resize of NCHW, align_corners=false, as torch.nn.functional.interpolate(mode='bilinear').
 * Give `size` [oh, ow] or an integer `scaleFactor` (output = input·scale; source index = (dst + ½)·in/out − ½).
 */
export function upsampleBilinear(x: Tensor, opts: { size?: Pair; scaleFactor?: number }): Tensor {
  checkTensor('upsampleBilinear', 'input', x);
  expectRank('upsampleBilinear', x, 4, '[N, C, H, W]');
  const [n, c, h, w] = x.shape as [number, number, number, number];
  let oh: number;
  let ow: number;
  if (opts.size !== undefined) {
    if (opts.scaleFactor !== undefined)
      throw new UsageError('upsampleBilinear: give either size or scaleFactor, not both');
    [oh, ow] = pair(opts.size, 'upsampleBilinear: size', 1);
  } else if (opts.scaleFactor !== undefined) {
    const s = opts.scaleFactor;
    if (!(Number.isFinite(s) && s > 0))
      throw new UsageError(`upsampleBilinear: scaleFactor must be a positive number, received ${describe(s)}`);
    oh = Math.floor(h * s);
    ow = Math.floor(w * s);
    if (oh / h !== s || ow / w !== s) {
      throw new UsageError(
        `upsampleBilinear: scaleFactor ${s} does not give an integer size for input ${fmtShape(x.shape)}; pass size ` +
          `instead`,
      );
    }
  } else throw new UsageError('upsampleBilinear: give size or scaleFactor');
  if (h === 0 || w === 0)
    throw new ShapeError(`upsampleBilinear: input ${fmtShape(x.shape)} has an empty spatial size`);
  const out = allocTensor([n, c, oh, ow]);
  kernels().upsampleBilinearForward(out.data, x.data, n, c, h, w, oh, ow);
  traceOp(out, 'upsampleBilinear', [x], { outH: oh, outW: ow });
  return needsGrad(x) ? record(out, new UpsampleBackward(x.shape), x) : out;
}

class ConcatBackward extends Node {
  readonly name = 'ConcatBackward';
  constructor(
    private readonly shapes: (readonly number[])[],
    private readonly outer: number,
    private readonly inners: number[],
  ) {
    super();
  }
  backward(dy: Tensor): (Tensor | null)[] {
    const total = this.inners.reduce((a, b) => a + b, 0);
    let off = 0;
    return this.shapes.map((s, k) => {
      const inner = this.inners[k]!;
      const at = off;
      off += inner;
      if (this.inputs[k] === null) return null;
      const g = allocTensor(s);
      const src = dy.data;
      for (let o = 0; o < this.outer; o++) g.data.set(src.subarray(o * total + at, o * total + at + inner), o * inner);
      return g;
    });
  }
}

/** torch.cat along `dim` (default 1 = channels in NCHW); other dims must match. */
export function concat(xs: readonly Tensor[], dim = 1): Tensor {
  const given: unknown = xs; // checked at run time: callers from JavaScript may pass anything
  if (!Array.isArray(given) || given.length === 0) {
    throw new UsageError(
      `concat: needs a non-empty array of tensors, received ${Array.isArray(given) ? 'none' : typeof xs}`,
    );
  }
  xs.forEach((t, i) => checkTensor('concat', `tensor ${i}`, t));
  const first = xs[0]!;
  const r = first.ndim;
  const d = dim < 0 ? dim + r : dim;
  if (!Number.isInteger(d) || d < 0 || d >= r)
    throw new ShapeError(`concat: dim ${dim} is out of range for shape ${fmtShape(first.shape)}`);
  let outer = 1;
  for (let i = 0; i < d; i++) outer *= first.shape[i]!;
  let sizeD = 0;
  const inners: number[] = [];
  for (const t of xs) {
    if (t.ndim !== r || t.shape.some((v, i) => i !== d && v !== first.shape[i])) {
      throw new ShapeError(
        `concat: shapes must match except in dim ${d}, received ${fmtShape(first.shape)} and ${fmtShape(t.shape)}`,
      );
    }
    sizeD += t.shape[d]!;
    inners.push(outer === 0 ? 0 : t.size / outer);
  }
  const outShape = first.shape.slice();
  outShape[d] = sizeD;
  const out = allocTensor(outShape);
  const total = inners.reduce((a, b) => a + b, 0);
  let at = 0;
  for (let k = 0; k < xs.length; k++) {
    const src = xs[k]!.data;
    const inner = inners[k]!;
    for (let o = 0; o < outer; o++) out.data.set(src.subarray(o * inner, (o + 1) * inner), o * total + at);
    at += inner;
  }
  traceOp(out, 'concat', xs, { dim: d });
  if (!isGradEnabled() || !xs.some((t) => t.requiresGrad)) return out;
  return record(
    out,
    new ConcatBackward(
      xs.map((t) => t.shape),
      outer,
      inners,
    ),
    ...xs,
  );
}

class DropoutBackward extends Node {
  readonly name = 'DropoutBackward';
  constructor(private mask: Tensor | null) {
    super();
  }
  backward(dy: Tensor): Tensor[] {
    const dx = allocTensor(dy.shape);
    const m = this.mask!.data;
    const g = dy.data;
    const o = dx.data;
    for (let i = 0; i < o.length; i++) o[i] = g[i]! * m[i]!;
    return [dx];
  }
  override release(): void {
    this.mask?.dispose();
    this.mask = null;
    super.release();
  }
}

/**
 * Inverted dropout: in training each element is zeroed with probability p and the rest scaled by
 * 1/(1−p); identity when not training or p = 0. Seeded through `generator` (default: the global one).
 */
export function dropout(x: Tensor, p = 0.5, training = true, generator: RandomGenerator = defaultGenerator): Tensor {
  checkTensor('dropout', 'input', x);
  if (!(p >= 0 && p <= 1)) throw new UsageError(`dropout: p must be in [0, 1], received ${describe(p)}`);
  if (!training || p === 0) return x;
  const mask = allocTensor(x.shape);
  const scale = p === 1 ? 0 : 1 / (1 - p);
  const m = mask.data;
  for (let i = 0; i < m.length; i++) m[i] = generator.random() < p ? 0 : scale;
  const out = allocTensor(x.shape);
  const o = out.data;
  const xs = x.data;
  for (let i = 0; i < o.length; i++) o[i] = xs[i]! * m[i]!;
  traceOp(out, 'dropout', [x], { p, training });
  if (!needsGrad(x)) {
    mask.dispose();
    return out;
  }
  return record(out, new DropoutBackward(mask), x);
}
