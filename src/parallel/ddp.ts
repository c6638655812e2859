// DistributedDataParallel: same weights on every rank at wrap, gradients averaged in buckets that overlap with
// backward.
import { UsageError, describe } from '../errors.js';
import type { ProcessGroup } from '../comm/types.js';
import { Module } from '../nn/module.js';
import { Tensor } from '../tensor/tensor.js';
import { registerGradAccumulatedHook, queueBackwardCallback } from '../autograd/engine.js';
import { GradBuckets } from './buckets.js';
import { checkOptionKeys } from '../nn/functional/args.js';
import { nameSyncLayers } from './convert.js';

/**
 * How DistributedDataParallel averages gradients (torch.nn.parallel.DistributedDataParallel's arguments, camelCased).
 */
export interface DistributedDataParallelOptions {
  /** The ranks that train together (usually the world group). */
  group: ProcessGroup;
  /** Bucket size in MiB (PyTorch's bucket_cap_mb); default 1. */
  bucketCapMB?: number;
  /**
   * Broadcast buffers (running statistics) from rank 0 before every training forward, as PyTorch's
   * broadcast_buffers. Default false: with SyncBatchNorm the buffers agree on every rank already.
   */
  broadcastBuffers?: boolean;
  /** Timeout for DDP's collectives, milliseconds (default: the group's). */
  timeoutMs?: number;
}

/**
 * Wraps a module for data-parallel training. On wrap, rank 0's parameters and buffers are broadcast
 * to every rank. During backward, each bucket of gradients is all-reduced (sum, then ÷ world size)
 * as soon as all its gradients are final, while backward continues through earlier layers; at the
 * end of backward every parameter's .grad holds the average over ranks. Names of SyncBatchNorm
 * layers are set from the module tree, so their collectives carry them.
 */
export class DistributedDataParallel<M extends Module = Module> extends Module {
  readonly module: M;
  readonly group: ProcessGroup;
  private readonly buckets: GradBuckets;
  private readonly syncedParams: Tensor[];
  private readonly broadcastBuffersEachStep: boolean;
  private readonly timeoutMs: number | undefined;
  private syncEnabled = true;
  private finishQueued = false;
  private readonly unhook: (() => void)[] = [];

  constructor(module: M, opts: DistributedDataParallelOptions) {
    super();
    if (!(module instanceof Module))
      throw new UsageError(`DistributedDataParallel: module must be a Module, received ${describe(module)}`);
    if (typeof opts !== 'object' || opts === null || typeof opts.group !== 'object' || opts.group === null) {
      throw new UsageError(
        `DistributedDataParallel: options.group must be a ProcessGroup, received ${describe(opts?.group)}`,
      );
    }
    checkOptionKeys('DistributedDataParallel', opts, ['group', 'bucketCapMB', 'broadcastBuffers', 'timeoutMs']);
    const capMB = opts.bucketCapMB ?? 1;
    if (typeof capMB !== 'number' || !(capMB > 0))
      throw new UsageError(`DistributedDataParallel: bucketCapMB must be a number > 0, received ${describe(capMB)}`);
    this.module = this.registerModule('module', module);
    this.group = opts.group;
    this.broadcastBuffersEachStep = opts.broadcastBuffers ?? false;
    this.timeoutMs = opts.timeoutMs;
    nameSyncLayers(module);
    const named = module.namedParameters();
    this.syncedParams = named.map(([, t]) => t);
    this.broadcastFromRank0(this.syncedParams, 'ddp.broadcast.parameters');
    this.broadcastFromRank0(module.buffers(), 'ddp.broadcast.buffers');
    this.buckets = new GradBuckets(
      this.group,
      this.syncedParams,
      capMB * 2 ** 20,
      new Map(named.map(([n, t]) => [t, n])),
      this.timeoutMs,
    );
    for (const p of this.syncedParams) this.unhook.push(registerGradAccumulatedHook(p, (t: Tensor) => this.onGrad(t)));
  }

  /** Parameter names per gradient bucket (bucket 0 is reduced first). */
  bucketLayout(): string[][] {
    return this.buckets.layout();
  }

  /**
   * Run the wrapped module. In training with grad enabled, counts how many gradient contributions
   * each parameter will receive from this graph, so its bucket can be reduced as soon as they are in.
   */
  forward(...args: unknown[]): ReturnType<M['forward']> {
    if (this.training && this.broadcastBuffersEachStep)
      this.broadcastFromRank0(this.module.buffers(), 'ddp.broadcast.buffers');
    const out = (this.module.forward as (...a: unknown[]) => unknown)(...args) as ReturnType<M['forward']>;
    if (this.training && this.syncEnabled) {
      const roots = collectTensors(out);
      if (roots.some((t) => t.requiresGrad)) {
        this.buckets.begin(countUses(roots, new Set(this.syncedParams)));
      }
    }
    return out;
  }

  /** Run fn (forward and backward) without averaging gradients: they accumulate locally (PyTorch's no_sync). */
  noSync<T>(fn: () => T): T {
    const prev = this.syncEnabled;
    this.syncEnabled = false;
    try {
      return fn();
    } finally {
      this.syncEnabled = prev;
    }
  }

  /**
   * A gradient landed in a parameter (inside backward). The first one of a pass queues the end-of-
   * backward step: wait for every bucket and write the averaged gradients back.
   */
  private onGrad(t: Tensor): void {
    if (!this.buckets.inProgress) return;
    if (!this.finishQueued) {
      this.finishQueued = true;
      queueBackwardCallback(() => {
        this.finishQueued = false;
        this.buckets.finish();
      });
    }
    this.buckets.onGrad(t);
  }

  /** Detach the gradient hooks (the wrapped module is left as it is). */
  close(): void {
    for (const u of this.unhook.splice(0)) u();
    if (this.buckets.inProgress) this.buckets.abandon();
  }

  private broadcastFromRank0(ts: readonly Tensor[], tag: string): void {
    let n = 0;
    for (const t of ts) n += t.size;
    const flat = new Float32Array(n);
    let o = 0;
    for (const t of ts) {
      flat.set(t.data, o);
      o += t.size;
    }
    this.group.broadcastSync(flat, 0, { tag, timeoutMs: this.timeoutMs });
    o = 0;
    for (const t of ts) {
      t.data.set(flat.subarray(o, o + t.size));
      t.version++;
      o += t.size;
    }
  }
}

/** Tensors inside a forward's result (a tensor, or arrays/objects of them). */
function collectTensors(v: unknown, out: Tensor[] = []): Tensor[] {
  if (v instanceof Tensor) out.push(v);
  else if (Array.isArray(v)) for (const x of v) collectTensors(x, out);
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) collectTensors(x, out);
  return out;
}

/** For each parameter, the number of graph edges into it (= gradient accumulations backward will do). */
function countUses(roots: readonly Tensor[], params: ReadonlySet<Tensor>): Map<Tensor, number> {
  const uses = new Map<Tensor, number>();
  const seen = new Set<unknown>();
  const stack = roots.map((t) => t.gradFn).filter((n) => n !== null);
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    for (const inp of node.inputs) {
      if (inp === null) continue;
      if (inp.gradFn !== null) stack.push(inp.gradFn);
      else if (params.has(inp)) uses.set(inp, (uses.get(inp) ?? 0) + 1);
    }
  }
  return uses;
}
