// Parameter-free layers: ReLU, pooling, bilinear Upsample, Dropout, Flatten, Identity.
import { type Tensor } from '../../tensor/tensor.js';
import { relu, flatten } from '../../autograd/ops.js';
import { type RandomGenerator, defaultGenerator } from '../../tensor/random.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d, type Pool2dOptions } from '../functional/pool.js';
import { dropout, upsampleBilinear } from '../functional/shape-ops.js';
import { checkOptionKeys, type Pair } from '../functional/args.js';
import { Module } from '../module.js';
import { UsageError, describe } from '../../errors.js';

/** max(x, 0) elementwise (torch.nn.ReLU); a BatchNorm right before it in a Sequential runs fused with it. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Returns its input unchanged (torch.nn.Identity): a placeholder layer. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** torch.nn.MaxPool2d (stride defaults to kernelSize). */
export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly opts: Pool2dOptions = {},
  ) {
    super();
    checkOptionKeys('MaxPool2d', opts, ['stride', 'padding']);
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.opts);
  }
}

/** torch.nn.AvgPool2d (count_include_pad=true). */
export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly opts: Pool2dOptions = {},
  ) {
    super();
    checkOptionKeys('AvgPool2d', opts, ['stride', 'padding']);
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.opts);
  }
}

/** torch.nn.AdaptiveAvgPool2d; outputSize 1 = global average pooling. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** torch.nn.Upsample(mode='bilinear', align_corners=False). */
export class Upsample extends Module {
  constructor(readonly opts: { size?: Pair; scaleFactor?: number }) {
    super();
    checkOptionKeys('Upsample', opts, ['size', 'scaleFactor']);
    if (opts?.size === undefined && opts?.scaleFactor === undefined)
      throw new UsageError('Upsample: give size or scaleFactor');
  }
  forward(x: Tensor): Tensor {
    return upsampleBilinear(x, this.opts);
  }
}

/** torch.nn.Dropout: active in training mode only; seeded by its own generator when given. */
export class Dropout extends Module {
  constructor(
    readonly p = 0.5,
    readonly generator: RandomGenerator = defaultGenerator,
  ) {
    super();
    if (!(p >= 0 && p <= 1)) throw new UsageError(`Dropout: p must be in [0, 1], received ${describe(p)}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }
}

/** torch.nn.Flatten: merges dims startDim…endDim (default 1…−1: keeps the batch dim). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
}
