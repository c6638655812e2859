// Argument staging for the wasm kernel bindings: heap arrays go by pointer, any other array through withScratch blocks.
import { f64View, heapBuffer, heapPointer } from './heap.js';

/** A withScratch allocator: bytes → heap pointer, freed when the call returns. */
export type Take = (bytes: number) => number;

type Floats = Float32Array | Float64Array;

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Pointer to `a` in the heap; an array elsewhere is copied into scratch (when `copyIn`) — correct, slower. */
export function place(take: Take, a: Floats, copyIn: boolean): number {
  const p = heapPointer(a);
  if (p >= 0) return p;
  const q = take(a.byteLength);
  if (copyIn) new Uint8Array(heapBuffer(), q, a.byteLength).set(bytesOf(a));
  return q;
}

/** After the kernel: copy a staged output back to its caller-owned array. */
export function land(a: Floats, p: number): void {
  if (heapPointer(a) !== p) bytesOf(a).set(new Uint8Array(heapBuffer(), p, a.byteLength));
}

/** Copy numbers into a fresh scratch block of float64. */
export function putF64(take: Take, a: ArrayLike<number>): number {
  const p = take(a.length * 8);
  f64View(p, a.length).set(a);
  return p;
}
