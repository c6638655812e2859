// Test helper: the kernel backends that are built (a backend still pending is left out) and a scoped switch.
import { referenceKernels, setKernels, wasmKernels, type KernelSet } from '../../src/kernels/index.js';

const REQUIRED = ['gemm', 'conv2dForward', 'batchNormStats', 'batchNormElemt', 'reluForward'] as const;

/** Backends with every kernel the training stack calls (reference first). */
export function builtBackends(): KernelSet[] {
  return [referenceKernels, wasmKernels].filter((k) =>
    REQUIRED.every((m) => typeof (k as unknown as Record<string, unknown>)[m] === 'function'),
  );
}

/** Run fn with `k` as the active backend. */
export function withKernels<T>(k: KernelSet, fn: () => T): T {
  const prev = setKernels(k);
  try {
    return fn();
  } finally {
    setKernels(prev);
  }
}
