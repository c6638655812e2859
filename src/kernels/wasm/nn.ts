// WebAssembly SIMD GEMM, convolution, pooling and elementwise kernels (bindings over wasm/gemm.ts, wasm/nn.ts). OWNER: issue 4.
import type { NNKernels } from '../types.js';
import { pending } from '../pending.js';
export const nnWasm: NNKernels = pending<NNKernels>('nnWasm');
