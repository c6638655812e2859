// Tensor public API: the Tensor type, shapes, seeded random numbers, heap statistics.
export { Tensor } from './tensor.js';
export { tidy } from './tidy.js';
export type { Shape } from './shape.js';
export { fmtShape } from './shape.js';
export { RandomGenerator, defaultGenerator, manualSeed, type RandomGeneratorState } from './random.js';
export { heapStats, type HeapStats } from '../kernels/wasm/heap.js';
