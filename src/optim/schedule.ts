// Learning-rate schedules: poly (PolynomialLR) and cosine (CosineAnnealingLR), stepping every group's lr.
import { UsageError, describe } from '../errors.js';
import type { Optimizer } from './optimizer.js';
import { checkOptionKeys } from '../nn/functional/args.js';

abstract class LRSchedule {
  /** steps taken so far (PyTorch's last_epoch) */
  lastStep = 0;
  constructor(protected readonly opt: Optimizer<object>) {
    // like PyTorch's initial_lr: the schedule scales from each group's lr at creation (step 0 = that lr)
    for (const g of opt.paramGroups) g.initialLr = g.lr;
  }
  /** lr of a group whose initial lr is `base`, at step `t` */
  protected abstract lrAt(base: number, t: number): number;
  /** Advance one step and set every group's lr. */
  step(): void {
    this.lastStep++;
    this.apply();
  }
  /** The schedule's position, JSON-able (PyTorch's scheduler state_dict: last_epoch). */
  stateDict(): { lastStep: number } {
    return { lastStep: this.lastStep };
  }
  /** Restore the position from stateDict() and set every group's lr for it. */
  loadStateDict(state: { lastStep: number }): void {
    const t = (state as { lastStep?: unknown } | null)?.lastStep;
    if (!Number.isSafeInteger(t) || (t as number) < 0) {
      throw new UsageError(
        `${this.constructor.name}.loadStateDict: lastStep must be an integer ≥ 0, received ${describe(t)}`,
      );
    }
    this.lastStep = t as number;
    this.apply();
  }
  private apply(): void {
    for (const g of this.opt.paramGroups) g.lr = this.lrAt(g.initialLr, this.lastStep);
  }
  /** current lr of each group */
  getLastLr(): number[] {
    return this.opt.paramGroups.map((g) => g.lr);
  }
}

/** lr = base·(1 − min(t, totalSteps)/totalSteps)^power (torch PolynomialLR; segmentation's "poly" with power 0.9). */
export class PolyLR extends LRSchedule {
  constructor(
    opt: Optimizer<object>,
    readonly opts: { totalSteps: number; power?: number },
  ) {
    checkOptionKeys('PolyLR', opts, ['totalSteps', 'power']);
    if (!(Number.isInteger(opts.totalSteps) && opts.totalSteps > 0))
      throw new UsageError(`PolyLR: totalSteps must be a positive integer, received ${describe(opts.totalSteps)}`);
    const power = opts.power ?? 1;
    if (!(Number.isFinite(power) && power >= 0))
      throw new UsageError(`PolyLR: power must be a finite number ≥ 0, received ${describe(power)}`);
    super(opt);
  }
  protected lrAt(base: number, t: number): number {
    const { totalSteps, power = 1 } = this.opts;
    return base * (1 - Math.min(t, totalSteps) / totalSteps) ** power;
  }
}

/** lr = etaMin + (base − etaMin)·(1 + cos(π·t/tMax))/2 (torch CosineAnnealingLR's closed form). */
export class CosineAnnealingLR extends LRSchedule {
  constructor(
    opt: Optimizer<object>,
    readonly opts: { tMax: number; etaMin?: number },
  ) {
    checkOptionKeys('CosineAnnealingLR', opts, ['tMax', 'etaMin']);
    if (!(Number.isFinite(opts.tMax) && opts.tMax > 0))
      throw new UsageError(`CosineAnnealingLR: tMax must be a positive number, received ${describe(opts.tMax)}`);
    super(opt);
  }
  protected lrAt(base: number, t: number): number {
    const etaMin = this.opts.etaMin ?? 0;
    return etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * t) / this.opts.tMax))) / 2;
  }
}
