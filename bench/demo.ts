// Bench section `demo`: one training step (AdamW) of the `syncbn demo` SegNet at batch 8, plain BN, one thread,
// interleaved with PyTorch 1.13's step of the same network and shapes (scripts/bench_torch_demo.py).
import { Tensor, crossEntropy, AdamW } from '../src/index.js';
import { segNet } from '../src/models/index.js';
import { DigitScenes } from '../src/data/index.js';
import { type Reporter, median } from './util.js';
import { TorchServer, interleave } from './torch-server.js';
import { stepWork, gemmPeakGflops, streamGBps, ceilingMs } from './ceiling.js';

export async function run(rep: Reporter, argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const torch = await TorchServer.start('bench_torch_demo.py');
  if (torch === null) rep.say('(no python3 with torch: PyTorch comparison skipped)');
  try {
    const model = segNet({ size: 64, width: 16, norm: 'bn', seed: 0 });
    const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 1e-4 });
    const { images, labels } = new DigitScenes({ split: 'train', length: 8, size: 64 }).batch([0, 1, 2, 3, 4, 5, 6, 7]);
    const x = Tensor.from(images, [8, 1, 64, 64]);
    const step = (): void => {
      opt.zeroGrad();
      const l = crossEntropy(model.forward(x), labels, { ignoreIndex: 255 });
      l.backward();
      opt.step();
      l.dispose();
    };
    const t = await interleave(step, torch, 'demo', { warm: 3, rounds: quick ? 3 : 8, per: 3 });
    const ms = (sec: number): number => sec * 1e3;
    rep.samples('demo/step_ms/ours', t.ours, ms, 'ms', 'SegNet 1×64×64, width 16, batch 8, BN, AdamW, 1 thread');
    // The wasm ceiling (bench/ceiling.ts): conv FLOPs of the passes this step runs at the GEMM micro-kernel's best
    // in-cache rate, plus the other kernels' bytes (the softmax kernel's included), the cross-entropy backward's
    // (probabilities read, gradient written) and AdamW's (zeroGrad writes g; step reads w, g, m, v and writes w, m, v)
    // at streaming bandwidth.
    const work = stepWork(step);
    const params = model.parameters().reduce((a, p) => a + p.data.length, 0);
    const extra = 4 * (2 * 8 * 11 * 64 * 64) + 4 * 8 * params;
    const peak = gemmPeakGflops();
    const gbps = streamGBps(8 * 11 * 64 * 64);
    const ceiling = ceilingMs(work, extra, peak, gbps);
    rep.report('demo/conv_gflop', work.convFlops / 1e9, 'GFLOP', 'conv passes of one step (fwd, dx, dw)', 'count');
    const peakNote = 'wasm 4×8 micro-kernel, in-cache GEMMs, best median';
    rep.report('demo/gemm_peak_gflops', peak, 'GFLOP/s', peakNote, 'max of medians');
    rep.report('demo/stream_gbps', gbps, 'GB/s', 'wasm SIMD add, 1.4 MB arrays', 'median');
    rep.report('demo/step_ms/wasm_ceiling', ceiling, 'ms', 'FLOPs / GEMM peak + bytes / stream GB/s', 'model');
    const fraction = ceiling / (median(t.ours) * 1e3);
    rep.report('demo/step_ceiling_fraction', fraction, '', 'ceiling / ours, target ≥ 0.85', 'model / median');
    if (torch !== null) {
      rep.samples('demo/step_ms/torch', t.torch, ms, 'ms', 'PyTorch CPU, 1 thread, interleaved');
      rep.report('demo/step_vs_torch', median(t.ours) / median(t.torch), 'x', 'target ≤ 1.5', 'ratio of medians');
    }
    model.dispose();
    x.dispose();
  } finally {
    torch?.close();
  }
}
