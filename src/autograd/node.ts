// Autograd graph nodes: one per differentiable op application; the grad-mode switch (noGrad).
import { StateError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
// A graph recorded here is run by the engine: loading it installs Tensor.backward().
import './engine.js';

let gradEnabled = true;

/** Whether ops record the graph now (false inside noGrad). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run `fn` without recording the graph (evaluation, optimizer updates), like torch.no_grad(). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Set grad mode globally; returns the previous mode. */
export function setGradEnabled(on: boolean): boolean {
  const prev = gradEnabled;
  gradEnabled = on;
  return prev;
}

/**
 * A recorded op. `inputs[i]` is the i-th differentiable input (null where no gradient is needed);
 * `backward(dy)` returns one gradient per input (null where not needed). Nodes save the tensors
 * their backward needs with `save()`, which checks at backward time they were neither disposed
 * nor modified in place.
 */
export abstract class Node {
  abstract readonly name: string;
  inputs: (Tensor | null)[] = [];
  /** the tensor this node produced (freed with the graph unless kept) */
  output: Tensor | null = null;
  freed = false;
  /** engine scratch: accumulated gradient of `output`, and the pass that visited this node */
  grad: Tensor | null = null;
  visit = 0;
  private saved: Tensor[] = [];
  private savedVersions: number[] = [];

  /** Compute the input gradients from the output gradient `dy`. Must not modify `dy`. */
  abstract backward(dy: Tensor): (Tensor | null)[];

  /** Save tensors for backward (returns nothing; read back with savedTensor(i)). */
  protected save(...ts: Tensor[]): void {
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      this.saved.push(t);
      this.savedVersions.push(t.version);
    }
  }
  /** A tensor saved by save(), by position (StateError if it was disposed or modified in place since). */
  protected savedTensor(i: number): Tensor {
    const t = this.saved[i]!;
    if (t.isDisposed)
      throw new StateError(
        `${this.name}: a tensor ${JSON.stringify(t.shape)} saved for backward was disposed before backward()`,
      );
    if (t.version !== this.savedVersions[i]) {
      throw new StateError(
        `${this.name}: a tensor ${JSON.stringify(t.shape)} saved for backward was modified in place (version ` +
          `${this.savedVersions[i]} → ${t.version}) before backward()`,
      );
    }
    return t;
  }
  /** Free what this node holds (subclasses dispose private buffers here, then call super). */
  release(): void {
    this.saved.length = 0;
    this.savedVersions.length = 0;
    this.freed = true;
  }
}

/** True when an op on these inputs must be recorded (grad mode on and some input requires grad). */
export function needsGrad(a: Tensor | null, b: Tensor | null = null, c: Tensor | null = null): boolean {
  return (
    gradEnabled && ((a !== null && a.requiresGrad) || (b !== null && b.requiresGrad) || (c !== null && c.requiresGrad))
  );
}

/** Link `out` to `node` whose inputs are `inputs` (those not requiring grad are stored as null). */
export function record(out: Tensor, node: Node, ...inputs: (Tensor | null)[]): Tensor {
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i]!;
    node.inputs.push(t !== null && t.requiresGrad ? t : null);
  }
  node.output = out;
  out.gradFn = node;
  out.requiresGrad = true;
  return out;
}
