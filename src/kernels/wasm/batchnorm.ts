// WebAssembly SIMD batch-norm kernels (bindings over wasm/bn.ts). OWNER: issue 2.
import type { BatchNormKernels } from '../types.js';
import { pending } from '../pending.js';
export const batchNormWasm: BatchNormKernels = pending<BatchNormKernels>('batchNormWasm');
