// Float32 sum for large reduction chunks: stage the operands in the wasm heap and add them with 128-bit SIMD.
import { wasm } from '../kernels/wasm/instance.js';
import { alloc, f32View, heapPointer } from '../tensor/heap.js';

/**
 * Why: V8 runs `d[i] += s[i]` over Float32Arrays at about 0.45 G elements/s here (convert, add,
 * convert, two bounds checks per element), which made the reduce step, not the copies, the limit of
 * a large all-reduce over threads. A memcpy into the heap runs at ~10 GB/s and f32x4.add at several
 * G elements/s, so staging wins by about 3× even when the destination must be staged too. The sum is
 * the same IEEE float32 addition either way (a double-rounded f64 sum of two f32 values equals the
 * correctly rounded f32 sum), so ranks that take different paths still agree bitwise.
 */
export const FAST_SUM_MIN = 2048;
const SLICE = 1 << 16; // floats per staged slice: 256 KiB of scratch per operand

let scratch: { a: Float32Array; b: Float32Array; pa: number; pb: number } | null = null;

function stage(): { a: Float32Array; b: Float32Array; pa: number; pb: number } {
  if (scratch === null) {
    const pa = alloc(SLICE * 4);
    const pb = alloc(SLICE * 4);
    scratch = { a: f32View(pa, SLICE), b: f32View(pb, SLICE), pa, pb };
  }
  return scratch;
}

/** d[at + i] += s[i] for i < s.length, float32; d may live anywhere, s anywhere (e.g. a transport ring). */
export function sumF32Into(d: Float32Array, at: number, s: Float32Array): void {
  const st = stage();
  const dp = heapPointer(d);
  const n = s.length;
  for (let o = 0; o < n; o += SLICE) {
    const k = Math.min(SLICE, n - o);
    const sp = heapPointer(s);
    let srcPtr: number;
    if (sp >= 0) srcPtr = sp + o * 4;
    else {
      st.b.set(s.subarray(o, o + k), 0);
      srcPtr = st.pb;
    }
    if (dp >= 0) {
      const p = dp + (at + o) * 4;
      wasm.elementwise!(0, p, p, srcPtr, 0, k);
    } else {
      const part = d.subarray(at + o, at + o + k);
      st.a.set(part, 0);
      wasm.elementwise!(0, st.pa, st.pa, srcPtr, 0, k);
      part.set(k === SLICE ? st.a : st.a.subarray(0, k));
    }
  }
}
