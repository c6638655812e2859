// Differentiable 2-D convolution (NCHW activations, OIHW weights) over the conv kernels.
import { ShapeError } from '../../errors.js';
import { kernels, type ConvGeom } from '../../kernels/index.js';
import { traceOp } from '../../autograd/trace.js';
import { Node, needsGrad, record } from '../../autograd/node.js';
import { fmtShape } from '../../tensor/shape.js';
import { Tensor, checkTensor } from '../../tensor/tensor.js';
import { allocTensor } from '../../tensor/internal.js';
import { expectRank, pair, positiveInt, type Pair } from './args.js';

/** Options of conv2d (torch.nn.functional.conv2d's, camelCased). */
export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** Validate shapes and build the kernel geometry. */
export function convGeom(x: Tensor, w: Tensor, bias: Tensor | null, opts: Conv2dOptions): ConvGeom {
  checkTensor('conv2d', 'input', x);
  checkTensor('conv2d', 'weight', w);
  checkTensor('conv2d', 'bias', bias, true);
  expectRank('conv2d', x, 4, '[N, C, H, W]');
  if (w.ndim !== 4)
    throw new ShapeError(`conv2d: weight must be 4-D [O, C/groups, kH, kW], received shape ${fmtShape(w.shape)}`);
  const [strideH, strideW] = pair(opts.stride ?? 1, 'conv2d: stride', 1);
  const [padH, padW] = pair(opts.padding ?? 0, 'conv2d: padding', 0);
  const [dilationH, dilationW] = pair(opts.dilation ?? 1, 'conv2d: dilation', 1);
  const groups = positiveInt(opts.groups ?? 1, 'conv2d: groups');
  const [n, cIn, h, wd] = x.shape as [number, number, number, number];
  const [cOut, cg, kh, kw] = w.shape as [number, number, number, number];
  if (cg * groups !== cIn) {
    throw new ShapeError(
      `conv2d: input ${fmtShape(x.shape)} has ${cIn} channels but weight ${fmtShape(w.shape)} with groups=${groups} ` +
        `expects ${cg * groups}`,
    );
  }
  if (cOut % groups !== 0)
    throw new ShapeError(
      `conv2d: weight ${fmtShape(w.shape)} has ${cOut} output channels, not divisible by groups=${groups}`,
    );
  if (bias !== null && (bias.ndim !== 1 || bias.shape[0] !== cOut)) {
    throw new ShapeError(
      `conv2d: bias must have shape [${cOut}] for weight ${fmtShape(w.shape)}, received ${fmtShape(bias.shape)}`,
    );
  }
  const outH = Math.floor((h + 2 * padH - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((wd + 2 * padW - dilationW * (kw - 1) - 1) / strideW) + 1;
  if (outH < 1 || outW < 1) {
    throw new ShapeError(
      `conv2d: input ${fmtShape(x.shape)} is too small for kernel ${kh}×${kw} (dilation ${dilationH}×${dilationW}, ` +
        `padding ${padH}×${padW}): output would be ${outH}×${outW}`,
    );
  }
  return { n, cIn, h, w: wd, cOut, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, groups, outH, outW };
}

class Conv2dBackward extends Node {
  readonly name = 'Conv2dBackward';
  constructor(
    x: Tensor,
    w: Tensor,
    private readonly g: ConvGeom,
    private readonly hasBias: boolean,
  ) {
    super();
    this.save(x, w);
  }
  backward(dy: Tensor): (Tensor | null)[] {
    const x = this.savedTensor(0);
    const w = this.savedTensor(1);
    const k = kernels();
    let dx: Tensor | null = null;
    if (this.inputs[0] !== null) {
      dx = allocTensor(x.shape);
      k.conv2dBackwardInput(dx.data, dy.data, w.data, this.g);
    }
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    const wantB = this.hasBias && this.inputs[2] != null;
    if (this.inputs[1] !== null || wantB) {
      dw = Tensor.zerosLike(w);
      if (wantB) db = allocTensor([this.g.cOut]).zero_();
      k.conv2dBackwardWeight(dw.data, db === null ? null : db.data, dy.data, x.data, this.g);
    }
    return [dx, dw, db];
  }
}

/** out[N, O, oh, ow] = conv(x[N, C, H, W], weight[O, C/groups, kH, kW]) + bias[O], as torch.nn.functional.conv2d. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const g = convGeom(x, weight, bias, opts);
  const out = allocTensor([g.n, g.cOut, g.outH, g.outW]);
  kernels().conv2dForward(out.data, x.data, weight.data, bias === null ? null : bias.data, g);
  traceOp(out, 'conv2d', [x, weight, bias], g);
  if (!needsGrad(x, weight, bias)) return out;
  return record(out, new Conv2dBackward(x, weight, g, bias !== null), x, weight, bias);
}
