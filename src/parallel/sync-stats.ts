// The SyncBN exchange: forward packs (count, mean, M2) into one all-gather, backward (Σdy, Σdy·(x−μ)) into one
// all-reduce.
import { CollectiveMismatchError, CommError, ValueError } from '../errors.js';
import type { ProcessGroup } from '../comm/types.js';
import type { KernelSet } from '../kernels/types.js';
import { bnMergeStats, type BNExchange, type BNStats } from '../kernels/batchnorm.js';

/** Where a SyncBN collective runs: the group, and the layer's qualified name carried as the collective's tag. */
export interface SyncSite {
  readonly group: ProcessGroup;
  /** The layer's name (Module.namedModules path); ranks that disagree fail naming it. */
  readonly tag: string;
  /** Per-collective timeout override, milliseconds. */
  readonly timeoutMs?: number;
  /** Fail (ValueError, on every rank) when any rank's statistics are not finite, i.e. its input held NaN or ±Inf. */
  readonly checkFinite?: boolean;
}

/** A rank that failed before its statistics were ready sends this instead of 2C + 1 values. */
const FAILED = -1;

/** 'rank 3' or, in a subgroup, 'rank 1 (world rank 5)'. */
export function rankName(group: ProcessGroup, r: number): string {
  const w = group.worldRanks[r];
  return w === undefined || w === r ? `rank ${r}` : `rank ${r} (world rank ${w})`;
}

function listRanks(group: ProcessGroup, rs: readonly number[]): string {
  return rs.map((r) => rankName(group, r)).join(', ');
}

/** Run a collective; a CommError gets the layer and direction prepended (type and fields kept). */
function inSite<T>(site: SyncSite, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CommError && !e.message.startsWith('SyncBatchNorm ')) {
      e.message = `SyncBatchNorm '${site.tag}' ${what} on ${rankName(site.group, site.group.rank)}: ${e.message}`;
    }
    throw e;
  }
}

/**
 * Forward exchange. Packs [count, mean[0..C), m2[0..C)] (2C + 1 float64) and all-gathers it under the
 * layer's tag, then merges the shards in rank order with Chan's formula (batchNormGatherStats): exact
 * for unequal and empty shards (count 0), and the same bits on every rank. Every decision below is
 * made from the gathered data, so all ranks throw the same error together instead of hanging.
 */
export function exchangeForwardStats(
  site: SyncSite,
  k: KernelSet,
  count: number,
  mean: Float64Array,
  m2: Float64Array,
  eps: number,
): BNStats {
  const c = mean.length;
  const packed = new Float64Array(2 * c + 1);
  packed[0] = count;
  packed.set(mean, 1);
  packed.set(m2, 1 + c);
  const all = inSite(site, 'forward statistics exchange', () =>
    site.group.allGatherSync(packed, { tag: site.tag, timeoutMs: site.timeoutMs }),
  ) as Float64Array[];
  checkGathered(site, all, c);
  if (site.checkFinite === true) checkFiniteShards(site, all, c);
  const shards = all.map((a) => ({ count: a[0]!, mean: a.subarray(1, 1 + c), m2: a.subarray(1 + c, 1 + 2 * c) }));
  const out = bnMergeStats(shards, c, eps, k);
  if (out.count === 1) {
    // PyTorch's rule, on the global count: one value per channel has no variance to normalize by.
    const sizes = all.map((a, r) => `${rankName(site.group, r)}: ${a[0]}`).join(', ');
    throw new ValueError(
      `SyncBatchNorm '${site.tag}': Expected more than 1 value per channel when training, got a global count of ` +
        `${out.count} over ${all.length} rank(s) (${sizes})`,
    );
  }
  return out;
}

/**
 * A rank whose forward failed before its statistics were ready still joins the exchange (sending
 * the failure marker), so the other ranks fail at once naming it, instead of waiting for a timeout.
 * Then rethrows `error` here, its message prefixed with the layer and rank (type kept). Communication
 * errors during this are dropped in favour of `error`.
 */
