// Module: the base of every layer — parameters, buffers, children, named state dict, train/eval, apply.
import { ShapeError, StateError, UsageError } from '../errors.js';
import { fmtShape, sameShape } from '../tensor/shape.js';
import { type Tensor } from '../tensor/tensor.js';

/** Named tensors, in registration order: "conv1.weight", "bn1.running_mean", … (PyTorch's names). */
export type StateDict = Record<string, Tensor>;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$|^[0-9]+$/;

/**
 * Module.setTensor from outside the module's class, for the library's layer conversions (src/parallel/convert.ts);
 * not re-exported from the package root. Returns the replaced tensor, not disposed. @internal
 */
export let replaceTensor!: (m: Module, name: string, t: Tensor | null) => Tensor | null;

/**
 * The base of every layer, like torch.nn.Module: registered parameters, buffers and child modules, PyTorch-named state
 * dicts, train/eval mode. Subclasses register their tensors and children in the constructor and implement forward.
 */
export abstract class Module {
  /** Training mode (batch statistics, dropout active); switch with train()/eval(). */
  training = true;
  private readonly params = new Map<string, Tensor | null>();
  private readonly bufs = new Map<string, Tensor | null>();
  /** Buffers left out of the state dict (PyTorch's persistent=false). */
  private readonly transientBufs = new Set<string>();
  private readonly mods = new Map<string, Module>();

  /** Run the layer. Subclasses fix the signature. */
  abstract forward(...args: never[]): unknown;

