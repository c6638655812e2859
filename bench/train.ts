// Bench section `train`: whole training steps (forward, backward, SGD) of the tiny CNN and a ResNet-style block, and per-op autograd cost, interleaved with PyTorch (1 thread).
import {
  Tensor, Module, Sequential, Conv2d, BatchNorm2d, ReLU, AdaptiveAvgPool2d, Flatten, Linear, SGD, crossEntropy, relu, add, heapStats, Generator,
} from '../src/index.js';
import { Reporter, median } from './util.js';
import { TorchServer, interleave } from './torch-server.js';

/** The tiny CNN: conv 3×3 3→16 pad 1, BN, ReLU, conv 3×3 16→16 pad 1, BN, ReLU, global avg pool, linear 16→10. */
function tinyCnn(generator: Generator): Sequential {
  return new Sequential(
    new Conv2d(3, 16, 3, { padding: 1, generator }), new BatchNorm2d(16), new ReLU(),
    new Conv2d(16, 16, 3, { padding: 1, generator }), new BatchNorm2d(16), new ReLU(),
    new AdaptiveAvgPool2d(1), new Flatten(), new Linear(16, 10, { generator }),
  );
}

/** ResNet basic block: conv3×3 → BN → ReLU → conv3×3 → BN → + identity → ReLU (no conv bias, as ResNet). */
class BasicBlock extends Module {
  conv1: Conv2d;
  bn1 = this.registerModule('bn1', new BatchNorm2d(64, { fuseRelu: true })); // BN+ReLU in one pass, as Sequential does
  conv2: Conv2d;
  bn2 = this.registerModule('bn2', new BatchNorm2d(64));
  constructor(generator: Generator) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(64, 64, 3, { padding: 1, bias: false, generator }));
    this.conv2 = this.registerModule('conv2', new Conv2d(64, 64, 3, { padding: 1, bias: false, generator }));
  }
  forward(x: Tensor): Tensor {
    const h = this.bn1.forward(this.conv1.forward(x));
    return relu(add(this.bn2.forward(this.conv2.forward(h)), x));
  }
}

/** A step (zeroGrad, forward, loss, backward, SGD step) as a function returning its milliseconds. */
function trainStep(model: Module & { forward(x: Tensor): Tensor }, x: Tensor, loss: (out: Tensor) => Tensor): () => number {
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  return () => {
    const a = performance.now();
    opt.zeroGrad();
    const l = loss(model.forward(x));
    l.backward();
    opt.step();
    l.dispose();
    return performance.now() - a;
  };
}

/** A chain of 200 four-element ops (mul, add) plus a sum, forward + backward: 201 ops per call. */
function overheadStep(): () => number {
  const w = Tensor.from([0.5, -1, 2, 0.25]).requiresGrad_();
  const b = Tensor.from([1, 1, 1, 1]).requiresGrad_();
  return () => {
    const a = performance.now();
    let h = w;
    for (let i = 0; i < 100; i++) h = add(h.mul(0.99), b);
    const l = h.sum();
    l.backward();
    l.dispose();
    w.grad!.dispose();
    w.grad = null;
    b.grad!.dispose();
    b.grad = null;
    return performance.now() - a;
  };
}

export async function run(rep: Reporter, _argv: string[]): Promise<void> {
  const torch = await TorchServer.start('bench_torch_train.py');
  if (torch === null) rep.say('(no python3 with torch: PyTorch comparison skipped)');
  const note = 'PyTorch CPU, 1 thread, interleaved';
  try {
    const g = new Generator(0);
    const x = Tensor.randn([8, 3, 32, 32], { generator: g });
    const y = Int32Array.from({ length: 8 }, (_, i) => (i * 7) % 10);
    const tiny = tinyCnn(g);
    const tinyStep = trainStep(tiny, x, (out) => crossEntropy(out, y));
    tinyStep();
    const reserved = heapStats().reservedBytes;
    const t = await interleave(tinyStep, torch, 'tiny', 10, 3, 5);
    const growth = heapStats().reservedBytes - reserved;
    rep.report('train/tiny_cnn_step_ms', median(t.ours), 'ms', 'batch 8 of 3×32×32, SGD momentum');
    if (torch !== null) {
      rep.report('torch/tiny_cnn_step_ms', median(t.torch), 'ms', note);
      rep.report('train/tiny_cnn_vs_torch', median(t.ours) / median(t.torch), 'x', 'target ≤ 1.5');
    }
    rep.report('train/heap_growth_after_warmup_bytes', growth, 'B', 'tiny CNN, over the timed steps');
    tiny.dispose();
    x.dispose();

    const xb = Tensor.randn([8, 64, 56, 56], { generator: g });
    const block = new BasicBlock(g);
    const b = await interleave(trainStep(block, xb, (out) => out.mean()), torch, 'resnet', 4, 2, 1);
    rep.report('train/resnet_block_step_ms', median(b.ours), 'ms', '64 ch, 56×56, batch 8');
    if (torch !== null) {
      rep.report('torch/resnet_block_step_ms', median(b.torch), 'ms', note);
      rep.report('train/resnet_block_vs_torch', median(b.ours) / median(b.torch), 'x');
    }
    block.dispose();
    xb.dispose();

    const ov = await interleave(overheadStep(), torch, 'overhead', 10, 5, 20);
    rep.report('train/autograd_overhead_us_per_op', (median(ov.ours) * 1000) / 201, 'µs', '4-element ops, forward + backward');
    if (torch !== null) {
      rep.report('torch/autograd_overhead_us_per_op', (median(ov.torch) * 1000) / 201, 'µs', note + ' (Python included)');
      rep.report('train/autograd_overhead_vs_torch', median(ov.ours) / median(ov.torch), 'x');
    }
  } finally {
    torch?.close();
  }
}
