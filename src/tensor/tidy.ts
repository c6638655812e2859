// tidy(): free the tensors a function created, except what it returns and what a pending backward still needs.
import { UsageError } from '../errors.js';
import { scopes } from './scopes.js';
import { Tensor, isKept } from './tensor.js';

function collect(v: unknown, out: Set<Tensor>, depth: number): void {
  if (v instanceof Tensor) out.add(v);
  else if (depth < 4 && Array.isArray(v)) for (const x of v) collect(x, out, depth + 1);
  else if (depth < 4 && v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collect(x, out, depth + 1);
  }
}

/**
 * Run `fn` and then dispose every tensor it created that is not part of what it returns (a tensor,
 * or arrays/plain objects of them) and not part of an autograd graph still waiting for backward()
 * (which frees it); parameters, buffers, optimizer state, gradients and kept tensors survive. Returned
 * tensors move to the enclosing tidy, if any. Synchronous functions only.
 */
export function tidy<T>(fn: () => T): T {
  const mine: Tensor[] = [];
  scopes.push(mine);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise)
    throw new UsageError(
      'tidy: fn must be synchronous (it returned a Promise); dispose tensors explicitly across awaits',
    );
  const keep = new Set<Tensor>();
  collect(result, keep, 0);
  const parent = scopes.length > 0 ? scopes[scopes.length - 1]! : null;
  for (const t of mine) {
    // a tensor of a graph not yet backwarded may still be needed by backward(): its graph owns it
    const inLiveGraph = t.gradFn !== null && !t.gradFn.freed;
    if (keep.has(t)) parent?.push(t);
    else if (!isKept(t) && !t.persistent && !inLiveGraph) t.dispose();
    else if (parent !== null && inLiveGraph) parent.push(t);
  }
  return result;
}
