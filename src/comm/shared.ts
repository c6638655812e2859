// Large all-reduce between thread ranks that share their wasm heaps: each segment's owner reduces it straight from the
// peers' buffers, then every rank copies the others' segments.
import { heapIsShared } from '../kernels/wasm/instance.js';
import { heapPointer } from '../kernels/wasm/heap.js';
import { EMPTY, exchangeAll, type TaskCtx } from './ops.js';
import { SCRATCH_BYTES, heapScratch, reducer, seg } from './reduce.js';
import type { SharedHeaps } from './transport.js';
import type { CommArray } from './types.js';

/**
 * Why: over rings every byte is copied by its sender into the ring, by its receiver out of it (and
 * staged into the heap for the SIMD sum), then once more in the all-gather: 128 MB of copies per
 * rank for a 16M-float all-reduce of two ranks, on a memory-bound machine. Reading the peers'
 * buffers where they are halves that. Only buffer addresses and two barriers use the rings.
 *
 * Safety: during the reduce phase a rank writes only its own segment and reads only the others'
 * copies of its segment; after a barrier it overwrites the other segments with their owners'
 * results, which nobody reads any more; a last barrier keeps every buffer unchanged until all
 * ranks are done reading it. The barriers go through the rings, whose seq-cst head/tail updates
 * order the plain reads and writes of the buffers around them.
 *
 * Order: segment elements are summed ((b0 + b1) + b2) + … by their owner (the first two in either
 * order: IEEE addition commutes), and copied to the others, so every rank has the same bits.
 */

/**
 * Smallest buffer taken this way: below it the three round trips (addresses, two barriers) cost
 * more than the ring's extra copies (2 threads, 256 KiB: 190 µs vs 125 µs; 4 MiB: 0.6–2.3 ms vs
 * 1.5–2.5 ms; 16 MiB: 5.0–5.6 ms vs 8.1–11.1 ms).
 */
export const SHARED_MIN_BYTES = 1 << 20;

/**
 * Bytes of a peer's segment copied into the heap at a time (half the scratch; the other half accumulates): the copy
 * stays in L2 for the add.
 */
const CHUNK_BYTES = SCRATCH_BYTES / 2;

function view(like: CommArray, sab: ArrayBufferLike, byteOffset: number, length: number): CommArray {
  return like instanceof Float64Array
    ? new Float64Array(sab, byteOffset, length)
    : new Float32Array(sab, byteOffset, length);
}

/**
 * Run the all-reduce this way if every member's buffer lies in its wasm heap, readable through
 * `heaps` (the transport's SharedHeaps capability); otherwise return false with nothing changed
 * (the caller runs the ring). Every member learns every other's answer in the first exchange, so
 * all take the same path.
 */
export function* allReduceShared(
  ctx: TaskCtx,
  heaps: SharedHeaps,
  buf: CommArray,
  op: number,
): Generator<void, boolean, void> {
  if (buf.byteLength < SHARED_MIN_BYTES) return false;
  const n = ctx.worldRanks.length;
  const me = ctx.groupRank;
  const world = ctx.worldRanks;
  // An address means something to the peers only in the heap they were given.
  let ptr = heapIsShared ? heapPointer(buf) : -1;
  for (let g = 0; g < n && ptr >= 0; g++) if (g !== me && heaps.heap(world[g]!) === null) ptr = -1;
  const ptrs = new Float64Array(n);
  ptrs[me] = ptr;
  yield* exchangeAll(
    ctx,
    new Uint8Array(ptrs.buffer, me * 8, 8),
    (g) => (r, pos) => (ptrs[g] = new Float64Array(r.sab, r.dataOffset + pos, 1)[0]!),
  );
  for (let g = 0; g < n; g++) if (ptrs[g]! < 0) return false;

  const es = buf.BYTES_PER_ELEMENT;
  const f = reducer(buf, op);
  const peer = (g: number, at: number, len: number): CommArray =>
    view(buf, heaps.heap(world[g]!)!, ptrs[g]! + at * es, len);
  // Reduce my segment, chunk by chunk.
  const [s, e] = seg(buf.length, n, me);
  const scratch = heapScratch(ctx.t);
  const tmpBytes = scratch.subarray(0, CHUNK_BYTES);
  const accBytes = scratch.subarray(CHUNK_BYTES);
  const chunk = CHUNK_BYTES / es;
  for (let c = s; c < e; c += chunk) {
    const len = Math.min(chunk, e - c);
    const tmp = view(buf, tmpBytes.buffer, tmpBytes.byteOffset, len);
    const mineNow = buf.subarray(c, c + len);
    // Ranks 0 and 1 accumulate in place (b1 + b0 = b0 + b1); the others from a copy of b0.
    const acc = me <= 1 ? mineNow : view(buf, accBytes.buffer, accBytes.byteOffset, len);
    const add = (g: number): void => {
      if (g === me) return f(acc, 0, mineNow);
      tmp.set(peer(g, c, len));
      f(acc, 0, tmp);
    };
    if (me >= 2) acc.set(peer(0, c, len));
    else if (me === 1) add(0);
    for (let g = 1; g < n; g++) if (g !== me || me >= 2) add(g);
    if (me >= 2) buf.set(acc, c);
  }
  yield* exchangeAll(ctx, EMPTY);
  // Every segment is final in its owner's buffer: copy the others'.
  for (let g = 0; g < n; g++) {
    if (g === me) continue;
    const [gs, ge] = seg(buf.length, n, g);
    if (ge > gs) buf.set(peer(g, gs, ge - gs), gs);
  }
  yield* exchangeAll(ctx, EMPTY);
  return true;
}
