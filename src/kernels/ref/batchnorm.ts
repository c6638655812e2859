// Reference (plain TypeScript, float64) batch-norm kernels. OWNER: issue 2.
import type { BatchNormKernels } from '../types.js';
import { pending } from '../pending.js';
export const batchNormRef: BatchNormKernels = pending<BatchNormKernels>('batchNormRef');
