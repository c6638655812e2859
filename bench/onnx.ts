// Bench section `onnx`: the demo net's eval forward at batch 8, ours vs ONNX Runtime (1 thread each), interleaved.
import { performance } from 'node:perf_hooks';
import { createModel, exportOnnx, RandomGenerator, noGrad, Tensor, type ExportableModule } from '../src/index.js';
import { OnnxSession } from '../src/onnx/index.js';
import { type Reporter, median, percentile } from './util.js';

export async function run(rep: Reporter): Promise<void> {
  const model = createModel('demo', { seed: 0 }) as ExportableModule; // 1×64×64 input, 11 classes, width 16
  model.eval();
  const shape = [8, 1, 64, 64];
  const x = Tensor.rand(shape, { generator: new RandomGenerator(1) });
  const bytes = exportOnnx(model, { input: shape });
  let session: OnnxSession;
  try {
    session = await OnnxSession.create(bytes, { threads: 1, optimization: 'all' });
  } catch (e) {
    rep.say(`onnx: skipped (${(e as Error).message})`);
    return;
  }
  const input = new Float32Array(x.data);
  const oursOnce = (): number => {
    const a = performance.now();
    noGrad(() => model.forward(x)).dispose();
    return performance.now() - a;
  };
  const ortOnce = async (): Promise<number> => {
    const a = performance.now();
    await session.run(input, shape);
    return performance.now() - a;
  };
  for (let i = 0; i < 3; i++) {
    oursOnce();
    await ortOnce();
  }
  // Interleaved: each round times one forward of each, so machine noise hits both alike.
  const ours: number[] = [];
  const ort: number[] = [];
  const t0 = performance.now();
  for (let r = 0; r < 25 && (r < 5 || performance.now() - t0 < 20_000); r++) {
    ours.push(oursOnce());
    ort.push(await ortOnce());
  }
  await session.close();
  rep.report(
    'onnx/demo_infer_ms/ours',
    median(ours),
    'ms',
    `median of ${ours.length}, demo net, batch 8, 1×64×64, 1 thread`,
  );
  rep.report(
    'onnx/demo_infer_ms/ort',
    median(ort),
    'ms',
    `median of ${ort.length}, onnxruntime-node, intraOpNumThreads 1, all optimizations`,
  );
  rep.report('onnx/demo_infer_ms/ours/p90', percentile(ours, 90), 'ms', '', 'p90');
  rep.report('onnx/demo_infer_ms/ort/p90', percentile(ort, 90), 'ms', '', 'p90');
  rep.report(
    'onnx/demo_infer_ratio/ours_over_ort',
    median(ours.map((v, i) => v / ort[i]!)),
    'x',
    'ours / ORT time',
    'median of per-round ratios',
  );
}
