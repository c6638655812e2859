// Example: train a small CNN end to end from the public API (docs/training.md's example), then save and reload it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Tensor,
  Sequential,
  Conv2d,
  BatchNorm2d,
  ReLU,
  MaxPool2d,
  AdaptiveAvgPool2d,
  Flatten,
  Linear,
  Dropout,
  SGD,
  PolyLR,
  crossEntropy,
  noGrad,
  manualSeed,
  saveModule,
  loadModule,
} from '../src/index.js';

/** Train `steps` steps on a fixed learnable batch; returns the losses and the eval accuracy. */
export function trainCnn(steps = 100): { losses: number[]; accuracy: number } {
  manualSeed(0); // initialization, rand/randn and dropout are seeded and deterministic
  const model = new Sequential(
    new Conv2d(3, 16, 3, { padding: 1 }),
    new BatchNorm2d(16),
    new ReLU(), // BN → ReLU runs fused
    new MaxPool2d(2),
    new Conv2d(16, 32, 3, { padding: 2, dilation: 2 }),
    new BatchNorm2d(32),
    new ReLU(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Dropout(0.1),
    new Linear(32, 10),
  );
  const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true });
  const sched = new PolyLR(opt, { totalSteps: steps, power: 0.9 });

  const x = Tensor.randn([8, 3, 16, 16]); // NCHW
  const y = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]); // class indices (or a Tensor)
  for (let i = 0; i < 8; i++) for (let j = 0; j < 256; j++) x.data[i * 768 + j]! += y[i]! - 3.5; // a learnable signal
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    opt.zeroGrad();
    const loss = crossEntropy(model.forward(x), y);
    loss.backward(); // frees the graph and its intermediate tensors
    opt.step();
    sched.step();
    losses.push(loss.item());
    loss.dispose();
  }
  model.eval();
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-example-'));
  try {
    saveModule(join(dir, 'model.safetensors'), model); // temp file + fsync + rename
    loadModule(join(dir, 'model.safetensors'), model); // strict by default
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const logits = noGrad(() => model.forward(x)); // running statistics, no graph
  let correct = 0;
  for (let i = 0; i < 8; i++) {
    const row = Array.from(logits.data.subarray(i * 10, i * 10 + 10));
    if (row.indexOf(Math.max(...row)) === y[i]) correct++;
  }
  logits.dispose();
  x.dispose();
  model.dispose();
  opt.dispose();
  return { losses, accuracy: correct / 8 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { losses, accuracy } = trainCnn();
  console.log(`loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}, train accuracy ${accuracy}`);
}
