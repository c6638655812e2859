// Reference (plain TypeScript) GEMM, convolution, pooling and elementwise kernels. OWNER: issue 4.
import type { NNKernels } from '../types.js';
import { pending } from '../pending.js';
export const nnRef: NNKernels = pending<NNKernels>('nnRef');
