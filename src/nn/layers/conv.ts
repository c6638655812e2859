// Conv2d and Linear layers: weights OIHW / [out, in] with PyTorch's default seeded initialization.
import { UsageError } from '../../errors.js';
import type { RandomGenerator } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { conv2d, type Conv2dOptions } from '../functional/conv.js';
import { linear } from '../functional/linear.js';
import { checkOptionKeys, pair, positiveInt, type Pair } from '../functional/args.js';
import { defaultLayerInit } from '../init.js';
import { Module } from '../module.js';

/** Options of Conv2d: conv2d's options plus bias and the initialization stream. */
export interface Conv2dLayerOptions extends Conv2dOptions {
  /** add a learned bias (default true) */
  bias?: boolean;
  /** initialization stream (default: the global generator, see manualSeed) */
  generator?: RandomGenerator;
}

/** torch.nn.Conv2d: input (N, C, H, W) → (N, O, oh, ow). */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly opts: Required<Conv2dOptions>;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    opts: Conv2dLayerOptions = {},
  ) {
    super();
    checkOptionKeys('Conv2d', opts, ['stride', 'padding', 'dilation', 'groups', 'bias', 'generator']);
    opts ??= {};
    positiveInt(inChannels, 'Conv2d: inChannels');
    positiveInt(outChannels, 'Conv2d: outChannels');
    const groups = positiveInt(opts.groups ?? 1, 'Conv2d: groups');
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new UsageError(
        `Conv2d: inChannels ${inChannels} and outChannels ${outChannels} must both be divisible by groups ${groups}`,
      );
    }
    const [kh, kw] = pair(kernelSize, 'Conv2d: kernelSize', 1);
    this.opts = {
      stride: pair(opts.stride ?? 1, 'Conv2d: stride', 1),
      padding: pair(opts.padding ?? 0, 'Conv2d: padding', 0),
      dilation: pair(opts.dilation ?? 1, 'Conv2d: dilation', 1),
      groups,
    };
    this.weight = this.registerParameter('weight', Tensor.empty([outChannels, inChannels / groups, kh, kw]))!;
    this.bias = this.registerParameter('bias', opts.bias === false ? null : Tensor.empty([outChannels]));
    defaultLayerInit(this.weight, this.bias, opts.generator);
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.opts);
  }
}

/** torch.nn.Linear: (…, in) → (…, out). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean; generator?: RandomGenerator } = {},
  ) {
    super();
    checkOptionKeys('Linear', opts, ['bias', 'generator']);
    opts ??= {};
    positiveInt(inFeatures, 'Linear: inFeatures');
    positiveInt(outFeatures, 'Linear: outFeatures');
    this.weight = this.registerParameter('weight', Tensor.empty([outFeatures, inFeatures]))!;
    this.bias = this.registerParameter('bias', opts.bias === false ? null : Tensor.empty([outFeatures]));
    defaultLayerInit(this.weight, this.bias, opts.generator);
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
