// The backward pass: topological order over the recorded nodes, gradient accumulation, freeing the graph.
import { ShapeError, StateError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import { fmtShape, sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  allocTensor,
  disposeAs,
  installAutograd,
  isExclusive,
  isKept,
  passMark,
  setPassMark,
} from '../tensor/internal.js';
import type { Node } from './node.js';

/** Options of Tensor.backward(). */
export interface BackwardOptions {
  /** Keep the graph (and its intermediates) so backward can run through it again. Default false. */
  retainGraph?: boolean;
}

let pass = 0;
const order: Node[] = []; // reused across calls: no garbage per backward
const stack: Node[] = [];
const stackIdx: number[] = [];

/** Nodes reachable from `root`, each after all nodes that consume its output (reverse topological). */
function topoSort(root: Node, mark: number): void {
  order.length = 0;
  stack.length = 0;
  stackIdx.length = 0;
  stack.push(root);
  stackIdx.push(0);
  root.visit = mark;
  while (stack.length > 0) {
    const top = stack.length - 1;
    const node = stack[top]!;
    const i = stackIdx[top]!;
    if (i < node.inputs.length) {
      stackIdx[top] = i + 1;
      const next = node.inputs[i]?.gradFn;
      if (next != null && next.visit !== mark) {
        next.visit = mark;
        stack.push(next);
        stackIdx.push(0);
      }
    } else {
      order.push(node);
      stack.pop();
      stackIdx.pop();
    }
  }
  order.reverse(); // post-order reversed: consumers before producers
}

/** Add gradient `g` into `slot` (which the engine owns). Returns the tensor now in the slot. */
function accumulate(slot: Tensor | null, g: Tensor, mark: number): Tensor {
  if (slot === null) {
    // The same tensor object may be handed to two inputs (add's backward): copy on the second use.
    if (passMark(g) === mark) g = g.clone();
    setPassMark(g, mark);
    return g;
  }
  if (isExclusive(slot)) {
    kernels().axpy(slot.data, 1, g.data);
    slot.version++;
    return slot;
  }
  // The slot shares storage with another tensor (a view): accumulate out of place.
  const s = allocTensor(slot.shape);
  kernels().add(s.data, slot.data, g.data);
  setPassMark(s, mark);
  slot.dispose();
  return s;
}

// Data-parallel hooks (DDP): after a leaf's gradient is accumulated, and once at the end of a backward.
const gradHooks = new WeakMap<Tensor, ((t: Tensor) => void)[]>();
const callbacks: (() => void)[] = [];

/** Call `fn(t)` each time backward accumulates a gradient into leaf `t`. Returns the remover. */
export function registerGradAccumulatedHook(t: Tensor, fn: (t: Tensor) => void): () => void {
  let hooks = gradHooks.get(t);
  if (hooks === undefined) gradHooks.set(t, (hooks = []));
  hooks.push(fn);
  return () => {
    const i = hooks.indexOf(fn);
    if (i >= 0) hooks.splice(i, 1);
  };
}

/** Run `fn` once, when the current (or next) backward pass has finished every node. */
export function queueBackwardCallback(fn: () => void): void {
  callbacks.push(fn);
}

export function runBackward(root: Tensor, grad: Tensor | undefined, opts: BackwardOptions): void {
  if (!root.requiresGrad) {
    throw new StateError(
      `backward: tensor ${fmtShape(root.shape)} does not require grad and has no grad function (was it computed ` +
        `inside noGrad, or from inputs that do not require grad?)`,
    );
  }
  let g: Tensor;
  if (grad === undefined) {
    if (root.size !== 1)
      throw new ShapeError(
        `backward: a gradient can be implied only for a single-element output; pass grad for output shape ` +
          `${fmtShape(root.shape)}`,
      );
    g = allocTensor(root.shape);
    g.data[0] = 1;
  } else {
    if (!sameShape(grad.shape, root.shape))
      throw new ShapeError(
        `backward: grad shape ${fmtShape(grad.shape)} does not match output shape ${fmtShape(root.shape)}`,
      );
    g = grad.clone();
  }
  const mark = ++pass;
  setPassMark(g, mark);
  const rootFn = root.gradFn;
  if (rootFn === null) {
    root.grad = root.grad === null ? g : accumulate(root.grad, g, mark);
    if (root.grad !== g) g.dispose();
    return;
  }
  if (rootFn.freed) throw freedError(rootFn);
  const retain = opts.retainGraph === true;
  topoSort(rootFn, mark);
  rootFn.grad = g;
  const nodes = order.slice(); // a re-entrant backward (from a hook) must not clobber our list
  try {
    for (const node of nodes) {
      const dy = node.grad;
      node.grad = null;
      if (dy === null) continue;
      if (node.freed) throw freedError(node);
      const outs = node.backward(dy);
      setPassMark(dy, 0); // dy may pass through to an input (add, reshape): then it moves instead of being copied
      for (let i = 0; i < node.inputs.length; i++) {
        const inp = node.inputs[i];
        const o = outs[i];
        if (inp == null || o == null) continue;
        if (o.size !== inp.size)
          throw new Error(`internal: ${node.name} produced grad ${fmtShape(o.shape)} for input ${fmtShape(inp.shape)}`);
        const fn = inp.gradFn;
        if (fn !== null) fn.grad = accumulate(fn.grad, o, mark);
        else if (inp.requiresGrad) {
          inp.grad = accumulate(inp.grad, o, mark);
          const hooks = gradHooks.get(inp);
          if (hooks !== undefined) for (const h of hooks) h(inp);
        }
      }
      // Whatever was not moved into a slot is garbage now (dispose is idempotent for repeats).
      for (const o of outs) if (o != null && passMark(o) !== mark) o.dispose();
      if (passMark(dy) !== mark) dy.dispose();
      if (!retain) freeNode(node, root);
    }
    for (let cb = callbacks.shift(); cb !== undefined; cb = callbacks.shift()) cb();
  } finally {
    for (const node of nodes) {
      if (node.grad !== null) {
        node.grad.dispose();
        node.grad = null;
      }
    }
  }
}

function freeNode(node: Node, root: Tensor): void {
  node.release();
  const out = node.output;
  if (out !== null && out !== root && !isKept(out)) {
    const why = 'it was an intermediate of an autograd graph freed by backward()';
    disposeAs(out, `${why}; call keep() on it before backward() to read it afterwards`);
  }
  node.output = null;
}

function freedError(node: Node): StateError {
  return new StateError(
    `backward: trying to backward through the graph a second time (${node.name} was freed by the previous ` +
      `backward()); pass { retainGraph: true } to the first backward() to do that`,
  );
}

// Tensor.backward() is runBackward: the tensor layer calls what is installed here.
installAutograd({ backward: runBackward });
