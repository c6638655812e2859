// DistributedSampler: each rank's shard of a dataset's indices, shuffled by seed + epoch (PyTorch semantics).
import { UsageError, describe } from '../errors.js';

/** What a DistributedSampler needs to resume: its epoch, and the settings that fix the shuffle (checked on load). */
export interface SamplerState {
  epoch: number;
  seed: number;
  datasetLength: number;
  shuffle: boolean;
  dropLast: boolean;
}
import type { ProcessGroup } from '../comm/types.js';
import { RandomGenerator } from '../tensor/random.js';
import { checkOptionKeys } from '../nn/functional/args.js';

/** How a DistributedSampler shards and shuffles (torch.utils.data.DistributedSampler's arguments). */
export interface DistributedSamplerOptions {
  /** Take numReplicas and rank from this group (the usual way). */
  group?: ProcessGroup;
  /** Number of shards; default group.size. */
  numReplicas?: number;
  /** This shard, 0..numReplicas−1; default group.rank. */
  rank?: number;
  /** Shuffle with a PRNG seeded by seed + epoch (same permutation on every rank). Default true. */
  shuffle?: boolean;
  /** Default 0; must be the same on every rank. */
  seed?: number;
  /**
   * false (default): pad by repeating indices from the start so every rank gets ceil(n/R) samples.
   * true: drop the tail so every rank gets the same number without repeats.
   */
  dropLast?: boolean;
}

/**
 * Indices of rank r: the (shuffled, padded or truncated) list of totalSize indices, taking every
 * numReplicas-th one starting at r — so the shards of all ranks, interleaved in rank order, are
 * that list. Call `setEpoch(e)` before each epoch to reshuffle.
 */
export class DistributedSampler implements Iterable<number> {
  readonly datasetLength: number;
  readonly numReplicas: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Samples per rank per epoch. */
  readonly numSamples: number;
  /** numSamples · numReplicas. */
  readonly totalSize: number;
  private epochValue = 0;

  constructor(dataset: number | { readonly length: number }, opts: DistributedSamplerOptions = {}) {
    checkOptionKeys('DistributedSampler', opts, ['group', 'numReplicas', 'rank', 'shuffle', 'seed', 'dropLast']);
    const n = typeof dataset === 'number' ? dataset : dataset?.length;
    if (!Number.isSafeInteger(n) || n < 0)
      throw new UsageError(`DistributedSampler: dataset length must be a non-negative integer, received ${String(n)}`);
    const numReplicas = opts.numReplicas ?? opts.group?.size;
    const rank = opts.rank ?? opts.group?.rank;
    if (numReplicas === undefined || rank === undefined)
      throw new UsageError('DistributedSampler: pass options.group, or both options.numReplicas and options.rank');
    if (!Number.isInteger(numReplicas) || numReplicas < 1)
      throw new UsageError(`DistributedSampler: numReplicas must be an integer ≥ 1, received ${describe(numReplicas)}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= numReplicas)
      throw new UsageError(
        `DistributedSampler: rank must be an integer in [0, ${numReplicas - 1}], received ${describe(rank)}`,
      );
    const seed = opts.seed ?? 0;
    if (!Number.isSafeInteger(seed))
      throw new UsageError(`DistributedSampler: seed must be a safe integer, received ${describe(seed)}`);
    this.datasetLength = n;
    this.numReplicas = numReplicas;
    this.rank = rank;
    this.shuffle = opts.shuffle ?? true;
    this.seed = seed;
    this.dropLast = opts.dropLast ?? false;
    // PyTorch: with drop_last and a remainder, the tail is dropped; otherwise pad up to a multiple.
    this.numSamples =
      this.dropLast && n % numReplicas !== 0 ? Math.ceil((n - numReplicas) / numReplicas) : Math.ceil(n / numReplicas);
    this.totalSize = this.numSamples * numReplicas;
  }

  get epoch(): number {
    return this.epochValue;
  }

  /** Select the shuffle of this epoch; every rank must use the same epoch. */
  setEpoch(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0)
      throw new UsageError(
        `DistributedSampler.setEpoch: epoch must be a non-negative integer, received ${describe(epoch)}`,
      );
    this.epochValue = epoch;
  }

  /**
   * The epoch and the settings that fix its shuffle, JSON-able. The shard (rank, numReplicas) is
   * not part of it: a run resumed at another world size re-splits the same sequence.
   */
  stateDict(): SamplerState {
    return {
      epoch: this.epochValue,
      seed: this.seed,
      datasetLength: this.datasetLength,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
    };
  }

  /**
   * Restore the epoch; seed, dataset length, shuffle and dropLast must equal this sampler's (else UsageError naming the
   * field).
   */
  loadStateDict(state: SamplerState): void {
    if (state === null || typeof state !== 'object')
      throw new UsageError(`DistributedSampler.loadStateDict: state must be an object, received ${describe(state)}`);
    for (const k of ['seed', 'datasetLength', 'shuffle', 'dropLast'] as const) {
      if (state[k] !== this[k]) {
        throw new UsageError(
          `DistributedSampler.loadStateDict: ${k} differs: expected ${describe(this[k])} (this sampler), received ` +
            `${describe(state[k])} (state)`,
        );
      }
    }
    this.setEpoch(state.epoch);
  }

  /** This rank's indices for the current epoch. */
  indices(): number[] {
    const n = this.datasetLength;
    let all = this.shuffle
      ? new RandomGenerator(this.seed + this.epochValue).permutation(n)
      : Array.from({ length: n }, (_, i) => i);
    if (this.dropLast) {
      all = all.slice(0, this.totalSize);
    } else {
      // Repeat the list from its start as often as needed (n may be smaller than the padding).
      for (let i = 0; all.length < this.totalSize; i++) all.push(all[i % n]!);
    }
    const out: number[] = [];
    for (let i = this.rank; i < this.totalSize; i += this.numReplicas) out.push(all[i]!);
    return out;
  }

  get length(): number {
    return this.numSamples;
  }

  /** This rank's indices for the current epoch (same as indices()). */
  [Symbol.iterator](): Iterator<number> {
    return this.indices()[Symbol.iterator]();
  }
}
