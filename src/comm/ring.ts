// A single-producer single-consumer byte ring in shared memory: the one data path under every transport.
import { UsageError } from '../errors.js';

/** Control words before the data: head (producer) and tail (consumer) on separate cache lines. */
export const RING_CTL_BYTES = 128;
const HEAD = 0;
const TAIL = 16;

/**
 * Counters are byte totals that wrap at 2^32 (int32 arithmetic); capacity is a power of two, so
 * `counter & mask` is the position. Every amount published is a multiple of 8, so every position is
 * 8-aligned and a Float64Array/Float32Array view over any contiguous piece is legal.
 */
export class Ring {
  readonly ctl: Int32Array;
  readonly data: Uint8Array;
  readonly mask: number;
  /** Absolute byte offset of data[0] in `sab`, for typed views over pieces. */
  readonly dataOffset: number;

  constructor(
    readonly sab: SharedArrayBuffer,
    byteOffset: number,
    readonly cap: number,
  ) {
    if (cap < 64 || (cap & (cap - 1)) !== 0)
      throw new UsageError(`Ring: capacity must be a power of two ≥ 64, received ${cap}`);
    this.ctl = new Int32Array(sab, byteOffset, RING_CTL_BYTES / 4);
    this.dataOffset = byteOffset + RING_CTL_BYTES;
    this.data = new Uint8Array(sab, this.dataOffset, cap);
    this.mask = cap - 1;
  }

  static bytes(cap: number): number {
    return RING_CTL_BYTES + cap;
  }

  // ---- producer side
  /** Bytes that can be written now. */
  free(): number {
    return this.cap - ((this.ctl[HEAD]! - Atomics.load(this.ctl, TAIL)) | 0);
  }

  /**
   * Copy `src[srcOff, srcOff+take)` to the head and publish `n` bytes (n ≥ take, n % 8 == 0, n ≤ free):
   * the bytes past `take` are padding the reader skips.
   */
  push(src: Uint8Array, srcOff: number, take: number, n: number): void {
    const head = this.ctl[HEAD]!;
    const pos = head & this.mask;
    const first = Math.min(take, this.cap - pos);
    if (first > 0) this.data.set(src.subarray(srcOff, srcOff + first), pos);
    if (take > first) this.data.set(src.subarray(srcOff + first, srcOff + take), 0);
    Atomics.store(this.ctl, HEAD, (head + n) | 0);
  }

  /**
   * Copy src to `extra` bytes past the head without publishing (a relay receiving a byte stream
   * publishes only whole 8-byte units with `publish`). Caller keeps extra + src.length ≤ free().
   */
  writeAt(extra: number, src: Uint8Array): void {
    const pos = (this.ctl[HEAD]! + extra) & this.mask;
    const first = Math.min(src.length, this.cap - pos);
    this.data.set(first === src.length ? src : src.subarray(0, first), pos);
    if (src.length > first) this.data.set(src.subarray(first), 0);
  }

  publish(n: number): void {
    Atomics.store(this.ctl, HEAD, (this.ctl[HEAD]! + n) | 0);
  }

  /** Bytes queued (written, not yet consumed): for the producer to know when its data left. */
  pending(): number {
    return (Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) | 0;
  }

  // ---- consumer side
  avail(): number {
    return (Atomics.load(this.ctl, HEAD) - this.ctl[TAIL]!) | 0;
  }

  /** Position (index into data) of the tail. */
  tailPos(): number {
    return this.ctl[TAIL]! & this.mask;
  }

  /** Copy `n` bytes from the tail (not consuming) into dst, handling the wrap. */
  peekInto(dst: Uint8Array, n: number, skip = 0): void {
    const pos = (this.ctl[TAIL]! + skip) & this.mask;
    const first = Math.min(n, this.cap - pos);
    dst.set(this.data.subarray(pos, pos + first), 0);
    if (n > first) dst.set(this.data.subarray(0, n - first), first);
  }

  consume(n: number): void {
    Atomics.store(this.ctl, TAIL, (this.ctl[TAIL]! + n) | 0);
  }

  // ---- used by a relay (the TCP comm worker) that reads the producer side's tail position
  /** Tail counter (consumer progress). */
  tail(): number {
    return Atomics.load(this.ctl, TAIL);
  }
  head(): number {
    return Atomics.load(this.ctl, HEAD);
  }
}
