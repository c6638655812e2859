// WebAssembly SIMD GEMM, convolution, pooling and elementwise kernels (bindings over wasm/gemm.ts, wasm/nn.ts). OWNER: issue 4.
import type { NNKernels } from '../types.js';
import { nnRef } from '../ref/nn.js';
// Interim: the SIMD kernels land next; until then the wasm table runs the reference twins so kernels() works.
export const nnWasm: NNKernels = { ...nnRef };
