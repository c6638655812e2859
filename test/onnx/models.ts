// Test models for ONNX round trips: every exportable op in one network, and a DeepLab-like segmentation stand-in.
import {
  Module,
  Sequential,
  Conv2d,
  BatchNorm2d,
  BatchNorm1d,
  ReLU,
  Linear,
  Dropout,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  Upsample,
  Flatten,
  SyncBatchNorm,
  GroupNorm,
  Tensor,
  RandomGenerator,
} from '../../src/index.js';
import { add, concat, reshape, relu, upsampleBilinear, adaptiveAvgPool2d } from '../../src/nn/functional/index.js';

/** Give every BN layer non-trivial running statistics and affine parameters (so a BN mapping error shows). */
export function randomizeNorms(m: Module, seed: number): void {
  const g = new RandomGenerator(seed);
  for (const [name, t] of [...m.namedParameters(), ...m.namedBuffers()]) {
    if (name.endsWith('running_mean') || name.endsWith('bias'))
      t.copy_(Tensor.randn(t.shape, { generator: g, std: 0.3 }));
    else if (name.endsWith('running_var')) t.copy_(Tensor.rand(t.shape, { generator: g, low: 0.5, high: 2 }));
    else if (name.endsWith('weight') && t.ndim === 1)
      t.copy_(Tensor.rand(t.shape, { generator: g, low: 0.5, high: 1.5 }));
  }
}

/**
 * Every exportable op: stride 2, grouped + dilated convs, SyncBatchNorm, BN+ReLU fused by Sequential,
 * max/avg pooling with padding, upsampling to an odd size, concat, residual add, adaptive pooling
 * (bins and global), GroupNorm, reshape, linear on 3-D and 2-D inputs, flatten, dropout. Channels 3, 6, 9, 5, 7.
 */
export class AllOps extends Module {
  readonly stem: Sequential;
  readonly grouped: Conv2d;
  readonly sbn: SyncBatchNorm;
  readonly pool: MaxPool2d;
  readonly avg: AvgPool2d;
  readonly side: Conv2d;
  readonly up: Upsample;
  readonly mix: Conv2d;
  readonly gn: GroupNorm;
  readonly bins: AdaptiveAvgPool2d;
  readonly tokens: Linear;
  readonly gap: AdaptiveAvgPool2d;
  readonly flat: Flatten;
  readonly drop: Dropout;
  readonly head: Linear;
  readonly norm1d: BatchNorm1d;
  constructor(seed = 0) {
    super();
    const generator = new RandomGenerator(seed);
    this.stem = this.registerModule(
      'stem',
      new Sequential(new Conv2d(3, 6, 3, { stride: 2, padding: 1, generator }), new BatchNorm2d(6), new ReLU()),
    );
    this.grouped = this.registerModule(
      'grouped',
      new Conv2d(6, 9, 3, { groups: 3, dilation: 2, padding: 2, generator }),
    );
    this.sbn = this.registerModule('sbn', new SyncBatchNorm(9));
    this.pool = this.registerModule('pool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    this.avg = this.registerModule('avg', new AvgPool2d(3, { stride: 1, padding: 1 }));
    this.side = this.registerModule('side', new Conv2d(9, 5, 1, { bias: false, generator }));
    this.up = this.registerModule('up', new Upsample({ size: [7, 6] }));
    this.mix = this.registerModule('mix', new Conv2d(9 + 5, 9, 3, { padding: 1, generator }));
    this.gn = this.registerModule('gn', new GroupNorm(3, 9));
    this.bins = this.registerModule('bins', new AdaptiveAvgPool2d([7, 3]));
    this.tokens = this.registerModule('tokens', new Linear(3, 4, { generator }));
    this.gap = this.registerModule('gap', new AdaptiveAvgPool2d(1));
    this.flat = this.registerModule('flat', new Flatten());
    this.drop = this.registerModule('drop', new Dropout(0.3));
    this.head = this.registerModule('head', new Linear(9 + 9 * 7 * 4, 7, { generator }));
    this.norm1d = this.registerModule('norm1d', new BatchNorm1d(7, { affine: false }));
  }
  forward(x: Tensor): Tensor {
    const s = this.stem.forward(x); // [N, 6, 7, 6] for 13×11 input
    const y = relu(this.sbn.forward(this.grouped.forward(s))); // [N, 9, 7, 6]
    const p = this.avg.forward(this.pool.forward(y)); // [N, 9, 4, 3]
    const u = this.up.forward(this.side.forward(p)); // [N, 5, 7, 6]
    const m = this.gn.forward(add(this.mix.forward(concat([y, u], 1)), y)); // [N, 9, 7, 6]
    const b = this.bins.forward(m); // [N, 9, 7, 3]
    const t = this.tokens.forward(reshape(b, [x.shape[0]!, 9 * 7, 3])); // [N, 63, 4]
    const g = this.flat.forward(this.gap.forward(m)); // [N, 9]
    const f = concat([g, this.flat.forward(t)], 1); // [N, 9 + 252]
    return this.norm1d.forward(this.head.forward(this.drop.forward(f)));
  }
}

/** DeepLab-like segmentation net (dilated convs, BN+ReLU, 1×1 classifier, bilinear ×4), as the demo's. */
export function segStandIn(seed = 0, classes = 4): Sequential {
  const generator = new RandomGenerator(seed);
  return new Sequential(
    new Conv2d(3, 16, 3, { stride: 2, padding: 1, bias: false, generator }),
    new BatchNorm2d(16),
    new ReLU(),
    new Conv2d(16, 32, 3, { stride: 2, padding: 1, bias: false, generator }),
    new BatchNorm2d(32),
    new ReLU(),
    new Conv2d(32, 32, 3, { padding: 2, dilation: 2, bias: false, generator }),
    new BatchNorm2d(32),
    new ReLU(),
    new Conv2d(32, classes, 1, { generator }),
    new Upsample({ scaleFactor: 4 }),
  );
}

/** A functional-style module (no Sequential) using upsampleBilinear and adaptiveAvgPool2d directly. */
export class Functional extends Module {
  readonly conv: Conv2d;
  readonly gn: GroupNorm;
  constructor() {
    super();
    this.conv = this.registerModule('conv', new Conv2d(2, 3, 1, { generator: new RandomGenerator(1) }));
    this.gn = this.registerModule('gn', new GroupNorm(1, 3, { affine: false }));
  }
  forward(x: Tensor): Tensor {
    const y = this.gn.forward(this.conv.forward(x));
    return add(upsampleBilinear(adaptiveAvgPool2d(y, 1), { size: [x.shape[2]!, x.shape[3]!] }), y);
  }
}
