// The one seeded PRNG (sfc32 seeded by splitmix32): uniform, normal, integers, permutations, and the global default.
import { UsageError, describe } from '../errors.js';

/** A RandomGenerator's full state, JSON-able: the four sfc32 words and the cached second normal (null if none). */
export interface RandomGeneratorState {
  kind: 'sfc32';
  words: [number, number, number, number];
  spare: number | null;
}

/**
 * The library's seeded PRNG (torch.Generator's role): weight initialization, rand/randn, dropout, the sampler's
 * shuffles and the demo's data all draw from instances of it. sfc32 passes PractRand to 2^64 bytes and uses only
 * 32-bit integer ops (fast in V8); seeds are expanded by splitmix32 so nearby seeds give unrelated streams. Named
 * RandomGenerator rather than Generator so that it does not shadow TypeScript's built-in `Generator<T>`.
 */
export class RandomGenerator {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  private spare = NaN; // second Box–Muller value

  /** @param seed a finite number; see manualSeed */
  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  /** Reset the stream to `seed` (an integer; fractional/huge values are reduced to 32 bits). */
  manualSeed(seed: number): this {
    if (!Number.isFinite(seed)) {
      throw new UsageError(`manualSeed: seed must be a finite number, received ${describe(seed)}`);
    }
    let s = (Math.trunc(seed) >>> 0) ^ ((Math.floor(seed / 2 ** 32) >>> 0) * 0x9e3779b9);
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    this.spare = NaN;
    for (let i = 0; i < 12; i++) this.nextU32();
    return this;
  }

  /** The full state (copy), to resume the stream exactly with setState (torch.Generator.get_state). */
  getState(): RandomGeneratorState {
    const words: RandomGeneratorState['words'] = [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
    return { kind: 'sfc32', words, spare: Number.isNaN(this.spare) ? null : this.spare };
  }

  /** Restore a state from getState(); validated field by field (torch.Generator.set_state). */
  setState(state: RandomGeneratorState): this {
    const s = state as Partial<RandomGeneratorState> | null;
    const bad = (what: string, v: unknown): UsageError =>
      new UsageError(`RandomGenerator.setState: ${what}, received ${describe(v)}`);
    if (s === null || typeof s !== 'object') throw bad('state must be an object from getState()', s);
    if (s.kind !== 'sfc32') throw bad('state.kind must be "sfc32"', s.kind);
    const w = s.words;
    if (!Array.isArray(w) || w.length !== 4 || !w.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)) {
      throw bad('state.words must be 4 unsigned 32-bit integers', w);
    }
    if (s.spare !== null && !Number.isFinite(s.spare)) {
      throw bad('state.spare must be a finite number or null', s.spare);
    }
    [this.a, this.b, this.c, this.d] = w.map((x) => x | 0) as [number, number, number, number];
    this.spare = s.spare ?? NaN;
    return this;
  }

  /** Next uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [0, 1) from one 32-bit draw: float32-resolution data at half the cost of random(). */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.random();
  }

  /** Uniform integer in [0, n), unbiased (rejection of the short top range). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new UsageError(`RandomGenerator.int: n must be an integer in [1, 2^32], received ${describe(n)}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const u = this.nextU32();
      if (u < limit) return u % n;
    }
  }

  /** A uniformly random permutation of 0..n−1 (Fisher–Yates), like torch.randperm. */
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

  /** Standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = NaN;
      return v;
    }
    let u = this.random();
    while (u === 0) u = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * this.random();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
}

/** The generator used when none is passed (initializers, rand/randn, dropout). */
export const defaultGenerator = new RandomGenerator(0);

/** Seed the default generator, like torch.manual_seed. */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}
