// AdamW (decoupled weight decay) with torch.optim.AdamW's update rule, incl. amsgrad.
import { UsageError, describe } from '../errors.js';
import { checkOptionKeys } from '../nn/functional/args.js';
import { checkLr, Optimizer, type ParamsArg } from './optimizer.js';

/** AdamW hyper-parameters (torch.optim.AdamW's, camelCased). */
export interface AdamWOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
}
type AdamWHp = { betas: readonly [number, number]; eps: number; weightDecay: number; amsgrad: boolean };

/**
 * p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
 * p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + eps)   (v → max over steps with amsgrad).
 */
export class AdamW extends Optimizer<AdamWHp> {
  constructor(params: ParamsArg<AdamWHp>, opts: AdamWOptions = {}) {
    checkOptionKeys('AdamW', opts, ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad']);
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 1e-2, amsgrad = false } = opts;
    super('AdamW', params, { lr, betas, eps, weightDecay, amsgrad }, (hp, groupLr) => {
      checkLr('AdamW', groupLr);
      const [b1, b2] = hp.betas;
      if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1))
        throw new UsageError(`AdamW: betas must be in [0, 1), received [${hp.betas.join(', ')}]`);
      if (!(hp.eps >= 0)) throw new UsageError(`AdamW: eps must be ≥ 0, received ${describe(hp.eps)}`);
      if (!(hp.weightDecay >= 0))
        throw new UsageError(`AdamW: weightDecay must be ≥ 0, received ${describe(hp.weightDecay)}`);
    });
  }

  step(): void {
    for (const group of this.paramGroups) {
      const { betas, eps, weightDecay: wd, amsgrad } = group.hp;
      const [b1, b2] = betas as [number, number];
      const lr = group.lr;
      for (const p of group.params) {
        if (p.grad === null) continue;
        const m = this.buffer(p, 'exp_avg', 'zeros').t.data;
        const v = this.buffer(p, 'exp_avg_sq', 'zeros').t.data;
        const vmax = amsgrad ? this.buffer(p, 'max_exp_avg_sq', 'zeros').t.data : null;
        const st = this.state.get(p)!;
        const t = ((st.step as number | undefined) ?? 0) + 1;
        st.step = t;
        const w = p.data;
        const g = p.grad.data;
        const bc1 = 1 - b1 ** t;
        const bc2sqrt = Math.sqrt(1 - b2 ** t);
        const stepSize = lr / bc1;
        const decay = 1 - lr * wd;
        for (let i = 0; i < w.length; i++) {
          const gi = g[i]!;
          const wi = Math.fround(w[i]! * decay);
          const mi = (m[i] = b1 * m[i]! + (1 - b1) * gi);
          let vi = (v[i] = b2 * v[i]! + (1 - b2) * gi * gi);
          if (vmax !== null) vi = vmax[i] = Math.max(vmax[i]!, vi);
          w[i] = wi - (stepSize * mi) / (Math.sqrt(vi) / bc2sqrt + eps);
        }
        p.version++;
      }
    }
  }
}
