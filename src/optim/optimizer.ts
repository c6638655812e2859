// Optimizer base: parameter groups with per-group hyperparameters, per-parameter state, zeroGrad.
import { UsageError, describe } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';

/** A set of parameters sharing hyperparameters (lr, …); `lr` is what schedules change. */
export interface ParamGroup<H> {
  params: Tensor[];
  lr: number;
  /** lr as first set, the base schedules scale from */
  initialLr: number;
  hp: H;
}

export type ParamsArg<H> = readonly Tensor[] | readonly ({ params: readonly Tensor[]; lr?: number } & Partial<H>)[];

export abstract class Optimizer<H extends object> {
  readonly paramGroups: ParamGroup<H>[] = [];
  /** Per-parameter buffers (momentum, Adam moments), heap tensors freed by dispose(). */
  protected readonly state = new Map<Tensor, Record<string, Tensor | number>>();

  constructor(name: string, params: ParamsArg<H>, defaults: H & { lr: number }, check: (hp: H, lr: number) => void) {
    if (!Array.isArray(params) || params.length === 0) throw new UsageError(`${name}: params must be a non-empty array of tensors or parameter groups, received ${describe(params)}`);
    const groups = params[0] instanceof Tensor ? [{ params: params as readonly Tensor[] }] : (params as readonly ({ params: readonly Tensor[] } & Partial<H> & { lr?: number })[]);
    const seen = new Set<Tensor>();
    for (const g of groups) {
      const { params: ps, lr = defaults.lr, ...rest } = g as { params: readonly Tensor[]; lr?: number };
      const hp = { ...defaults, ...rest } as H & { lr?: number };
      delete hp.lr;
      check(hp, lr);
      for (const p of ps) {
        if (!(p instanceof Tensor)) throw new UsageError(`${name}: every parameter must be a Tensor, received ${describe(p)}`);
        if (!p.isLeaf) throw new UsageError(`${name}: can only optimize leaf tensors (parameters), received one computed by ${p.gradFn!.name}`);
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

  protected buffer(p: Tensor, key: string, init: 'zeros' | 'grad'): { t: Tensor; fresh: boolean } {
    let s = this.state.get(p);
    if (s === undefined) this.state.set(p, (s = {}));
    const have = s[key];
    if (have instanceof Tensor) return { t: have, fresh: false };
    const t = init === 'grad' ? p.grad!.clone() : Tensor.zerosLike(p);
    s[key] = t;
    return { t, fresh: true };
  }

  /** Free the optimizer's state buffers. */
  dispose(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }
}

export function checkLr(name: string, lr: number): void {
  if (!(Number.isFinite(lr) && lr >= 0)) throw new UsageError(`${name}: lr must be a finite number ≥ 0, received ${lr}`);
}
