// Tensor: float32, contiguous row-major (activations NCHW), data a view into the wasm heap, with autograd fields.
import { alloc, heapBuffer, release } from '../kernels/wasm/heap.js';
import { checkShape, fmtShape, inferShape, numel, type Shape } from './shape.js';
import { type RandomGenerator, defaultGenerator } from './random.js';
import { ShapeError, StateError, UsageError, describe } from '../errors.js';
import type { Node } from '../autograd/node.js';
import type { BackwardOptions } from '../autograd/engine.js';
import { method } from './methods.js';
import { scopes } from './scopes.js';

/**
 * One heap block shared by a tensor and its reshaped views; released when its last holder lets go.
 * Refcounting (not GC) frees memory deterministically, so a training loop reuses the same blocks.
 */
class Storage {
  refs = 1;
  /** in-place change counter, shared by every view of the block (like PyTorch's version counter) */
  version = 0;
  constructor(
    readonly data: Float32Array,
    readonly ptr: number,
  ) {}
  drop(): void {
    if (--this.refs === 0) release(this.ptr);
  }
}

// Any buffer object of the heap stays valid for the length it had (shared memory), so one is cached
// until a block lies past its end: saves a getter call per tensor, the main per-op cost of small ops.
let sab = heapBuffer();
function heapF32(n: number): Storage {
  const ptr = alloc(n * 4);
  if (ptr + n * 4 > sab.byteLength) sab = heapBuffer();
  return new Storage(new Float32Array(sab, ptr, n), ptr);
}

// Backstop for tensors nobody disposed: their heap block returns to the pool when the tensor is collected.
const registry = new FinalizationRegistry<Storage>((s) => s.drop());

export type { Shape } from './shape.js';

// Library-internal access to the engine's bookkeeping (src/tensor/internal.ts re-exports these; the package
// root does not). Assigned in Tensor's static block, the one place that may reach its private members.
/** A tensor of a validated, frozen shape (the ops' fast path; contents arbitrary). @internal */
export let allocTensor!: (shape: Shape) => Tensor;
/** A tensor over the same storage with another shape (no copy, no autograd; one dim may be -1). @internal */
export let viewOf!: (t: Tensor, shape: readonly number[]) => Tensor;
/** True when `t` alone holds its storage, so it may be changed in place without touching another tensor. @internal */
export let isExclusive!: (t: Tensor) => boolean;
/** dispose(), recording why the data is gone (for the error a later read raises). @internal */
export let disposeAs!: (t: Tensor, why: string) => void;
/** True when keep() was called on `t`, so backward() does not free it. @internal */
export let isKept!: (t: Tensor) => boolean;
/** The backward pass that last took ownership of `t` (engine scratch). @internal */
export let passMark!: (t: Tensor) => number;
/** Record that backward pass `mark` owns `t`. @internal */
export let setPassMark!: (t: Tensor, mark: number) => void;

/**
 * An n-dimensional float32 array (contiguous, row-major; activations NCHW) with reverse-mode autograd, like
 * torch.Tensor. Its data lives in the WebAssembly heap: free it with dispose(), or create it inside tidy().
 */
export class Tensor {
  private readonly storage: Storage;
  private alive = true;
  private readonly view: Float32Array;
  /** why the data is gone (for the error message), null while alive */
  private freedWhy: string | null = null;
  readonly shape: Shape;
  readonly size: number;
  /** Gradients flow to this tensor (set on parameters; propagated to op outputs). */
  requiresGrad = false;
  private gradT: Tensor | null = null;
  /** Accumulated gradient of a leaf after backward() (a gradient outlives any tidy() scope). */
  get grad(): Tensor | null {
    return this.gradT;
  }
  set grad(g: Tensor | null) {
    if (g !== null) g.persistent = true;
    this.gradT = g;
  }
  /** The autograd node that produced this tensor (null for leaves). */
  gradFn: Node | null = null;
  /** Kept through backward() even though it is an intermediate of the graph (see keep()). */
  #kept = false;
  /** engine scratch: the backward pass that last took ownership of this tensor */
  #mark = 0;
  /** State that outlives any tidy() scope: parameters, buffers, optimizer state, leaf gradients. */
  persistent = false;

  /** Bumped by every in-place change (shared with views); backward checks saved tensors were not modified. */
  get version(): number {
    return this.storage.version;
  }
  set version(v: number) {
    this.storage.version = v;
  }

  static {
    allocTensor = (shape) => {
      const st = heapF32(numel(shape));
      return new Tensor(st, st.data, shape);
    };
    viewOf = (t, shape) => t.viewAs(shape);
    isExclusive = (t) => t.alive && t.storage.refs === 1;
    disposeAs = (t, why) => t.disposeAs(why);
    isKept = (t) => t.#kept;
    passMark = (t) => t.#mark;
    setPassMark = (t, mark) => {
      t.#mark = mark;
    };
  }

