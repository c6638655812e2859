// SyncBatchNorm: the BatchNorm layer with a process group; in training its statistics are those of every rank's batch.
import { UsageError, describe } from '../errors.js';
import type { ProcessGroup } from '../comm/types.js';
import type { BNExchange } from '../kernels/batchnorm.js';
import { BATCH_NORM_OPTION_KEYS, BatchNorm, type BatchNormLayerOptions } from '../nn/layers/batchnorm.js';
import { syncExchange } from './sync-stats.js';

/** Options of SyncBatchNorm: BatchNorm's plus the process group, the collectives' tag and their timeout. */
export interface SyncBatchNormOptions extends BatchNormLayerOptions {
  /** The ranks whose batches are normalized together; null/absent ⇒ local statistics (plain BatchNorm). */
  group?: ProcessGroup | null;
  /** The name its collectives carry (convertSyncBatchNorm and DDP set the qualified module name). */
  name?: string;
  /** Timeout of this layer's collectives, milliseconds (default: the group's). */
  timeoutMs?: number;
}

let created = 0;

/**
 * torch.nn.SyncBatchNorm: inputs (N, C, *) of rank 2–5, or (N, *, C) with channelsLast. In training
 * with a group: forward = local (count, mean, M2) → one all-gather (2C + 1 float64, tagged with the
 * layer name) → exact merge in rank order → normalize; backward = local Σdy, Σdy·(x−μ) → one
 * all-reduce (2C) → dx. dγ, dβ stay local (DDP averages all gradients). Running variance uses the
 * unbiased global variance. In eval: running statistics, no communication (batch statistics of
 * this rank when trackRunningStats is false, as PyTorch).
 */
export class SyncBatchNorm extends BatchNorm {
  group: ProcessGroup | null;
  /** The tag of this layer's collectives: same on every rank for the same layer. */
  layerName: string;
  timeoutMs: number | undefined;
  /** The class convertSyncBatchNorm replaced (revertSyncBatchNorm restores it). */
  revertTo: (new (numFeatures: number, opts?: BatchNormLayerOptions) => BatchNorm) | null = null;
  static override readonly optionKeys: readonly string[] = [...BATCH_NORM_OPTION_KEYS, 'group', 'name', 'timeoutMs'];

  constructor(numFeatures: number, opts: SyncBatchNormOptions = {}) {
    super(numFeatures, opts, [2, 3, 4, 5]);
    opts ??= {};
    const g = opts.group ?? null;
    if (g !== null && (typeof g !== 'object' || typeof g.allGatherSync !== 'function')) {
      throw new UsageError(`SyncBatchNorm: group must be a ProcessGroup or null, received ${describe(g)}`);
    }
    if (opts.name !== undefined && (typeof opts.name !== 'string' || opts.name.length === 0)) {
      throw new UsageError(`SyncBatchNorm: name must be a non-empty string, received ${describe(opts.name)}`);
    }
    this.group = g;
    // Ranks that build the same model in the same order get the same default names.
    this.layerName = opts.name ?? `SyncBatchNorm#${created++}`;
    this.timeoutMs = opts.timeoutMs;
  }

  protected override batchExchange(): BNExchange | null {
    // A group of one has nothing to exchange: the local path is the same math without the packing.
    if (this.group === null || this.group.size === 1 || !this.training) return null;
    return syncExchange({
      group: this.group,
      tag: this.layerName,
      timeoutMs: this.timeoutMs,
      checkFinite: this.checkFinite,
    });
  }
}
