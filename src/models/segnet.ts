// SegNet: the demo's small DeepLab-style segmentation network (strided stem, dilated 3×3 convs, bilinear upsampling).
import { UsageError, describe } from '../errors.js';
import type { ProcessGroup } from '../comm/types.js';
import { RandomGenerator } from '../tensor/random.js';
import { Sequential, type TensorModule } from '../nn/layers/sequential.js';
import { Conv2d } from '../nn/layers/conv.js';
import { BatchNorm2d } from '../nn/layers/batchnorm.js';
import { GroupNorm } from '../nn/layers/groupnorm.js';
import { ReLU, Upsample } from '../nn/layers/basic.js';
import { convertSyncBatchNorm } from '../parallel/convert.js';

/** The normalization layers SegNet can be built with. */
export type NormKind = 'bn' | 'syncbn' | 'groupnorm';
/** The normalizations segNet can be built with: BatchNorm, SyncBatchNorm, GroupNorm. */
export const NORM_KINDS: readonly NormKind[] = ['bn', 'syncbn', 'groupnorm'];

/** Builds the normalization layer that follows a convolution with `channels` output channels. */
export type NormFactory = (channels: number) => TensorModule;

/** Options of segNet. */
export interface SegNetOptions {
  /** Input channels (1 for DigitScenes). Default 1. */
  inChannels?: number;
  /** Output classes. Default 11 (background + 10 digits). */
  numClasses?: number;
  /** Channels of the stem; the body has twice as many. Default 16. */
  width?: number;
  /** Input side in pixels; a multiple of 4 (the output stride). Default 64. */
  size?: number;
  /** 'bn' (default), 'syncbn' (BatchNorm converted to SyncBatchNorm over `group`), 'groupnorm', or a factory. */
  norm?: NormKind | NormFactory;
  /** The process group of 'syncbn' (required for it). */
  group?: ProcessGroup;
  /** GroupNorm's groups: the largest divisor of a layer's channels that is ≤ groups. Default 8. */
  groups?: number;
  /** Weight initialization seed: the same seed gives the same weights for every norm. Default 0. */
  seed?: number;
}

/** Output stride of the encoder (two stride-2 convolutions); the classifier's logits are upsampled by this. */
export const SEGNET_STRIDE = 4;

/** The factory for a norm kind; 'syncbn' layers start as BatchNorm2d and `segNet` converts them. */
export function normFactory(kind: NormKind, groups = 8): NormFactory {
  if (kind === 'bn' || kind === 'syncbn') return (c) => new BatchNorm2d(c);
  if (kind === 'groupnorm') {
    return (c) => {
      // the largest divisor of c that is ≤ groups (GroupNorm needs groups | channels)
      let g = Math.min(groups, c);
      while (c % g !== 0) g--;
      return new GroupNorm(g, c);
    };
  }
  throw new UsageError(
    `segNet: norm must be one of ${NORM_KINDS.map((k) => JSON.stringify(k)).join(', ')} or a function, ` +
      `received ${describe(kind)}`,
  );
}

/**
 * The network, as a Sequential: conv 3×3 stride 2 (stem) → conv 3×3 stride 2 → conv 3×3 → conv 3×3 dilation 2 →
 * conv 3×3 dilation 4 (each conv without bias, then norm and ReLU), a 1×1 classifier with bias, and bilinear
 * upsampling ×4 (align_corners=false) back to the input size. Output stride 4 with dilated convolutions instead
 * of further downsampling, as DeepLab; the receptive field (≈ 60 px) covers a 64 px scene.
 */
export function segNet(opts: SegNetOptions = {}): Sequential {
  const { inChannels = 1, numClasses = 11, width = 16, size = 64, norm = 'bn', groups = 8, seed = 0 } = opts;
  const int = (name: string, v: number, min: number): void => {
    if (!Number.isInteger(v) || v < min)
      throw new UsageError(`segNet: ${name} must be an integer ≥ ${min}, received ${describe(v)}`);
  };
  int('inChannels', inChannels, 1);
  int('numClasses', numClasses, 2);
  int('width', width, 1);
  int('size', size, SEGNET_STRIDE);
  int('groups', groups, 1);
  if (size % SEGNET_STRIDE !== 0)
    throw new UsageError(`segNet: size must be a multiple of ${SEGNET_STRIDE}, received ${size}`);
  if (norm === 'syncbn' && opts.group === undefined)
    throw new UsageError('segNet: norm "syncbn" needs a group, received undefined');
  const make: NormFactory = typeof norm === 'function' ? norm : normFactory(norm, groups);
  const generator = new RandomGenerator(seed);
  const w2 = 2 * width;
  const block = (
    i: number,
    o: number,
    conv: { stride?: number; padding: number; dilation?: number },
  ): TensorModule[] => [new Conv2d(i, o, 3, { bias: false, ...conv, generator }), make(o), new ReLU()];
  const net = new Sequential(
    ...block(inChannels, width, { stride: 2, padding: 1 }),
    ...block(width, w2, { stride: 2, padding: 1 }),
    ...block(w2, w2, { padding: 1 }),
    ...block(w2, w2, { padding: 2, dilation: 2 }),
    ...block(w2, w2, { padding: 4, dilation: 4 }),
    new Conv2d(w2, numClasses, 1, { bias: true, generator }),
    new Upsample({ scaleFactor: SEGNET_STRIDE }),
  );
  if (norm === 'syncbn') convertSyncBatchNorm(net, opts.group!);
  return net;
}
