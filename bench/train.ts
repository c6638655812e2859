// Bench section `train`: a whole training step (forward, backward, SGD) of the tiny CNN and a ResNet-style block, against PyTorch (1 thread).
import { fileURLToPath } from 'node:url';
import {
  Tensor, Module, Sequential, Conv2d, BatchNorm2d, ReLU, AdaptiveAvgPool2d, Flatten, Linear, SGD, crossEntropy, relu, add, heapStats, Generator,
} from '../src/index.js';
import { Reporter, median, runPythonBench, timeIt } from './util.js';

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
  bn1 = this.registerModule('bn1', new BatchNorm2d(64));
  conv2: Conv2d;
  bn2 = this.registerModule('bn2', new BatchNorm2d(64));
  constructor(generator: Generator) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(64, 64, 3, { padding: 1, bias: false, generator }));
    this.conv2 = this.registerModule('conv2', new Conv2d(64, 64, 3, { padding: 1, bias: false, generator }));
    this.bn1.fuseRelu = true; // conv → BN+ReLU in one pass (what Sequential does automatically)
  }
  forward(x: Tensor): Tensor {
    const h = this.bn1.forward(this.conv1.forward(x));
    return relu(add(this.bn2.forward(this.conv2.forward(h)), x));
  }
}

/** Median ms of one step (zeroGrad, forward, loss, backward, SGD step), and the heap growth after warm-up. */
function stepMs(model: Module & { forward(x: Tensor): Tensor }, x: Tensor, loss: (out: Tensor) => Tensor): { ms: number; growth: number } {
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const step = (): void => {
    opt.zeroGrad();
    const l = loss(model.forward(x));
    l.backward();
    opt.step();
    l.dispose();
  };
  step();
  const reserved = heapStats().reservedBytes;
  const ms = median(timeIt(step, { warmup: 5, samples: 30, maxSeconds: 10 })) * 1000;
  const growth = heapStats().reservedBytes - reserved;
  opt.dispose();
  model.dispose();
  return { ms, growth };
}

/** Per-op cost of the autograd machinery: a chain of 200 tiny ops (mul, add), forward + backward, µs per op. */
function autogradOverheadUs(): number {
  const w = Tensor.from([0.5, -1, 2, 0.25]).requiresGrad_();
  const b = Tensor.from([1, 1, 1, 1]).requiresGrad_();
  const OPS = 200;
  const step = (): void => {
    let h = w;
    for (let i = 0; i < OPS / 2; i++) h = add(h.mul(0.99), b);
    const l = h.sum();
    l.backward();
    l.dispose();
    w.grad!.dispose();
    w.grad = null;
    b.grad!.dispose();
    b.grad = null;
  };
  const us = (median(timeIt(step, { warmup: 20, samples: 30, inner: 10, maxSeconds: 5 })) * 1e6) / (OPS + 1);
  w.dispose();
  b.dispose();
  return us;
}

export async function run(rep: Reporter, _argv: string[]): Promise<void> {
  rep.report('train/autograd_overhead_us_per_op', autogradOverheadUs(), 'µs', '4-element ops, forward + backward');
  const g = new Generator(0);
  const x = Tensor.randn([8, 3, 32, 32], { generator: g });
  const y = Int32Array.from({ length: 8 }, (_, i) => (i * 7) % 10);
  const tiny = stepMs(tinyCnn(g), x, (out) => crossEntropy(out, y));
  rep.report('train/tiny_cnn_step_ms', tiny.ms, 'ms', 'batch 8 of 3×32×32, SGD momentum');
  const xb = Tensor.randn([8, 64, 56, 56], { generator: g });
  const block = stepMs(new BasicBlock(g), xb, (out) => out.mean());
  rep.report('train/resnet_block_step_ms', block.ms, 'ms', '64 ch, 56×56, batch 8');
  rep.report('train/heap_growth_after_warmup_bytes', tiny.growth + block.growth, 'B', 'both models, over the timed steps');
  x.dispose();
  xb.dispose();
  const torch = runPythonBench(fileURLToPath(new URL('../../scripts/bench_torch_train.py', import.meta.url)));
  if (torch.length === 0) {
    rep.say('(no python3 with torch: PyTorch comparison skipped)');
    return;
  }
  for (const m of torch) rep.report(m.name, m.value, m.unit, 'PyTorch CPU, 1 thread');
  const tt = rep.get('torch/tiny_cnn_step_ms');
  const tb = rep.get('torch/resnet_block_step_ms');
  if (tt !== undefined) rep.report('train/tiny_cnn_vs_torch', tiny.ms / tt, 'x', 'target ≤ 1.5');
  if (tb !== undefined) rep.report('train/resnet_block_vs_torch', block.ms / tb, 'x');
  const to = rep.get('torch/autograd_overhead_us_per_op');
  const oo = rep.get('train/autograd_overhead_us_per_op');
  if (to !== undefined && oo !== undefined) rep.report('train/autograd_overhead_vs_torch', oo / to, 'x');
}
