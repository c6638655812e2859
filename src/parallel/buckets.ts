// Gradient buckets for DDP: parameters grouped (reverse order, ~1 MB), each bucket all-reduced as soon as all its
// gradients are final.
import { StateError, UsageError } from '../errors.js';
import type { PendingCollective, ProcessGroup } from '../comm/types.js';
import { Tensor } from '../tensor/tensor.js';

interface Bucket {
  readonly index: number;
  /** the bucket's collective tag, built once (not a template string per step) */
  readonly tag: string;
  readonly params: readonly Tensor[];
  /** offsets of each parameter in `flat` */
  readonly offsets: readonly number[];
  readonly flat: Float32Array;
  /** owns `flat`: a heap tensor, so the all-reduce's large float32 sums run in SIMD on it in place */
  readonly store: Tensor;
  /** parameters of this bucket whose gradient is not final yet */
  pending: number;
  pendingOp: PendingCollective | null;
}

/**
 * Buckets are filled in reverse parameter order (the order backward produces gradients in), each up
 * to `capBytes` (a parameter larger than the cap gets a bucket of its own). Buckets are launched
 * strictly in index order, so every rank issues the same collectives in the same order even if
 * gradients become final in a slightly different order.
 */
export class GradBuckets {
  private readonly buckets: Bucket[] = [];
  private readonly where = new Map<Tensor, { bucket: Bucket; offset: number }>();
  /** per-parameter count of gradient contributions still expected in this backward pass */
  private readonly remaining = new Map<Tensor, number>();
  private nextToLaunch = 0;
  private active = false;

  constructor(
    private readonly group: ProcessGroup,
    params: readonly Tensor[],
    capBytes: number,
    private readonly names: ReadonlyMap<Tensor, string>,
    private readonly timeoutMs?: number,
  ) {
    if (!(capBytes > 0))
      throw new UsageError(`DistributedDataParallel: bucketCapMB must be > 0, received ${capBytes / 2 ** 20}`);
    let cur: Tensor[] = [];
    let bytes = 0;
    const flush = (): void => {
      if (cur.length === 0) return;
      const offsets: number[] = [];
      let n = 0;
      for (const p of cur) {
        offsets.push(n);
        n += p.size;
      }
      const store = Tensor.zeros([n]);
      const b: Bucket = {
        index: this.buckets.length,
        tag: `ddp.bucket${this.buckets.length}`,
        params: cur,
        offsets,
        flat: store.data,
        store,
        pending: 0,
        pendingOp: null,
      };
      cur.forEach((p, i) => this.where.set(p, { bucket: b, offset: offsets[i]! }));
      this.buckets.push(b);
      cur = [];
      bytes = 0;
    };
    for (let i = params.length - 1; i >= 0; i--) {
      const p = params[i]!;
      if (bytes > 0 && bytes + p.size * 4 > capBytes) flush();
      cur.push(p);
      bytes += p.size * 4;
    }
    flush();
  }

  get count(): number {
    return this.buckets.length;
  }

  /** Parameter names per bucket, for inspection and tests. */
  layout(): string[][] {
    return this.buckets.map((b) => b.params.map((p) => this.names.get(p) ?? '?'));
  }

  /**
   * Start a backward pass: `uses` says how many gradient contributions each parameter will receive
   * (counted on the forward graph). Parameters with none are final already (they contribute zeros).
   */
  begin(uses: ReadonlyMap<Tensor, number>): void {
    if (this.active) this.abandon();
    this.active = true;
    this.nextToLaunch = 0;
    for (const b of this.buckets) {
      b.pending = 0;
      b.pendingOp = null;
      for (const p of b.params) {
        const u = uses.get(p) ?? 0;
        this.remaining.set(p, u);
        if (u > 0) b.pending++;
      }
    }
    this.launchReady();
  }

  get inProgress(): boolean {
    return this.active;
  }

  /** The engine accumulated a gradient into `p`. */
  onGrad(p: Tensor): void {
    if (!this.active) return;
    const r = this.remaining.get(p);
    if (r === undefined) return;
    if (r <= 0) {
      throw new StateError(
        `DistributedDataParallel: parameter '${this.names.get(p) ?? '?'}' received a gradient after its bucket was ` +
          `reduced (it was used outside the forward pass of the wrapped module, e.g. in the loss); compute such ` +
          `terms inside the module`,
      );
    }
    this.remaining.set(p, r - 1);
    if (r - 1 === 0) {
      this.where.get(p)!.bucket.pending--;
      this.launchReady();
    }
  }

  private launchReady(): void {
    while (this.nextToLaunch < this.buckets.length && this.buckets[this.nextToLaunch]!.pending === 0) {
      this.launch(this.buckets[this.nextToLaunch]!);
      this.nextToLaunch++;
    }
  }

  private launch(b: Bucket): void {
    b.params.forEach((p, i) => {
      if (p.grad === null) b.flat.fill(0, b.offsets[i], b.offsets[i]! + p.size);
      else b.flat.set(p.grad.data, b.offsets[i]);
    });
    b.pendingOp = this.group.allReduceStart(b.flat, 'sum', { tag: b.tag, timeoutMs: this.timeoutMs });
  }

  /**
   * End of backward: launch what is left (in order), wait for every bucket, and write the averaged
   * gradients back (a parameter without a gradient gets one).
   */
  finish(): void {
    if (!this.active) return;
    this.active = false;
    for (; this.nextToLaunch < this.buckets.length; this.nextToLaunch++) this.launch(this.buckets[this.nextToLaunch]!);
    const scale = 1 / this.group.size;
    let failure: { error: unknown } | null = null;
    for (const b of this.buckets) {
      try {
        b.pendingOp!.waitSync();
      } catch (e) {
        failure ??= { error: e };
        continue;
      }
      b.pendingOp = null;
      if (failure !== null) continue;
      const f = b.flat;
      for (let i = 0; i < f.length; i++) f[i] = f[i]! * scale;
      b.params.forEach((p, i) => {
        if (p.grad === null) p.grad = Tensor.zerosLike(p);
        p.grad.data.set(f.subarray(b.offsets[i], b.offsets[i]! + p.size));
        p.grad.version++;
      });
    }
    if (failure !== null) throw failure.error;
  }

  /** Drop a pass that never finished (an exception in backward): wait out launched collectives. */
  abandon(): void {
    this.active = false;
    for (const b of this.buckets) {
      if (b.pendingOp === null) continue;
      try {
        b.pendingOp.waitSync();
      } catch {
        // the pass is being dropped; its error was or will be reported by the caller
      }
      b.pendingOp = null;
    }
  }
}