export function reportForwardFailure(site: SyncSite, error: unknown): never {
  try {
    site.group.allGatherSync(new Float64Array([FAILED]), { tag: site.tag, timeoutMs: site.timeoutMs });
  } catch {
    // the original error is the one worth reporting
  }
  if (error instanceof Error && !error.message.startsWith('SyncBatchNorm ')) {
    error.message = `SyncBatchNorm '${site.tag}' forward on ${rankName(site.group, site.group.rank)}: ${error.message}`;
  }
  throw error;
}

/**
 * checkFinite, decided from the gathered shards (no extra collective, the same verdict on every rank):
 * a non-empty shard whose mean or M2 is not finite came from an input with NaN or ±Inf (f64 sums of
 * finite float32 values cannot overflow at any realistic count).
 */
function checkFiniteShards(site: SyncSite, all: readonly Float64Array[], c: number): void {
  const bad: string[] = [];
  all.forEach((a, r) => {
    if (a[0] === 0) return; // an empty shard has no statistics to judge
    for (let i = 1; i <= 2 * c; i++) {
      if (!Number.isFinite(a[i]!)) {
        const ch = (i - 1) % c;
        bad.push(`${rankName(site.group, r)} (channel ${ch}: ${i <= c ? 'mean' : 'M2'} ${a[i]})`);
        return;
      }
    }
  });
  if (bad.length > 0) {
    throw new ValueError(
      `SyncBatchNorm '${site.tag}': input must be finite (checkFinite is on), non-finite batch statistics from ` +
        `${bad.join(', ')}`,
    );
  }
}

function checkGathered(site: SyncSite, all: readonly Float64Array[], c: number): void {
  const g = site.group;
  const failed = all.flatMap((a, r) => (a.length === 1 && a[0] === FAILED ? [r] : []));
  if (failed.length > 0) {
    throw new CommError(
      `SyncBatchNorm '${site.tag}' forward on ${rankName(g, g.rank)}: ${listRanks(g, failed)} failed inside this ` +
        `layer's forward before the statistics exchange (see ${failed.length > 1 ? 'their errors' : 'its error'})`,
      'E_COMM_PEER_FAILED',
    );
  }
  if (all.length !== g.size) {
    throw new CollectiveMismatchError(
      `SyncBatchNorm '${site.tag}': the all-gather returned ${all.length} shards for a group of ${g.size} ranks`,
    );
  }
  if (all.some((a) => a.length !== 2 * c + 1)) {
    const per = all.map((a, r) => `${rankName(g, r)} has ${(a.length - 1) / 2}`).join(', ');
    throw new CollectiveMismatchError(
      `SyncBatchNorm '${site.tag}': channel counts differ across ranks: ${per} channels`,
    );
  }
}

/**
 * Backward exchange: packs [Σdy, Σdy·(x−μ)] (2C float64), all-reduces (sum) it under the layer's tag
 * and writes the global sums back in place. dγ and dβ are not reduced here: DDP reduces every gradient.
 */
export function exchangeBackwardSums(site: SyncSite, sumDy: Float64Array, sumDyXmu: Float64Array): void {
  const c = sumDy.length;
  const packed = new Float64Array(2 * c);
  packed.set(sumDy, 0);
  packed.set(sumDyXmu, c);
  inSite(site, 'backward gradient-sum exchange', () =>
    site.group.allReduceSync(packed, 'sum', { tag: site.tag, timeoutMs: site.timeoutMs }),
  );
  sumDy.set(packed.subarray(0, c));
  sumDyXmu.set(packed.subarray(c));
}

/**
 * The one BNExchange of SyncBN: the batch-norm pipeline's two seams bound to a group and a layer's tag.
 * A rank that failed before its statistics were ready joins the forward exchange with a failure marker.
 */
export function syncExchange(site: SyncSite): BNExchange {
  return {
    mergeStats(local, eps, k) {
      if ('failed' in local) return reportForwardFailure(site, local.failed);
      return exchangeForwardStats(site, k, local.count, local.mean, local.m2, eps);
    },
    reduceSums(sums) {
      exchangeBackwardSums(site, sums.sumDy, sums.sumDyXmu);
    },
  };
}