  private checkName(name: string): void {
    if (!NAME.test(name))
      throw new UsageError(
        `module: attribute name must be an identifier or an index without dots, received ${JSON.stringify(name)}`,
      );
    if (this.params.has(name) || this.bufs.has(name) || this.mods.has(name)) {
      throw new UsageError(`module: attribute ${JSON.stringify(name)} is already registered`);
    }
  }
  /** Register a parameter (a leaf that requires grad; null = absent, e.g. bias=false). */
  protected registerParameter(name: string, t: Tensor | null): Tensor | null {
    this.checkName(name);
    if (t !== null) {
      t.requiresGrad_(true);
      t.persistent = true;
    }
    this.params.set(name, t);
    return t;
  }
  /** Register a buffer (state that is saved but not trained, e.g. running_mean). */
  protected registerBuffer(name: string, t: Tensor | null, persistent = true): Tensor | null {
    this.checkName(name);
    if (t !== null) t.persistent = true;
    this.bufs.set(name, t);
    if (!persistent) this.transientBufs.add(name);
    return t;
  }
  /** Register a child module. */
  registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    if (!(m instanceof Module))
      throw new UsageError(`registerModule: ${JSON.stringify(name)} must be a Module, received ${typeof m}`);
    this.mods.set(name, m);
    this.childrenChanged();
    return m;
  }
  /** Replace a registered child (used to convert layers in place, e.g. BatchNorm → SyncBatchNorm). */
  replaceModule(name: string, m: Module): void {
    if (!this.mods.has(name)) throw new UsageError(`replaceModule: no child named ${JSON.stringify(name)}`);
    this.mods.set(name, m);
    this.childrenChanged();
  }
  /** Called after a child is registered or replaced (containers drop cached child lists here). */
  protected childrenChanged(): void {}
  /**
   * Replace the parameter or buffer `name` by `t`: the registry entry and the field of this module that held the
   * old tensor (a layer's `weight`, `runningMean`, …), so the field, parameters() and stateDict() name one tensor.
   * Returns the old tensor, not disposed (the caller decides). A parameter becomes a leaf that requires grad.
   */
  protected setTensor(name: string, t: Tensor | null): Tensor | null {
    const reg = this.params.has(name) ? this.params : this.bufs.has(name) ? this.bufs : null;
    if (reg === null) throw new UsageError(`setTensor: no parameter or buffer named ${JSON.stringify(name)}`);
    const old = reg.get(name) ?? null;
    if (old === t) return old;
    if (old === null) {
      // no field can be told apart by holding null: the slot must have been built present
      throw new StateError(`setTensor: ${JSON.stringify(name)} was registered as absent (null), so it cannot be set`);
    }
    if (t !== null) {
      t.persistent = true;
      if (reg === this.params) t.requiresGrad_(true);
    }
    reg.set(name, t);
    const fields = this as unknown as Record<string, unknown>;
    for (const k of Object.keys(fields)) if (fields[k] === old) fields[k] = t;
    return old;
  }
  static {
    replaceTensor = (m, name, t) => m.setTensor(name, t);
  }

  /** Direct children with their registration names. */
  *namedChildren(): Generator<[string, Module]> {
    yield* this.mods;
  }
  /** Direct children, in registration order. */
  *children(): Generator<Module> {
    yield* this.mods.values();
  }
  /** This module and every descendant, depth-first, with dotted names ("" for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, m] of this.mods) yield* m.namedModules(prefix === '' ? n : `${prefix}.${n}`);
  }
  /** This module and every descendant, depth first. */
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }
  /** Every parameter with its dotted name (shared tensors listed once). */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [p, m] of this.namedModules()) {
      for (const [n, t] of m.params) {
        if (t === null || seen.has(t)) continue;
        seen.add(t);
        out.push([p === '' ? n : `${p}.${n}`, t]);
      }
    }
    return out;
  }
  /** Every parameter of this module and its descendants (what an optimizer takes). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  /** Every buffer (e.g. BatchNorm's running statistics) with its dotted name. */
  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [p, m] of this.namedModules()) {
      for (const [n, t] of m.bufs) if (t !== null) out.push([p === '' ? n : `${p}.${n}`, t]);
    }
    return out;
  }
  /** Every buffer of this module and its descendants. */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** Set training mode here and in every descendant. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  /** Switch this module and its descendants to evaluation mode (train(false)); returns this. */
  eval(): this {
    return this.train(false);
  }
  /** Call fn on every descendant then this module (post-order, like PyTorch). */
  apply(fn: (m: Module) => void): this {
    for (const m of this.mods.values()) m.apply(fn);
    fn(this);
    return this;
  }
  /** Drop every parameter's gradient (setToNone, the default; else fill with zeros). */
  zeroGrad(setToNone = true): void {
    for (const p of this.parameters()) {
      if (p.grad === null) continue;
      if (setToNone) {
        p.grad.dispose();
        p.grad = null;
      } else p.grad.zero_();
    }
  }

  /** Parameters and persistent buffers by dotted name; the tensors themselves (no copy). */
  stateDict(): StateDict {
    const sd: StateDict = {};
    for (const [p, m] of this.namedModules()) {
      const pre = p === '' ? '' : `${p}.`;
      for (const [n, t] of m.params) if (t !== null) sd[pre + n] = t;
      for (const [n, t] of m.bufs) if (t !== null && !m.transientBufs.has(n)) sd[pre + n] = t;
    }
    return sd;
  }
  /**
   * Copy values from `sd` into this module's tensors (in place, so optimizers keep their references).
   * strict (default): missing and unexpected keys are an error listing them. Shapes must match.
   */
  loadStateDict(
    sd: Readonly<Record<string, Tensor>>,
    opts: { strict?: boolean } = {},
  ): { missingKeys: string[]; unexpectedKeys: string[] } {
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !(k in own));
    if (opts.strict !== false && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      throw new UsageError(
        `loadStateDict: state dict does not match the module: missing keys [${missingKeys.join(', ')}], unexpected ` +
          `keys [${unexpectedKeys.join(', ')}]`,
      );
    }
    for (const [k, dst] of Object.entries(own)) {
      const src = sd[k];
      if (src === undefined) continue;
      // A 0-d scalar and a one-element vector are interchangeable (num_batches_tracked).
      if (!sameShape(src.shape, dst.shape) && !(src.size === 1 && dst.size === 1)) {
        throw new ShapeError(
          `loadStateDict: ${k}: shape in state dict ${fmtShape(src.shape)} does not match the module's ` +
            `${fmtShape(dst.shape)}`,
        );
      }
      dst.copy_(src);
    }
    return { missingKeys, unexpectedKeys };
  }
  /** Free the heap memory of every parameter, gradient and buffer. */
  dispose(): void {
    for (const t of this.parameters()) t.dispose();
    for (const t of this.buffers()) t.dispose();
  }
}