  private constructor(storage: Storage, view: Float32Array, shape: Shape) {
    this.storage = storage;
    this.view = view;
    this.shape = shape;
    this.size = view.length;
    registry.register(this, storage, this);
    if (scopes.length > 0) scopes[scopes.length - 1]!.push(this);
  }

  // ---- factories -------------------------------------------------------------------------------

  /** Uninitialised tensor (heap memory is recycled: contents are arbitrary). */
  static empty(shape: readonly number[]): Tensor {
    const s = checkShape(shape, 'Tensor.empty');
    const st = heapF32(numel(s));
    return new Tensor(st, st.data, s);
  }
  /** A new tensor of `shape` filled with 0. */
  static zeros(shape: readonly number[]): Tensor {
    return Tensor.full(shape, 0);
  }
  /** A new tensor of `shape` filled with 1. */
  static ones(shape: readonly number[]): Tensor {
    return Tensor.full(shape, 1);
  }
  /** A new tensor of `shape` filled with `value`. */
  static full(shape: readonly number[], value: number): Tensor {
    const t = Tensor.empty(shape);
    t.view.fill(value);
    return t;
  }
  /** A 0-dimensional tensor holding `value`. */
  static scalar(value: number): Tensor {
    return Tensor.full([], value);
  }
  /** A new tensor of `t`'s shape filled with 0. */
  static zerosLike(t: Tensor): Tensor {
    const o = allocTensor(t.shape);
    o.view.fill(0);
    return o;
  }
  /**
   * Copy numbers into a new heap tensor. `shape` defaults to [values.length]; nested arrays are
   * flattened row-major with their shape inferred.
   */
  static from(values: ArrayLike<number> | readonly unknown[], shape?: readonly number[]): Tensor {
    let flat: ArrayLike<number> = values as ArrayLike<number>;
    let inferred: number[] = [values.length];
    if (Array.isArray(values) && values.length > 0 && Array.isArray(values[0])) {
      inferred = [];
      let v: unknown = values;
      while (Array.isArray(v)) {
        inferred.push(v.length);
        v = v[0];
      }
      flat = (values as unknown[]).flat(inferred.length) as number[];
    }
    const s = checkShape(shape ?? inferred, 'Tensor.from');
    if (numel(s) !== flat.length)
      throw new ShapeError(
        `Tensor.from: ${flat.length} values do not fill shape ${fmtShape(s)} (${numel(s)} elements)`,
      );
    const t = allocTensor(s);
    if (ArrayBuffer.isView(flat) && !(flat instanceof DataView)) {
      t.view.set(flat); // typed arrays: one converting copy
      return t;
    }
    for (let i = 0; i < flat.length; i++) {
      const x = flat[i];
      if (typeof x !== 'number')
        throw new UsageError(`Tensor.from: values must be numbers, received ${describe(x)} at index ${i}`);
      t.view[i] = x;
    }
    return t;
  }
  /** [start, end) with `step`, like torch.arange; arange(n) = 0…n−1. */
  static arange(start: number, end?: number, step = 1): Tensor {
    if (end === undefined) [start, end] = [0, start];
    if (!(step !== 0 && Number.isFinite(step)))
      throw new UsageError(`Tensor.arange: step must be a finite non-zero number, received ${describe(step)}`);
    const n = Math.max(0, Math.ceil((end - start) / step));
    const t = allocTensor(Object.freeze([n]));
    for (let i = 0; i < n; i++) t.view[i] = start + i * step;
    return t;
  }
  /** Uniform in [low, high) from a seeded generator (the default one unless given). */
  static rand(
    shape: readonly number[],
    opts: { low?: number; high?: number; generator?: RandomGenerator } = {},
  ): Tensor {
    const { low = 0, high = 1, generator = defaultGenerator } = opts;
    const t = Tensor.empty(shape);
    for (let i = 0; i < t.size; i++) t.view[i] = generator.uniform(low, high);
    return t;
  }
  /** Standard normal (times std, plus mean) from a seeded generator. */
  static randn(
    shape: readonly number[],
    opts: { mean?: number; std?: number; generator?: RandomGenerator } = {},
  ): Tensor {
    const { mean = 0, std = 1, generator = defaultGenerator } = opts;
    const t = Tensor.empty(shape);
    for (let i = 0; i < t.size; i++) t.view[i] = mean + std * generator.normal();
    return t;
  }

  // ---- data and lifetime -----------------------------------------------------------------------

  /** The float32 values (a view into the wasm heap; valid while this tensor is alive). */
  get data(): Float32Array {
    if (!this.alive) this.throwFreed();
    return this.view;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return !this.alive;
  }
  /** True when this tensor is a leaf (created by the user, not by an op with gradients). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  private throwFreed(): never {
    throw new StateError(`tensor ${fmtShape(this.shape)} is no longer usable: ${this.freedWhy ?? 'disposed'}`);
  }

  /** Release the heap memory now (idempotent). Its gradient is disposed too. */
  dispose(): void {
    this.disposeAs('it was disposed');
  }
  private disposeAs(why: string): void {
    if (!this.alive) return;
    registry.unregister(this);
    this.storage.drop();
    this.alive = false;
    this.freedWhy = why;
    if (this.grad !== null) {
      this.grad.dispose();
      this.grad = null;
    }
  }
  /** Keep this intermediate alive through backward() (which otherwise frees the graph's intermediates). */
  keep(): this {
    this.#kept = true;
    return this;
  }
  private viewAs(shape: readonly number[]): Tensor {
    const s = inferShape(shape, this.size, this.shape);
    const st = this.storage;
    if (!this.alive) this.throwFreed();
    st.refs++;
    return new Tensor(st, this.view, s);
  }

