// Entry of the one WebAssembly module: every kernel area re-exported. Pointers are byte offsets into the imported
// shared memory.

/** First free byte after static data; the TypeScript heap allocator (src/kernels/wasm/heap.ts) starts above it. */
export function heapBase(): usize {
  return __heap_base;
}

export * from "./bn";
export * from "./gn";
export * from "./gemm";
export * from "./nn";
