// BatchNorm1d/2d/3d layers (PyTorch semantics and state-dict names); SyncBatchNorm supplies batchExchange().
import { ShapeError, UsageError, describe } from '../../errors.js';
import { fmtShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';
import { batchNorm } from '../functional/batchnorm.js';
import { checkOptionKeys, positiveInt } from '../functional/args.js';
import { checkAllFinite, checkEps, checkMomentum, type BNExchange } from '../../kernels/batchnorm.js';
import { Module } from '../module.js';

/** Options of BatchNorm1d/2d/3d (PyTorch's, plus layout, fusion and a finiteness check). */
export interface BatchNormLayerOptions {
  /** default 1e-5 */
  eps?: number;
  /** running-average factor (default 0.1); null = cumulative average over num_batches_tracked */
  momentum?: number | null;
  /** learned γ (weight, init 1) and β (bias, init 0); default true */
  affine?: boolean;
  /** keep running_mean/running_var (used in eval); false ⇒ batch statistics in eval too. Default true */
  trackRunningStats?: boolean;
  /** input is (N, *, C) instead of (N, C, *) */
  channelsLast?: boolean;
  /** always apply ReLU in the same pass (Sequential fuses BatchNorm → ReLU per call: see BatchNormForwardOptions) */
  fuseRelu?: boolean;
  /**
   * Throw ValueError when the input holds NaN or ±Inf (one pass over it). SyncBatchNorm in training
   * decides it from the gathered statistics, so every rank throws the same error. Default false.
   */
  checkFinite?: boolean;
}

/** Per-call options of BatchNorm.forward. */
export interface BatchNormForwardOptions {
  /** apply ReLU in the same pass (one tensor less; backward masks dy with the output): Sequential's BN → ReLU */
  fuseRelu?: boolean;
}

/** The option keys of BatchNorm1d/2d/3d. */
export const BATCH_NORM_OPTION_KEYS = [
  'eps',
  'momentum',
  'affine',
  'trackRunningStats',
  'channelsLast',
  'fuseRelu',
  'checkFinite',
] as const;

/** Batch norm over (N, C, *) inputs of the ranks `ranks`; the common base of BatchNorm1d/2d/3d. */
export class BatchNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  momentum: number | null;
  readonly channelsLast: boolean;
  /** ReLU fused into every forward (the constructor option); a call can also ask for it. */
  readonly fuseRelu: boolean;
  /** Non-finite input is a ValueError (see BatchNormLayerOptions.checkFinite). */
  checkFinite: boolean;
  /** The option keys this class accepts (subclasses with more options extend it). */
  static readonly optionKeys: readonly string[] = BATCH_NORM_OPTION_KEYS;

  constructor(
    readonly numFeatures: number,
    opts: BatchNormLayerOptions = {},
    protected readonly ranks: readonly number[] = [2, 3, 4, 5],
  ) {
    super();
    checkOptionKeys(new.target.name, opts, new.target.optionKeys);
    opts ??= {};
    positiveInt(numFeatures, `${new.target.name}: numFeatures`);
    this.eps = checkEps(new.target.name, opts.eps ?? 1e-5);
    this.momentum = checkMomentum(new.target.name, opts.momentum === undefined ? 0.1 : opts.momentum);
    this.channelsLast = opts.channelsLast === true;
    this.fuseRelu = opts.fuseRelu === true;
    if (opts.checkFinite !== undefined && typeof opts.checkFinite !== 'boolean') {
      throw new UsageError(`${new.target.name}: checkFinite must be a boolean, received ${describe(opts.checkFinite)}`);
    }
    this.checkFinite = opts.checkFinite === true;
    const affine = opts.affine !== false;
    this.weight = this.registerParameter('weight', affine ? Tensor.ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', affine ? Tensor.zeros([numFeatures]) : null);
    const track = opts.trackRunningStats !== false;
    this.runningMean = this.registerBuffer('running_mean', track ? Tensor.zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', track ? Tensor.ones([numFeatures]) : null);
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', track ? Tensor.zeros([]) : null);
  }

  /** The options this layer was built with, to build a twin (SyncBN convert/revert). */
  layerOptions(): BatchNormLayerOptions {
    return {
      eps: this.eps,
      momentum: this.momentum,
      affine: this.weight !== null,
      trackRunningStats: this.runningMean !== null,
      channelsLast: this.channelsLast,
      fuseRelu: this.fuseRelu,
      checkFinite: this.checkFinite,
    };
  }

  /** The SyncBN hook: the collectives at the pipeline's two seams for this call. Local BN: none. */
  protected batchExchange(): BNExchange | null {
    return null;
  }

  /** Reset running statistics to mean 0, var 1, no batches (reset_running_stats). */
  resetRunningStats(): void {
    this.runningMean?.fill_(0);
    this.runningVar?.fill_(1);
    this.numBatchesTracked?.fill_(0);
  }

  forward(x: Tensor, opts: BatchNormForwardOptions = {}): Tensor {
    if (!this.ranks.includes(x.ndim)) {
      throw new ShapeError(
        `${this.constructor.name}: expected input of rank ${this.ranks.join(' or ')}, received shape ` +
          `${fmtShape(x.shape)}`,
      );
    }
    const exchange = this.batchExchange();
    // With an exchange, the merged statistics decide (the same error on every rank); locally, scan the input.
    if (this.checkFinite && exchange === null) checkAllFinite('input', x.data, this.constructor.name);
    return batchNorm(x, this.weight, this.bias, {
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
      channelsLast: this.channelsLast,
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      numBatchesTracked: this.numBatchesTracked,
      fuseRelu: this.fuseRelu || opts.fuseRelu === true,
      exchange,
    });
  }
}

/** torch.nn.BatchNorm1d: (N, C) or (N, C, L). */
export class BatchNorm1d extends BatchNorm {
  constructor(numFeatures: number, opts: BatchNormLayerOptions = {}) {
    super(numFeatures, opts, [2, 3]);
  }
}
/** torch.nn.BatchNorm2d: (N, C, H, W). */
export class BatchNorm2d extends BatchNorm {
  constructor(numFeatures: number, opts: BatchNormLayerOptions = {}) {
    super(numFeatures, opts, [4]);
  }
}
/** torch.nn.BatchNorm3d: (N, C, D, H, W). */
export class BatchNorm3d extends BatchNorm {
  constructor(numFeatures: number, opts: BatchNormLayerOptions = {}) {
    super(numFeatures, opts, [5]);
  }
}