  /** The value of a one-element tensor (ShapeError otherwise). */
  item(): number {
    if (this.size !== 1)
      throw new ShapeError(`item: tensor must have exactly one element, received shape ${fmtShape(this.shape)}`);
    return this.data[0]!;
  }
  /** The values as a plain array (row-major). */
  toArray(): number[] {
    return Array.from(this.data);
  }
  /** A copy of the values outside the heap. */
  toFloat32Array(): Float32Array {
    return this.data.slice();
  }
  /** `Tensor(shape, [first 8 values, …])`, for logs. */
  toString(): string {
    const d = this.data;
    const vals = Array.from(d.subarray(0, 8), (x) => x.toPrecision(4)).join(', ');
    return (
      `Tensor(${fmtShape(this.shape)}, ` +
      `[${vals}${d.length > 8 ? ', …' : ''}]${this.requiresGrad ? ', requiresGrad' : ''})`
    );
  }

  // ---- in-place (no autograd; bump version) ----------------------------------------------------

  /** Set requiresGrad in place (only leaves may stop requiring grad); returns this. */
  requiresGrad_(on = true): this {
    if (!this.isLeaf && !on)
      throw new StateError('requiresGrad_: only leaf tensors can stop requiring grad; use detach()');
    this.requiresGrad = on;
    return this;
  }
  /** Fill with `v` in place (no autograd); returns this. */
  fill_(v: number): this {
    this.data.fill(v);
    this.version++;
    return this;
  }
  /** Fill with 0 in place (no autograd); returns this. */
  zero_(): this {
    return this.fill_(0);
  }
  /** Copy `src`'s values (same element count) in place (no autograd); returns this. */
  copy_(src: Tensor): this {
    if (src.size !== this.size)
      throw new ShapeError(
        `copy_: source shape ${fmtShape(src.shape)} does not match destination ${fmtShape(this.shape)}`,
      );
    this.data.set(src.data);
    this.version++;
    return this;
  }
  /** A new leaf with a copy of the data (no graph). */
  clone(): Tensor {
    const t = allocTensor(this.shape);
    t.view.set(this.data);
    return t;
  }
  /** A leaf sharing this tensor's storage, cut from the graph. */
  detach(): Tensor {
    return this.viewAs(this.shape);
  }

  // ---- autograd ops (functional forms live in src/autograd/ops.ts and src/nn/functional) --------

  /** The same values with a new shape (one dimension may be -1); a view where possible, differentiable. */
  reshape(shape: readonly number[]): Tensor {
    return method('reshape')(this, shape);
  }
  /** Flatten dims startDim…endDim into one (torch.flatten; default all). */
  flatten(startDim = 0, endDim = -1): Tensor {
    return method('flatten')(this, startDim, endDim);
  }
  /** Elementwise this + b (same shape), differentiable. */
  add(b: Tensor): Tensor {
    return method('add')(this, b);
  }
  /** Elementwise this − b (same shape), differentiable. */
  sub(b: Tensor): Tensor {
    return method('sub')(this, b);
  }
  /** Elementwise this × b (a tensor of the same shape, or a number), differentiable. */
  mul(b: Tensor | number): Tensor {
    return method('mul')(this, b);
  }
  /** max(this, 0) elementwise, differentiable. */
  relu(): Tensor {
    return method('relu')(this);
  }
  /** The sum of all elements (a 0-d tensor), differentiable. */
  sum(): Tensor {
    return method('sum')(this);
  }
  /** The mean of all elements (a 0-d tensor), differentiable. */
  mean(): Tensor {
    return method('mean')(this);
  }

  /**
   * Reverse-mode autodiff from this tensor: gradients accumulate into `.grad` of the leaves that
   * require grad. `grad` defaults to 1 for a single-element tensor. The graph and its intermediate
   * tensors are freed afterwards unless `retainGraph` (or `keep()` on an intermediate).
   */
  backward(grad?: Tensor, opts: BackwardOptions = {}): void {
    method('backward')(this, grad, opts);
  }
}

/** Throw a UsageError unless `v` is a Tensor (or null when `nullable`): JS callers get a clear message. */
export function checkTensor(op: string, name: string, v: unknown, nullable = false): void {
  if (v instanceof Tensor || (nullable && v === null)) return;
  throw new UsageError(`${op}: ${name} must be a Tensor${nullable ? ' or null' : ''}, received ${describe(v)}`);
}
