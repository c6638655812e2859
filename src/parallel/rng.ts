// A small seeded PRNG (xoshiro128** seeded by splitmix32): the same seed gives the same stream on every rank and platform.
import { UsageError, describe } from '../errors.js';

/** An Rng's full state, JSON-able: the four xoshiro128** words. */
export interface RngState {
  kind: 'xoshiro128**';
  words: [number, number, number, number];
}

/** Deterministic 32-bit generator; `uint32()` is xoshiro128**, the state comes from splitmix32(seed). */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new UsageError(`Rng: seed must be a safe integer, received ${seed}`);
    // Fold the (possibly > 2^32) seed into 32 bits with both halves so that seed and seed + 2^32 differ.
    let x = (seed >>> 0) ^ Math.floor(seed / 4294967296) * 0x9e3779b9;
    const next = (): number => {
      // splitmix32: a bijective mixer, so distinct seeds start distinct streams.
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** The full state (copy), to continue the stream exactly with setState. */
  getState(): RngState {
    return { kind: 'xoshiro128**', words: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0] };
  }

  /** Restore a state from getState(); validated field by field. */
  setState(state: RngState): this {
    const s = state as Partial<RngState> | null;
    if (s === null || typeof s !== 'object') throw new UsageError(`Rng.setState: state must be an object from getState(), received ${describe(s)}`);
    if (s.kind !== 'xoshiro128**') throw new UsageError(`Rng.setState: state.kind must be "xoshiro128**", received ${describe(s.kind)}`);
    const w = s.words;
    if (!Array.isArray(w) || w.length !== 4 || !w.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32) || w.every((x) => x === 0)) {
      throw new UsageError(`Rng.setState: state.words must be 4 unsigned 32-bit integers, not all 0, received ${describe(w)}`);
    }
    [this.s0, this.s1, this.s2, this.s3] = w.map((x) => x | 0) as [number, number, number, number];
    return this;
  }

  /** Next uniform integer in [0, 2^32). */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 random bits. */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform integer in [0, n), unbiased (rejection of the short top range). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new UsageError(`Rng.int: n must be an integer in [1, 2^32], received ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const u = this.uint32();
      if (u < limit) return u % n;
    }
  }

  /** Standard normal (Box–Muller; one value per call, the pair's second half is discarded for simplicity). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }

  /** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
