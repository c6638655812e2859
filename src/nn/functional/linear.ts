// Differentiable affine map y = x·Wᵀ + b over the GEMM kernel (x is [..., in], W is [out, in]).
import { ShapeError } from '../../errors.js';
import { kernels } from '../../kernels/index.js';
import { traceOp } from '../../autograd/trace.js';
import { Node, needsGrad, record } from '../../autograd/node.js';
import { fmtShape } from '../../tensor/shape.js';
import { type Tensor, checkTensor } from '../../tensor/tensor.js';
import { allocTensor } from '../../tensor/internal.js';

class LinearBackward extends Node {
  readonly name = 'LinearBackward';
  constructor(
    x: Tensor,
    w: Tensor,
    private readonly rows: number,
  ) {
    super();
    this.save(x, w);
  }
  backward(dy: Tensor): (Tensor | null)[] {
    const x = this.savedTensor(0);
    const w = this.savedTensor(1);
    const [o, i] = w.shape as [number, number];
    const m = this.rows;
    const k = kernels();
    let dx: Tensor | null = null;
    if (this.inputs[0] !== null) {
      dx = allocTensor(x.shape);
      k.gemm(dx.data, dy.data, w.data, m, i, o, false, false, 1, 0); // dx[m×i] = dy[m×o]·W[o×i]
    }
    let dw: Tensor | null = null;
    if (this.inputs[1] !== null) {
      dw = allocTensor(w.shape);
      k.gemm(dw.data, dy.data, x.data, o, i, m, true, false, 1, 0); // dW[o×i] = dyᵀ·x
    }
    let db: Tensor | null = null;
    if (this.inputs[2] != null) {
      db = allocTensor([o]);
      const g = dy.data;
      const d = db.data;
      for (let j = 0; j < o; j++) {
        let s = 0;
        for (let r = 0; r < m; r++) s += g[r * o + j]!;
        d[j] = s;
      }
    }
    return [dx, dw, db];
  }
}

/** torch.nn.functional.linear: x [..., in], weight [out, in], bias [out] → [..., out]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  checkTensor('linear', 'input', x);
  checkTensor('linear', 'weight', weight);
  checkTensor('linear', 'bias', bias, true);
  if (weight.ndim !== 2)
    throw new ShapeError(`linear: weight must be 2-D [out, in], received shape ${fmtShape(weight.shape)}`);
  const [o, i] = weight.shape as [number, number];
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== i) {
    throw new ShapeError(
      `linear: input ${fmtShape(x.shape)} does not end in ${i} features as weight ${fmtShape(weight.shape)} expects`,
    );
  }
  if (bias !== null && (bias.ndim !== 1 || bias.shape[0] !== o)) {
    throw new ShapeError(
      `linear: bias must have shape [${o}] for weight ${fmtShape(weight.shape)}, received ${fmtShape(bias.shape)}`,
    );
  }
  const rows = i === 0 ? x.size : x.size / i;
  const out = allocTensor([...x.shape.slice(0, -1), o]);
  const k = kernels();
  k.gemm(out.data, x.data, weight.data, rows, o, i, false, true, 1, 0);
  if (bias !== null) {
    const y = out.data;
    const b = bias.data;
    for (let r = 0; r < rows; r++) for (let j = 0; j < o; j++) y[r * o + j]! += b[j]!;
  }
  traceOp(out, 'linear', [x, weight, bias]);
  if (!needsGrad(x, weight, bias)) return out;
  return record(out, new LinearBackward(x, weight, rows), x, weight, bias);
}
