// The model registry: named architectures that the CLI (`syncbn demo`) and exporters build by name.
import { UsageError, describe } from '../errors.js';
import type { Module } from '../nn/module.js';
import { segNet } from './segnet.js';

export {
  segNet,
  normFactory,
  NORM_KINDS,
  SEGNET_STRIDE,
  type NormKind,
  type NormFactory,
  type SegNetOptions,
} from './segnet.js';

/** An architecture: builds a fresh model from its options. */
export interface Architecture {
  /** One line for listings. */
  summary: string;
  /** Build a fresh model from `opts` (the architecture validates them). */
  create(opts: Record<string, unknown>): Module;
}

/** Registered architectures by name; 'demo' is the network of `syncbn demo`. */
export const architectures: Record<string, Architecture> = {
  demo: {
    summary: 'SegNet: DeepLab-style segmentation CNN of `syncbn demo` (1×64×64 input, 11 classes)',
    create: (opts) => segNet(opts),
  },
};

/** Build architecture `name` with `opts` (UsageError naming the known architectures for an unknown name). */
export function createModel(name: string, opts: Record<string, unknown> = {}): Module {
  const a = Object.hasOwn(architectures, name) ? architectures[name] : undefined;
  if (a === undefined) {
    throw new UsageError(
      `createModel: name must be one of ${Object.keys(architectures)
        .map((k) => JSON.stringify(k))
        .join(', ')}, received ${describe(name)}`,
    );
  }
  return a.create(opts);
}
