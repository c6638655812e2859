// GroupNorm layer (torch.nn.GroupNorm semantics and state-dict names): normalization that needs no batch statistics.
import { ShapeError, UsageError, describe } from '../../errors.js';
import { checkGroupNormEps } from '../../kernels/groupnorm.js';
import { fmtShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';
import { positiveInt } from '../functional/args.js';
import { checkOptionKeys, groupNorm } from '../functional/groupnorm.js';
import { Module } from '../module.js';

/** Options of GroupNorm (torch.nn.GroupNorm's, camelCased). */
export interface GroupNormLayerOptions {
  /** added to the variance; default 1e-5 */
  eps?: number;
  /** learned per-channel γ (`weight`, init 1) and β (`bias`, init 0); default true */
  affine?: boolean;
}

/**
 * torch.nn.GroupNorm: splits the C channels of an (N, C, *) input into `numGroups` groups of consecutive
 * channels and normalizes each (sample, group) by its own mean and biased variance, then applies the
 * per-channel affine γ, β. The same in training and eval (no running statistics), so it works at any
 * batch size, down to one image per worker. numGroups = 1 is LayerNorm over (C, *); numGroups = C is InstanceNorm.
 */
export class GroupNorm extends Module {
  /** γ, shape [numChannels]; null when affine is false */
  readonly weight: Tensor | null;
  /** β, shape [numChannels]; null when affine is false */
  readonly bias: Tensor | null;
  readonly eps: number;
  readonly affine: boolean;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    opts: GroupNormLayerOptions = {},
  ) {
    super();
    checkOptionKeys('GroupNorm', opts, ['eps', 'affine']);
    positiveInt(numGroups, 'GroupNorm: numGroups');
    positiveInt(numChannels, 'GroupNorm: numChannels');
    if (numChannels % numGroups !== 0) {
      throw new UsageError(`GroupNorm: numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`);
    }
    this.eps = checkGroupNormEps(opts.eps ?? 1e-5, 'GroupNorm');
    if (opts.affine !== undefined && typeof opts.affine !== 'boolean') {
      throw new UsageError(`GroupNorm: affine must be a boolean, received ${describe(opts.affine)}`);
    }
    this.affine = opts.affine !== false;
    this.weight = this.registerParameter('weight', this.affine ? Tensor.ones([numChannels]) : null);
    this.bias = this.registerParameter('bias', this.affine ? Tensor.zeros([numChannels]) : null);
  }

  /** Reset γ to 1 and β to 0 (reset_parameters). */
  resetParameters(): void {
    this.weight?.fill_(1);
    this.bias?.fill_(0);
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) {
      throw new ShapeError(
        `GroupNorm: expected input of shape (N, ${this.numChannels}, *) (rank ≥ 2), ` +
          `received shape ${fmtShape(x.shape)}`,
      );
    }
    return groupNorm(x, this.numGroups, this.weight, this.bias, { eps: this.eps });
  }
}
