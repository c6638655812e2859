// Records the ops of one forward pass, each tagged with the path of the innermost module that ran it.
import { withOpTracer, type TracedOp } from '../autograd/trace.js';
import { noGrad } from '../autograd/node.js';
import { UsageError, describe } from '../errors.js';
import type { Module } from '../nn/module.js';
import { Tensor } from '../tensor/tensor.js';

/** A traced op, where it ran and the versions of its inputs when it read them (in-place edits show up). */
export interface TraceRecord extends TracedOp {
  /** dotted module path ('' = the root module) */
  readonly path: string;
  /** class name of that module */
  readonly moduleType: string;
  readonly inputVersions: readonly (number | null)[];
  readonly outputVersion: number;
}

export interface Trace {
  readonly ops: readonly TraceRecord[];
  readonly output: Tensor;
}

type Forward = (...args: unknown[]) => unknown;

/**
 * Run `model.forward(input)` once without autograd, recording every op. Each module's `forward` is
 * wrapped for the duration (an own property shadowing the class method, removed afterwards) so an op
 * knows which module called it; training flags are left to the caller.
 */
export function traceForward(model: Module, input: Tensor): Trace {
  const stack: [string, Module][] = [['', model]];
  const restore: (() => void)[] = [];
  const seen = new Set<Module>();
  for (const [path, m] of model.namedModules()) {
    if (seen.has(m)) continue; // a module shared under two names keeps its first name
    seen.add(m);
    const holder = m as unknown as { forward: Forward };
    const had = Object.prototype.hasOwnProperty.call(m, 'forward');
    const orig = holder.forward;
    holder.forward = function (this: unknown, ...args: unknown[]): unknown {
      stack.push([path, m]);
      try {
        return orig.apply(this, args);
      } finally {
        stack.pop();
      }
    };
    restore.push(() => {
      if (had) holder.forward = orig;
      else delete (holder as { forward?: Forward }).forward;
    });
  }
  const ops: TraceRecord[] = [];
  const record = (op: TracedOp): void => {
    const [path, m] = stack[stack.length - 1]!;
    ops.push({
      ...op,
      path,
      moduleType: m.constructor.name,
      inputVersions: op.inputs.map((t) => (t === null ? null : t.version)),
      outputVersion: op.output.version,
    });
  };
  let output: unknown;
  try {
    output = noGrad(() => withOpTracer(record, () => (model as unknown as { forward: Forward }).forward(input)));
  } finally {
    for (const r of restore) r();
  }
  if (!(output instanceof Tensor)) {
    throw new UsageError(
      `exportOnnx: the model's forward must return one Tensor, it returned ` +
        `${output instanceof Object ? output.constructor.name : describe(output)}`,
    );
  }
  return { ops, output };
}
