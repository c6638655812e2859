// The allocator for the wasm heap: tensors live here so WebAssembly kernels run on them by pointer.
import { memory, wasm } from './instance.js';
import { UsageError, describe } from '../../errors.js';

const ALIGN = 64; // cache line; also satisfies v128 alignment

/**
 * Size classes: a request is rounded up so that blocks freed by one step are reused by the next
 * (training repeats the same shapes), so the heap stops growing after the first step.
 * Below 4 KiB: multiples of 64 B; above: 8 steps per power of two (≤ 12.5 % slack).
 */
export function sizeClass(bytes: number): number {
  if (bytes <= 4096) return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 8;
  return Math.ceil(bytes / step) * step;
}

const base = Math.ceil(wasm.heapBase!() / ALIGN) * ALIGN + ALIGN;
let top = base;
const live = new Map<number, number>(); // ptr -> class size
const free = new Map<number, number[]>(); // class size -> ptrs
let liveBytes = 0;
const buffers = new WeakSet<ArrayBufferLike>([memory.buffer]);

function ensure(end: number): void {
  const have = memory.buffer.byteLength;
  if (end <= have) return;
  const pages = Math.ceil((end - have) / 65536);
  // Grow by at least 1/8 of the current size to keep the number of grows logarithmic.
  memory.grow(Math.max(pages, Math.ceil(have / 65536 / 8)));
  heapBuffer();
}

/** Allocate `bytes` (rounded to a size class), 64-byte aligned. Contents are not zeroed. */
export function alloc(bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < 0)
    throw new UsageError(`alloc: bytes must be a non-negative integer, ` + `received ${describe(bytes)}`);
  const size = sizeClass(bytes);
  const list = free.get(size);
  let ptr: number;
  if (list !== undefined && list.length > 0) {
    ptr = list.pop()!;
  } else {
    ensure(top + size);
    ptr = top;
    top += size;
  }
  live.set(ptr, size);
  liveBytes += size;
  return ptr;
}

/** Return a block to its size class. Freeing an unknown pointer is a usage error (double free). */
export function release(ptr: number): void {
  const size = live.get(ptr);
  if (size === undefined) throw new UsageError(`release: pointer ${ptr} is not a live heap block (double free?)`);
  live.delete(ptr);
  liveBytes -= size;
  let list = free.get(size);
  if (list === undefined) free.set(size, (list = []));
  list.push(ptr);
}

/**
 * The heap's current SharedArrayBuffer, registered as ours. Why not just `memory.buffer`: once other
 * threads hold this memory too (spawnThreads shares every rank's heap with the others), V8 may hand
 * this thread a new buffer object for it after a grow, at an interrupt of its own choosing (measured:
 * 1 in 6 fresh allocations); views made on it must still be recognised as the heap.
 */
let current: ArrayBufferLike | null = null;
export function heapBuffer(): ArrayBufferLike {
  const b = memory.buffer;
  if (b !== current) {
    current = b;
    buffers.add(b);
  }
  return b;
}

/** A Float32Array view of `length` floats at `ptr`. Stays valid across memory growth (shared memory). */
export function f32View(ptr: number, length: number): Float32Array {
  return new Float32Array(heapBuffer(), ptr, length);
}

export function f64View(ptr: number, length: number): Float64Array {
  return new Float64Array(heapBuffer(), ptr, length);
}

/** The byte pointer of a typed array that lives in the wasm heap, or -1 if it lives elsewhere. */
export function heapPointer(a: ArrayBufferView): number {
  if (buffers.has(a.buffer)) return a.byteOffset;
  return a.buffer === heapBuffer() ? a.byteOffset : -1;
}

/** Allocate a heap-resident Float32Array (not zeroed). Free it with `release(heapPointer(a))`. */
export function allocF32(length: number): Float32Array {
  return f32View(alloc(length * 4), length);
}

export function allocF64(length: number): Float64Array {
  return f64View(alloc(length * 8), length);
}

/** The WebAssembly heap that holds tensor data, by the numbers (see heapStats). */
export interface HeapStats {
  /** bytes handed out and not yet released */
  liveBytes: number;
  /** bytes ever carved from the heap (live + free lists): flat over a steady training loop */
  reservedBytes: number;
  /** size of the WebAssembly memory */
  memoryBytes: number;
  liveBlocks: number;
}

/**
 * Current heap usage: a live-bytes count that grows across training steps means tensors are not disposed (use tidy()).
 */
export function heapStats(): HeapStats {
  return { liveBytes, reservedBytes: top - base, memoryBytes: memory.buffer.byteLength, liveBlocks: live.size };
}

/**
 * Scoped scratch: run `fn` with a helper that allocates temporary heap blocks, all released after.
 * Kernels use it to stage small per-channel arrays (mean, invstd, γ, β) next to the big tensors.
 */
export function withScratch<T>(fn: (take: (bytes: number) => number) => T): T {
  const taken: number[] = [];
  try {
    return fn((bytes) => {
      const p = alloc(bytes);
      taken.push(p);
      return p;
    });
  } finally {
    for (let i = 0; i < taken.length; i++) release(taken[i]!);
  }
}
