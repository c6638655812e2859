// SGD with momentum, dampening, Nesterov and weight decay, with torch.optim.SGD's exact update rule.
import { UsageError, describe } from '../errors.js';
import { checkOptionKeys } from '../nn/functional/args.js';
import { checkLr, Optimizer, type ParamsArg } from './optimizer.js';

/** SGD hyper-parameters (torch.optim.SGD's, camelCased). */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}
type SGDHp = { momentum: number; dampening: number; weightDecay: number; nesterov: boolean };

/**
 * g ← grad + wd·p; with momentum μ: b ← g on the first step, else b ← μ·b + (1 − dampening)·g;
 * g ← g + μ·b (Nesterov) or b; p ← p − lr·g.
 */
export class SGD extends Optimizer<SGDHp> {
  constructor(params: ParamsArg<SGDHp>, opts: SGDOptions) {
    checkOptionKeys('SGD', opts, ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov']);
    const { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = opts ?? ({} as SGDOptions);
    super('SGD', params, { lr, momentum, dampening, weightDecay, nesterov }, (hp, groupLr) => {
      checkLr('SGD', groupLr);
      if (!(hp.momentum >= 0)) throw new UsageError(`SGD: momentum must be ≥ 0, received ${describe(hp.momentum)}`);
      if (!(hp.weightDecay >= 0))
        throw new UsageError(`SGD: weightDecay must be ≥ 0, received ${describe(hp.weightDecay)}`);
      if (!Number.isFinite(hp.dampening))
        throw new UsageError(`SGD: dampening must be a finite number, received ${describe(hp.dampening)}`);
      if (hp.nesterov && (hp.momentum <= 0 || hp.dampening !== 0))
        throw new UsageError('SGD: nesterov needs momentum > 0 and dampening 0');
    });
  }

  step(): void {
    for (const group of this.paramGroups) {
      const { momentum: mu, dampening, weightDecay: wd, nesterov } = group.hp;
      const lr = group.lr;
      for (const p of group.params) {
        if (p.grad === null) continue;
        const w = p.data;
        const g = p.grad.data;
        if (mu === 0) {
          for (let i = 0; i < w.length; i++) w[i] = w[i]! - lr * (g[i]! + wd * w[i]!);
        } else {
          const { t, fresh } = this.buffer(p, 'momentum_buffer', 'zeros');
          const b = t.data;
          const keep = 1 - dampening;
          for (let i = 0; i < w.length; i++) {
            const gi = Math.fround(g[i]! + wd * w[i]!);
            const bi = (b[i] = fresh ? gi : Math.fround(mu * b[i]!) + keep * gi);
            w[i] = w[i]! - lr * (nesterov ? Math.fround(gi + mu * bi) : bi);
          }
        }
        p.version++;
      }
    }
  }
}
