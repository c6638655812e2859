// Bench section `train`: whole training steps (forward, backward, SGD) of the tiny CNN and a ResNet-style block, and
// per-op autograd cost, interleaved with PyTorch (1 thread).
import {
  Tensor,
  Module,
  Sequential,
  Conv2d,
  BatchNorm2d,
  ReLU,
  AdaptiveAvgPool2d,
  Flatten,
  Linear,
  SGD,
  crossEntropy,
  heapStats,
  RandomGenerator,
} from '../src/index.js';
import { relu, add } from '../src/nn/functional/index.js';
import { type Reporter, median } from './util.js';
import { TorchServer, interleave } from './torch-server.js';

/** The tiny CNN: conv 3×3 3→16 pad 1, BN, ReLU, conv 3×3 16→16 pad 1, BN, ReLU, global avg pool, linear 16→10.
 * Sequential runs each BN → ReLU as one fused pass. */
function tinyCnn(generator: RandomGenerator): Sequential {
  return new Sequential(
    new Conv2d(3, 16, 3, { padding: 1, generator }),
    new BatchNorm2d(16),
    new ReLU(),
    new Conv2d(16, 16, 3, { padding: 1, generator }),
    new BatchNorm2d(16),
    new ReLU(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(16, 10, { generator }),
  );
}

/** The same network with BN and ReLU as separate ops (PyTorch eager's work): layers called one by one. */
class TinyUnfused extends Module {
  private readonly seq: Sequential;
  constructor(generator: RandomGenerator) {
    super();
    this.seq = this.registerModule('seq', tinyCnn(generator));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (let i = 0; i < this.seq.length; i++) h = this.seq.at(i).forward(h);
    return h;
  }
}

/** ResNet basic block: conv3×3 → BN → ReLU → conv3×3 → BN → + identity → ReLU (no conv bias, as ResNet). */
class BasicBlock extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2 = this.registerModule('bn2', new BatchNorm2d(64));
  /** fused: bn1's ReLU in the same pass (a feature of ours); else a separate relu, as PyTorch eager. */
  constructor(
    generator: RandomGenerator,
    private readonly fused: boolean,
  ) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(64, 64, 3, { padding: 1, bias: false, generator }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(64, { fuseRelu: fused }));
    this.conv2 = this.registerModule('conv2', new Conv2d(64, 64, 3, { padding: 1, bias: false, generator }));
  }
  forward(x: Tensor): Tensor {
    const b1 = this.bn1.forward(this.conv1.forward(x));
    const h = this.fused ? b1 : relu(b1);
    return relu(add(this.bn2.forward(this.conv2.forward(h)), x));
  }
}

/** A step: zeroGrad, forward, loss, backward, SGD step. */
function trainStep(
  model: Module & { forward(x: Tensor): Tensor },
  x: Tensor,
  loss: (out: Tensor) => Tensor,
): () => void {
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  return () => {
    opt.zeroGrad();
    const l = loss(model.forward(x));
    l.backward();
    opt.step();
    l.dispose();
  };
}

/** A chain of 200 four-element ops (mul, add) plus a sum, forward + backward: 201 ops per call. */
function overheadStep(): () => void {
  const w = Tensor.from([0.5, -1, 2, 0.25]).requiresGrad_();
  const b = Tensor.from([1, 1, 1, 1]).requiresGrad_();
  return () => {
    let h = w;
    for (let i = 0; i < 100; i++) h = add(h.mul(0.99), b);
    const l = h.sum();
    l.backward();
    l.dispose();
    w.grad!.dispose();
    w.grad = null;
    b.grad!.dispose();
    b.grad = null;
  };
}

const ms = (xs: number[]): number => median(xs) * 1e3;

export async function run(rep: Reporter, _argv: string[]): Promise<void> {
  const torch = await TorchServer.start('bench_torch_train.py');
  if (torch === null) rep.say('(no python3 with torch: PyTorch comparison skipped)');
  const note = 'PyTorch CPU, 1 thread, interleaved (separate ReLU)';
  try {
    const g = new RandomGenerator(0);
    const x = Tensor.randn([8, 3, 32, 32], { generator: g });
    const y = Int32Array.from({ length: 8 }, (_, i) => (i * 7) % 10);
    // Like for like: our network with BN and ReLU as separate ops against PyTorch's; then our fused
    // BN+ReLU (a feature PyTorch eager lacks), labelled as such.
    const tiny = new TinyUnfused(g);
    const tinyStep = trainStep(tiny, x, (out) => crossEntropy(out, y));
    tinyStep();
    const reserved = heapStats().reservedBytes;
    const t = await interleave(tinyStep, torch, 'tiny', { warm: 5, rounds: 10, per: 3 });
    const growth = heapStats().reservedBytes - reserved;
    rep.report('train/tiny_cnn_step_ms', ms(t.ours), 'ms', 'batch 8 of 3×32×32, SGD momentum, BN and ReLU separate');
    const fusedStep = trainStep(tinyCnn(new RandomGenerator(0)), x, (out) => crossEntropy(out, y));
    const f = await interleave(fusedStep, torch, 'tiny', { warm: 5, rounds: 10, per: 3 });
    rep.report('train/tiny_cnn_step_ms/fused_bn_relu', ms(f.ours), 'ms', 'feature comparison: BN+ReLU in one pass');
    if (torch !== null) {
      rep.report('torch/tiny_cnn_step_ms', ms([...t.torch, ...f.torch]), 'ms', note);
      rep.report(
        'train/tiny_cnn_vs_torch',
        ms(t.ours) / ms(t.torch),
        'x',
        'like for like; target ≤ 1.5',
        'ratio of medians',
      );
      rep.report(
        'train/tiny_cnn_vs_torch/fused_bn_relu',
        ms(f.ours) / ms(f.torch),
        'x',
        'ours fused vs PyTorch separate',
        'ratio of medians',
      );
    }
    rep.report('train/heap_growth_after_warmup_bytes', growth, 'B', 'tiny CNN, over the timed steps', 'single');
    tiny.dispose();
    x.dispose();

    const xb = Tensor.randn([8, 64, 56, 56], { generator: g });
    for (const fused of [false, true]) {
      const block = new BasicBlock(g, fused);
      const b = await interleave(
        trainStep(block, xb, (out) => out.mean()),
        torch,
        'resnet',
        { warm: 1, rounds: 4, per: 2 },
      );
      const suffix = fused ? '/fused_bn_relu' : '';
      rep.report(
        `train/resnet_block_step_ms${suffix}`,
        ms(b.ours),
        'ms',
        `64 ch, 56×56, batch 8${fused ? ', bn1+ReLU fused' : ''}`,
      );
      if (torch !== null) {
        if (!fused) rep.report('torch/resnet_block_step_ms', ms(b.torch), 'ms', note);
        rep.report(`train/resnet_block_vs_torch${suffix}`, ms(b.ours) / ms(b.torch), 'x', '', 'ratio of medians');
      }
      block.dispose();
    }
    xb.dispose();

    const ov = await interleave(overheadStep(), torch, 'overhead', { warm: 20, rounds: 10, per: 5 });
    rep.report(
      'train/autograd_overhead_us_per_op',
      (ms(ov.ours) * 1000) / 201,
      'µs',
      '4-element ops, forward + backward',
    );
    if (torch !== null) {
      rep.report('torch/autograd_overhead_us_per_op', (ms(ov.torch) * 1000) / 201, 'µs', note + ' (Python included)');
      rep.report('train/autograd_overhead_vs_torch', ms(ov.ours) / ms(ov.torch), 'x', '', 'ratio of medians');
    }
  } finally {
    torch?.close();
  }
}
