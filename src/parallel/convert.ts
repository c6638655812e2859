// convertSyncBatchNorm / revertSyncBatchNorm (weights and running statistics kept), layer naming, apex-style SyncBN
// subgroups.
import { UsageError, describe } from '../errors.js';
import type { ProcessGroup } from '../comm/types.js';
import { Module, replaceTensor } from '../nn/module.js';
import { BatchNorm, type BatchNormLayerOptions } from '../nn/layers/batchnorm.js';
import type { Tensor } from '../tensor/tensor.js';
import { SyncBatchNorm } from './syncbn.js';

type BNClass = new (numFeatures: number, opts?: BatchNormLayerOptions) => BatchNorm;

/** Make `to` hold the very tensors of `from` (parameters keep their identity, so optimizers keep working). */
function adoptTensors(to: BatchNorm, from: BatchNorm): void {
  const theirs = new Map<string, Tensor>([...from.namedParameters(), ...from.namedBuffers()]);
  for (const name of ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']) {
    const t = theirs.get(name) ?? null;
    const mine = replaceTensor(to, name, t);
    if (mine !== t) mine?.dispose();
  }
  to.training = from.training;
}

/** Replace, in `model`, every module for which `swap` returns a replacement; returns the (possibly new) root. */
function swapModules<M extends Module>(model: M, swap: (m: Module, name: string) => Module | null): M {
  const root = swap(model, '');
  if (root !== null) return root as unknown as M;
  for (const [name, parent] of [...model.namedModules()]) {
    for (const [childName, child] of [...parent.namedChildren()]) {
      const rep = swap(child, name === '' ? childName : `${name}.${childName}`);
      if (rep !== null) parent.replaceModule(childName, rep);
    }
  }
  return model;
}

/**
 * Swap every BatchNorm of `model` for a SyncBatchNorm over `group` (PyTorch's convert_sync_batchnorm),
 * sharing its weight, bias and running-statistic tensors. Each gets its qualified name as the tag of
 * its collectives. Returns the model (or the new layer when `model` itself is a BatchNorm).
 */
export function convertSyncBatchNorm<M extends Module>(model: M, group: ProcessGroup | null): M {
  if (!(model instanceof Module))
    throw new UsageError(`convertSyncBatchNorm: model must be a Module, received ${describe(model)}`);
  if (group !== null && (typeof group !== 'object' || typeof group.allGatherSync !== 'function')) {
    throw new UsageError(`convertSyncBatchNorm: group must be a ProcessGroup or null, received ${describe(group)}`);
  }
  return swapModules(model, (m, name) => {
    if (!(m instanceof BatchNorm)) return null;
    if (m instanceof SyncBatchNorm) {
      m.group = group;
      m.layerName = name === '' ? m.layerName : name;
      return null;
    }
    const s = new SyncBatchNorm(m.numFeatures, { ...m.layerOptions(), group, name: name === '' ? undefined : name });
    adoptTensors(s, m);
    s.revertTo = m.constructor as BNClass;
    return s;
  });
}

/**
 * The reverse (mmcv's revert_sync_batchnorm): every SyncBatchNorm becomes the BatchNorm class it was
 * converted from (plain BatchNorm otherwise), sharing its tensors — for single-worker inference.
 */
export function revertSyncBatchNorm<M extends Module>(model: M): M {
  if (!(model instanceof Module))
    throw new UsageError(`revertSyncBatchNorm: model must be a Module, received ${describe(model)}`);
  return swapModules(model, (m) => {
    if (!(m instanceof SyncBatchNorm)) return null;
    const Cls: BNClass = m.revertTo ?? BatchNorm;
    const b = new Cls(m.numFeatures, m.layerOptions());
    adoptTensors(b, m);
    return b;
  });
}

/** Give every SyncBatchNorm in `model` its qualified module name as its collective tag. */
export function nameSyncLayers(model: Module, prefix = ''): void {
  for (const [name, m] of model.namedModules(prefix)) {
    if (m instanceof SyncBatchNorm && name !== '') m.layerName = name;
  }
}

/**
 * apex's create_syncbn_process_group: split `group` into consecutive blocks of `groupSize` ranks
 * (8 ranks, size 4 → {0..3}, {4..7}). Every rank creates every block (a collective over `group`,
 * as pytorch#48804 requires) and gets its own. groupSize 0 or group.size ⇒ `group` itself.
 */
export function createSyncBNProcessGroup(group: ProcessGroup, groupSize: number): ProcessGroup {
  if (typeof group !== 'object' || group === null || typeof group.newGroupSync !== 'function') {
    throw new UsageError(`createSyncBNProcessGroup: group must be a ProcessGroup, received ${describe(group)}`);
  }
  if (!Number.isInteger(groupSize) || groupSize < 0 || (groupSize > 0 && group.size % groupSize !== 0)) {
    throw new UsageError(
      `createSyncBNProcessGroup: groupSize must be 0 or an integer dividing the group size ${group.size}, received ` +
        `${describe(groupSize)}`,
    );
  }
  if (groupSize === 0 || groupSize === group.size) return group;
  let mine: ProcessGroup | null = null;
  for (let start = 0; start < group.size; start += groupSize) {
    const g = group.newGroupSync(Array.from({ length: groupSize }, (_, i) => start + i));
    if (g !== null) mine = g;
  }
  return mine!;
}
