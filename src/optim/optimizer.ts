// Optimizer base: parameter groups with per-group hyperparameters, per-parameter state, zeroGrad.
import { ShapeError, UsageError, describe } from '../errors.js';
import { fmtShape } from '../tensor/shape.js';
import { checkOptionKeys } from '../nn/functional/args.js';
import { Tensor } from '../tensor/tensor.js';
import { viewOf } from '../tensor/internal.js';

/** A set of parameters sharing hyperparameters (lr, …); `lr` is what schedules change. */
export interface ParamGroup<H> {
  params: Tensor[];
  lr: number;
  /** lr as first set, the base schedules scale from */
  initialLr: number;
  hp: H;
}

/** What an optimizer is built from: a list of parameters, or parameter groups each with its own overrides. */
export type ParamsArg<H> = readonly Tensor[] | readonly ({ params: readonly Tensor[]; lr?: number } & Partial<H>)[];

/** The base of SGD and AdamW (torch.optim.Optimizer): parameter groups, per-parameter state, zeroGrad, state dicts. */
export abstract class Optimizer<H extends object> {
  readonly paramGroups: ParamGroup<H>[] = [];
  /** Per-parameter buffers (momentum, Adam moments), heap tensors freed by dispose(). */
  protected readonly state = new Map<Tensor, Record<string, Tensor | number>>();

  constructor(name: string, params: ParamsArg<H>, defaults: H & { lr: number }, check: (hp: H, lr: number) => void) {
    if (!Array.isArray(params) || params.length === 0)
      throw new UsageError(
        `${name}: params must be a non-empty array of tensors or parameter groups, received ${describe(params)}`,
      );
    const groups =
      params[0] instanceof Tensor
        ? [{ params: params as readonly Tensor[] }]
        : (params as readonly ({ params: readonly Tensor[] } & Partial<H> & { lr?: number })[]);
    const seen = new Set<Tensor>();
    for (const g of groups) {
      checkOptionKeys(`${name} param group`, g, ['params', 'lr', ...Object.keys(defaults).filter((k) => k !== 'lr')]);
      const { params: ps, lr = defaults.lr, ...rest } = g as { params: readonly Tensor[]; lr?: number };
      const hp = { ...defaults, ...rest } as H & { lr?: number };
      delete hp.lr;
      check(hp, lr);
      for (const p of ps) {
        if (!(p instanceof Tensor))
          throw new UsageError(`${name}: every parameter must be a Tensor, received ${describe(p)}`);
        if (!p.isLeaf)
          throw new UsageError(
            `${name}: can only optimize leaf tensors (parameters), received one computed by ${p.gradFn!.name}`,
          );
        if (seen.has(p)) throw new UsageError(`${name}: a parameter appears in more than one group`);
        seen.add(p);
      }
      this.paramGroups.push({ params: [...ps], lr, initialLr: lr, hp });
    }
  }

  /** One update from the current .grad of each parameter (parameters without a grad are skipped). */
  abstract step(): void;

  /** Drop (default) or zero every gradient. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (p.grad === null) continue;
        if (setToNone) {
          p.grad.dispose();
          p.grad = null;
        } else p.grad.zero_();
      }
    }
  }

  /**
   * The per-parameter state tensor `key` of `p`, created on first use (zeros or a copy of the gradient); `fresh` says
   * it was just created.
   */
  protected buffer(p: Tensor, key: string, init: 'zeros' | 'grad'): { t: Tensor; fresh: boolean } {
    let s = this.state.get(p);
    if (s === undefined) this.state.set(p, (s = {}));
    const have = s[key];
    if (have instanceof Tensor) return { t: have, fresh: false };
    const t = init === 'grad' ? p.grad!.clone() : Tensor.zerosLike(p);
    t.persistent = true;
    s[key] = t;
    return { t, fresh: true };
  }

  private orderedParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /**
   * Per-parameter state as named tensors, like PyTorch's optimizer state_dict()["state"]:
   * "state.<i>.<name>" with i the parameter's index over all groups (momentum_buffer, exp_avg, step, …).
   * Tensors are copies; save them with saveSafetensors to resume training.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    this.orderedParams().forEach((p, i) => {
      const s = this.state.get(p);
      if (s === undefined) return;
      for (const [k, v] of Object.entries(s))
        out[`state.${i}.${k}`] = v instanceof Tensor ? v.clone() : Tensor.scalar(v);
    });
    return out;
  }

  /** Restore what stateDict() produced (copies; shapes and parameter indices must match). */
  loadStateDict(sd: Readonly<Record<string, Tensor>>): void {
    const params = this.orderedParams();
    const next = new Map<Tensor, Record<string, Tensor | number>>();
    for (const [key, t] of Object.entries(sd)) {
      const m = /^state\.(\d+)\.([A-Za-z_]+)$/.exec(key);
      if (m === null)
        throw new UsageError(
          `optimizer loadStateDict: unexpected key ${JSON.stringify(key)} (expected "state.<index>.<name>")`,
        );
      const p = params[Number(m[1])];
      if (p === undefined)
        throw new UsageError(
          `optimizer loadStateDict: ${key} names parameter ${m[1]} but the optimizer has ${params.length}`,
        );
      let s = next.get(p);
      if (s === undefined) next.set(p, (s = {}));
      if (m[2] === 'step')
        s.step = t.item(); // counters are numbers; everything else is a per-element buffer
      else {
        if (t.size !== p.size)
          throw new ShapeError(
            `optimizer loadStateDict: ${key} has shape ${fmtShape(t.shape)} but its parameter has shape ` +
              `${fmtShape(p.shape)}`,
          );
        const c = viewOf(t, p.shape).clone();
        c.persistent = true;
        s[m[2]!] = c;
      }
    }
    this.dispose();
    for (const [p, s] of next) this.state.set(p, s);
  }

  /** Free the optimizer's state buffers. */
  dispose(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }
}

export function checkLr(name: string, lr: number): void {
  if (!(Number.isFinite(lr) && lr >= 0))
    throw new UsageError(`${name}: lr must be a finite number ≥ 0, received ${describe(lr)}`);
}
