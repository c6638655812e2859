// Collective algorithms over point-to-point ops: direct exchange for small buffers, ring for large, fixed reduction
// order.
import { CommError } from '../errors.js';
import {
  EMPTY,
  RecvOp,
  SendOp,
  exchangeAll,
  expectBytes,
  progressAll,
  progressOrdered,
  type Op,
  type Sink,
  type TaskCtx,
} from './ops.js';
import type { Ring } from './ring.js';
import type { CommArray } from './types.js';
import { allocF32 } from '../kernels/wasm/heap.js';
import { heapScratch, reduceInto, reducer, seg } from './reduce.js';
import { allReduceShared } from './shared.js';

/** Buffers up to this many bytes use the one-round direct exchange; larger ones the ring. */
export const DIRECT_MAX_BYTES = 64 * 1024;
/** Largest allGather contribution accepted from a peer (elements): bounds what a header can make us allocate. */
export const MAX_GATHER_ELEMENTS = 2 ** 30;

export function bytesOf(a: CommArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function viewOf(like: CommArray, r: Ring, pos: number, n: number): CommArray {
  return like instanceof Float64Array
    ? new Float64Array(r.sab, r.dataOffset + pos, n / 8)
    : new Float32Array(r.sab, r.dataOffset + pos, n / 4);
}

function copySink(dst: CommArray, elemAt: number): Sink {
  const d = bytesOf(dst);
  const base = elemAt * dst.BYTES_PER_ELEMENT;
  const sink: Sink = (r, pos, n, off) => d.set(r.data.subarray(pos, pos + n), base + off);
  sink.into = d.subarray(base);
  return sink;
}

function reduceSink(ctx: TaskCtx, dst: CommArray, elemAt: number, op: number): Sink {
  const es = dst.BYTES_PER_ELEMENT;
  const f = reducer(dst, op);
  const sink: Sink = (r, pos, n, off) => f(dst, elemAt + off / es, viewOf(dst, r, pos, n));
  if (ctx.zeroCopy !== null) {
    // A transport that reads for us (zero-copy) fills this heap scratch: float32 sums then run on it by pointer,
    // without first staging the ring's chunk into the heap.
    const scratch = (sink.scratch = heapScratch(ctx.t));
    sink.take = (n, off) =>
      f(
        dst,
        elemAt + off / es,
        dst instanceof Float64Array
          ? new Float64Array(scratch.buffer, scratch.byteOffset, n / 8)
          : new Float32Array(scratch.buffer, scratch.byteOffset, n / 4),
      );
  }
  return sink;
}

class LocalOp implements Op {
  done = false;
  readonly recv = false;
  constructor(
    readonly peer: number,
    private readonly fn: () => void,
  ) {}
  step(): boolean {
    this.fn();
    this.done = true;
    return true;
  }
}

function sub(a: CommArray, [s, e]: [number, number]): Uint8Array {
  const es = a.BYTES_PER_ELEMENT;
  return new Uint8Array(a.buffer, a.byteOffset + s * es, (e - s) * es);
}

export function* allReduce(ctx: TaskCtx, buf: CommArray, op: number): Generator<void, void, void> {
  const n = ctx.worldRanks.length;
  if (n === 1) return;
  if (buf.byteLength <= DIRECT_MAX_BYTES) yield* allReduceDirect(ctx, buf, op);
  else {
    const heaps = ctx.sharedHeaps;
    if (heaps === null || !(yield* allReduceShared(ctx, heaps, buf, op))) yield* allReduceRing(ctx, buf, op);
  }
}

/**
 * The direct all-reduce's accumulator, one per transport and dtype, reused: a rank's collectives run
 * one at a time (the engine steps only the head of its queue), and the accumulator lives only from
 * a collective's first contribution to its final copy into the caller's buffer.
 */
const accumulators = new WeakMap<object, { f32: Float32Array; f64: Float64Array }>();

function accumulator(ctx: TaskCtx, like: CommArray): CommArray {
  let a = accumulators.get(ctx.t);
  // float32 in the wasm heap, so that sums of ≥ FAST_SUM_MIN elements into it run in SIMD in place (by pointer)
  if (a === undefined)
    accumulators.set(ctx.t, (a = { f32: allocF32(DIRECT_MAX_BYTES / 4), f64: new Float64Array(DIRECT_MAX_BYTES / 8) }));
  return like instanceof Float64Array ? a.f64.subarray(0, like.length) : a.f32.subarray(0, like.length);
}

/** One round: everyone sends its buffer to everyone; each sums contributions in rank order 0..n−1. */
function* allReduceDirect(ctx: TaskCtx, buf: CommArray, op: number): Generator<void, void, void> {
  const n = ctx.worldRanks.length;
  const me = ctx.groupRank;
  const acc = accumulator(ctx, buf);
  const mine = bytesOf(buf);
  const sends: Op[] = [];
  const recvs: Op[] = [];
  for (let g = 0; g < n; g++) {
    if (g === me) {
      recvs.push(new LocalOp(g, () => (g === 0 ? acc.set(buf) : reduceInto(acc, 0, buf, op))));
      continue;
    }
    sends.push(new SendOp(ctx, g, mine));
    recvs.push(
      new RecvOp(ctx, g, (h) => {
        expectBytes(ctx, h, buf.byteLength);
        return g === 0 ? copySink(acc, 0) : reduceSink(ctx, acc, 0, op);
      }),
    );
  }
  yield* progressOrdered(ctx, sends, recvs);
  buf.set(acc);
}

/** Ring reduce-scatter then ring all-gather: each segment is reduced once, along a fixed path, then copied. */
function* allReduceRing(ctx: TaskCtx, buf: CommArray, op: number): Generator<void, void, void> {
  const me = ctx.groupRank;
  // After n−1 reduce steps starting from our own segment, we hold segment me+1 fully reduced.
  yield* ringPass(ctx, buf, me, (at) => reduceSink(ctx, buf, at, op));
  yield* ringPass(ctx, buf, (me + 1) % ctx.worldRanks.length, (at) => copySink(buf, at));
}

/**
 * n−1 ring steps: at step s send segment (first − s) to the right neighbour and receive segment
 * (first − s − 1) from the left one into `sinkAt(start of that segment)`.
 */
function* ringPass(
  ctx: TaskCtx,
  buf: CommArray,
  first: number,
  sinkAt: (elemAt: number) => Sink,
): Generator<void, void, void> {
  const n = ctx.worldRanks.length;
  const me = ctx.groupRank;
  const right = (me + 1) % n;
  const left = (me + n - 1) % n;
  const es = buf.BYTES_PER_ELEMENT;
  for (let s = 0; s < n - 1; s++) {
    const out = seg(buf.length, n, (first - s + n) % n);
    const inn = seg(buf.length, n, (first - s - 1 + 2 * n) % n);
    yield* progressAll(ctx, [
      new SendOp(ctx, right, sub(buf, out)),
      new RecvOp(ctx, left, (h) => {
        expectBytes(ctx, h, (inn[1] - inn[0]) * es);
        return sinkAt(inn[0]);
      }),
    ]);
  }
}

/** Small or two ranks: the root sends to all. Large: scatter segments from the root, then a ring all-gather. */
export function* broadcast(ctx: TaskCtx, buf: CommArray, root: number): Generator<void, void, void> {
  const n = ctx.worldRanks.length;
  const me = ctx.groupRank;
  if (n === 1) return;
  const large = buf.byteLength > DIRECT_MAX_BYTES && n > 2;
  const es = buf.BYTES_PER_ELEMENT;
  if (!large) {
    // Non-roots also send the root an empty message: a rank that wrongly believes itself root then
    // receives a header to compare (two self-declared roots would otherwise both "succeed").
    if (me === root) {
      const mine = bytesOf(buf);
      const ops: Op[] = [];
      for (let g = 0; g < n; g++)
        if (g !== root)
          ops.push(new SendOp(ctx, g, mine), new RecvOp(ctx, g, (h) => (expectBytes(ctx, h, 0), () => {})));
      yield* progressAll(ctx, ops);
    } else {
      yield* progressAll(ctx, [
        new SendOp(ctx, root, EMPTY),
        new RecvOp(ctx, root, (h) => {
          expectBytes(ctx, h, buf.byteLength);
          return copySink(buf, 0);
        }),
      ]);
    }
    return;
  }
  if (me === root) {
    const sends: Op[] = [];
    for (let g = 0; g < n; g++) if (g !== root) sends.push(new SendOp(ctx, g, sub(buf, seg(buf.length, n, g))));
    yield* progressAll(ctx, sends);
  } else {
    const mineSeg = seg(buf.length, n, me);
    yield* progressAll(ctx, [
      new RecvOp(ctx, root, (h) => {
        expectBytes(ctx, h, (mineSeg[1] - mineSeg[0]) * es);
        return copySink(buf, mineSeg[0]);
      }),
    ]);
  }
  yield* ringPass(ctx, buf, me, (at) => copySink(buf, at));
}

/** Direct exchange: every rank sends its contribution to every other (lengths travel in the header). */
export function* allGather(ctx: TaskCtx, buf: CommArray): Generator<void, CommArray[], void> {
  const n = ctx.worldRanks.length;
  const me = ctx.groupRank;
  const out: CommArray[] = new Array<CommArray>(n);
  out[me] = buf.slice();
  if (n === 1) return out;
  const mine = bytesOf(buf);
  const ops: Op[] = [];
  const f64 = buf instanceof Float64Array;
  for (let g = 0; g < n; g++) {
    if (g === me) continue;
    ops.push(new SendOp(ctx, g, mine));
    ops.push(
      new RecvOp(ctx, g, (h) => {
        if (h.len > MAX_GATHER_ELEMENTS)
          throw new CommError(
            `allGather #${ctx.hdr.seq}: rank ${g} announced ${h.len} elements, above the limit of ` +
              `${MAX_GATHER_ELEMENTS}`,
          );
        expectBytes(ctx, h, h.len * buf.BYTES_PER_ELEMENT);
        const dst = f64 ? new Float64Array(h.len) : new Float32Array(h.len);
        out[g] = dst;
        return copySink(dst, 0);
      }),
    );
  }
  yield* progressAll(ctx, ops);
  return out;
}

/** Dissemination barrier: ⌈log2 n⌉ rounds of empty messages at distance 1, 2, 4, … */
export function* barrier(ctx: TaskCtx): Generator<void, void, void> {
  const n = ctx.worldRanks.length;
  const me = ctx.groupRank;
  for (let d = 1; d < n; d *= 2) {
    yield* progressAll(ctx, [
      new SendOp(ctx, (me + d) % n, EMPTY),
      new RecvOp(ctx, (me - d + n) % n, (h) => (expectBytes(ctx, h, 0), () => {})),
    ]);
  }
}

/** Every pair exchanges an empty message: every rank sees every other's header (used to agree on a new group). */
export function* checkAll(ctx: TaskCtx): Generator<void, void, void> {
  yield* exchangeAll(ctx, EMPTY);
}
