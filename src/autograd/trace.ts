// Op tracing hook: while a tracer is installed, every op reports (name, inputs, output, attributes).
import { StateError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';

/** One op application as the tracer sees it: `inputs` in the op's argument order (null = absent). */
export interface TracedOp {
  readonly op: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly output: Tensor;
  readonly attrs: object;
}

/** Receives every op while installed (see withOpTracer). */
export type OpTracer = (op: TracedOp) => void;

let active: OpTracer | null = null;

/**
 * Run `fn` with `tracer` receiving every op (ONNX export records a forward pass this way).
 * Ops made of other ops report both; the outer op reports last, with the same output tensor.
 */
export function withOpTracer<T>(tracer: OpTracer, fn: () => T): T {
  if (active !== null) throw new StateError('withOpTracer: a tracer is already installed (traces cannot nest)');
  active = tracer;
  try {
    return fn();
  } finally {
    active = null;
  }
}

/** Called by ops after computing `output` (a null check when nothing traces). */
export function traceOp(output: Tensor, op: string, inputs: readonly (Tensor | null)[], attrs: object = {}): void {
  if (active !== null) active({ op, inputs, output, attrs });
}
