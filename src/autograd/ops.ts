// Basic differentiable tensor ops: reshape/flatten (views), elementwise add/sub/mul, relu, sum, mean.
import { ShapeError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import { fmtShape, sameShape } from '../tensor/shape.js';
import { type Tensor, checkTensor } from '../tensor/tensor.js';
import { allocTensor, installAutograd, viewOf } from '../tensor/internal.js';
import { Node, needsGrad, record } from './node.js';
import { traceOp } from './trace.js';

export function checkSame(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape))
    throw new ShapeError(`${op}: shapes must match, received ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
}

class ReshapeBackward extends Node {
  readonly name = 'ReshapeBackward';
  constructor(private readonly inShape: readonly number[]) {
    super();
  }
  backward(dy: Tensor): Tensor[] {
    return [viewOf(dy, this.inShape)];
  }
}

/** A view with another shape (no copy); one dim may be -1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', 'input', x);
  const out = viewOf(x, shape);
  traceOp(out, 'reshape', [x], { shape: out.shape });
  return needsGrad(x) ? record(out, new ReshapeBackward(x.shape), x) : out;
}

/** Merge dims startDim…endDim (negative counts from the end), like torch.flatten. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  checkTensor('flatten', 'input', x);
  const r = x.ndim;
  const s = startDim < 0 ? startDim + r : startDim;
  const e = endDim < 0 ? endDim + r : endDim;
  if (r === 0) return reshape(x, [1]);
  if (!(Number.isInteger(s) && Number.isInteger(e) && s >= 0 && e < r && s <= e)) {
    throw new ShapeError(
      `flatten: dims ${startDim}…${endDim} are out of range for a tensor of shape ${fmtShape(x.shape)}`,
    );
  }
  let m = 1;
  for (let i = s; i <= e; i++) m *= x.shape[i]!;
  const out = reshape(x, [...x.shape.slice(0, s), m, ...x.shape.slice(e + 1)]);
  traceOp(out, 'flatten', [x], { startDim: s, endDim: e });
  return out;
}

class AddBackward extends Node {
  readonly name = 'AddBackward';
  backward(dy: Tensor): Tensor[] {
    return [dy, dy];
  }
}

/** a + b, same shapes. */
export function add(a: Tensor, b: Tensor): Tensor {
  checkTensor('add', 'a', a);
  checkTensor('add', 'b', b);
  checkSame('add', a, b);
  const out = allocTensor(a.shape);
  kernels().add(out.data, a.data, b.data);
  traceOp(out, 'add', [a, b]);
  return needsGrad(a, b) ? record(out, new AddBackward(), a, b) : out;
}

class SubBackward extends Node {
  readonly name = 'SubBackward';
  backward(dy: Tensor): Tensor[] {
    const nb = allocTensor(dy.shape);
    kernels().scale(nb.data, dy.data, -1);
    return [dy, nb];
  }
}

/** a − b, same shapes. */
export function sub(a: Tensor, b: Tensor): Tensor {
  checkTensor('sub', 'a', a);
  checkTensor('sub', 'b', b);
  checkSame('sub', a, b);
  const out = allocTensor(a.shape);
  const o = out.data;
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < o.length; i++) o[i] = x[i]! - y[i]!;
  traceOp(out, 'sub', [a, b]);
  return needsGrad(a, b) ? record(out, new SubBackward(), a, b) : out;
}

class MulScalarBackward extends Node {
  readonly name = 'MulScalarBackward';
  constructor(private readonly s: number) {
    super();
  }
  backward(dy: Tensor): Tensor[] {
    const g = allocTensor(dy.shape);
    kernels().scale(g.data, dy.data, this.s);
    return [g];
  }
}

class MulBackward extends Node {
  readonly name = 'MulBackward';
  constructor(a: Tensor, b: Tensor) {
    super();
    this.save(a, b);
  }
  backward(dy: Tensor): (Tensor | null)[] {
    const a = this.savedTensor(0);
    const b = this.savedTensor(1);
    return [this.inputs[0] ? times(dy, b) : null, this.inputs[1] ? times(dy, a) : null];
  }
}

function times(a: Tensor, b: Tensor): Tensor {
  const out = allocTensor(a.shape);
  const o = out.data;
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < o.length; i++) o[i] = x[i]! * y[i]!;
  return out;
}

/** a · b elementwise (same shapes) or a · scalar. */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  checkTensor('mul', 'a', a);
  if (typeof b !== 'number') checkTensor('mul', 'b', b);
  if (typeof b === 'number') {
    const out = allocTensor(a.shape);
    kernels().scale(out.data, a.data, b);
    traceOp(out, 'mul', [a], { scalar: b });
    return needsGrad(a) ? record(out, new MulScalarBackward(b), a) : out;
  }
  checkSame('mul', a, b);
  const out = times(a, b);
  traceOp(out, 'mul', [a, b]);
  return needsGrad(a, b) ? record(out, new MulBackward(a, b), a, b) : out;
}

class ReluBackward extends Node {
  readonly name = 'ReluBackward';
  constructor(y: Tensor) {
    super();
    this.save(y);
  }
  backward(dy: Tensor): Tensor[] {
    const dx = allocTensor(dy.shape);
    kernels().reluBackward(dx.data, dy.data, this.savedTensor(0).data);
    return [dx];
  }
}

/** max(x, 0). The gradient at 0 is 0 (PyTorch's convention). */
export function relu(x: Tensor): Tensor {
  checkTensor('relu', 'input', x);
  const out = allocTensor(x.shape);
  kernels().reluForward(out.data, x.data);
  traceOp(out, 'relu', [x]);
  return needsGrad(x) ? record(out, new ReluBackward(out), x) : out;
}

class SumBackward extends Node {
  readonly name = 'SumBackward';
  constructor(
    private readonly inShape: readonly number[],
    private readonly scale: number,
  ) {
    super();
  }
  backward(dy: Tensor): Tensor[] {
    const g = allocTensor(this.inShape);
    g.data.fill(dy.data[0]! * this.scale);
    return [g];
  }
}

/** Σ of all elements (accumulated in float64), a 0-d tensor. */
export function sum(x: Tensor): Tensor {
  checkTensor('sum', 'input', x);
  const out = allocTensor([]);
  out.data[0] = kernels().sum(x.data);
  traceOp(out, 'sum', [x]);
  return needsGrad(x) ? record(out, new SumBackward(x.shape, 1), x) : out;
}

/** Mean of all elements, a 0-d tensor (NaN for an empty tensor, as PyTorch). */
export function mean(x: Tensor): Tensor {
  checkTensor('mean', 'input', x);
  const out = allocTensor([]);
  out.data[0] = kernels().sum(x.data) / x.size;
  traceOp(out, 'mean', [x]);
  return needsGrad(x) ? record(out, new SumBackward(x.shape, 1 / x.size), x) : out;
}

// Tensor's methods x.add(y), x.reshape(s), … are these functions: the tensor layer calls what is installed here.
installAutograd({ reshape, flatten, add, sub, mul, relu, sum, mean });
