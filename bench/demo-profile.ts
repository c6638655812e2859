// `node dist/bench/demo-profile.js`: where one training step of the demo SegNet (bench/demo.ts) spends its time,
// per kernel call and shape (every kernel wrapped with a timer), the optimizer, and the rest (autograd, TS ops).
import { Tensor, crossEntropy, AdamW } from '../src/index.js';
import { segNet } from '../src/models/index.js';
import { DigitScenes } from '../src/data/index.js';
import { kernels, setKernels } from '../src/kernels/index.js';
import { traced, convGeomArg } from './ceiling.js';
import { median } from './util.js';

/** A key naming a kernel call by its method and, for convolutions, the shape that selects its path. */
function keyOf(method: string, args: unknown[]): string {
  const g = convGeomArg(args);
  if (g === undefined) {
    const arr = args.find((a) => a instanceof Float32Array);
    return arr === undefined ? method : `${method} [${arr.length}]`;
  }
  return `${method} c${g.cIn}→${g.cOut} ${g.h}×${g.w} k${g.kh} s${g.strideH} d${g.dilationH}`;
}

function main(): void {
  const rounds = Number(process.argv[2] ?? 15);
  const model = segNet({ size: 64, width: 16, norm: 'bn', seed: 0 });
  const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 1e-4 });
  const { images, labels } = new DigitScenes({ split: 'train', length: 8, size: 64 }).batch([0, 1, 2, 3, 4, 5, 6, 7]);
  const x = Tensor.from(images, [8, 1, 64, 64]);
  const acc = new Map<string, number>();
  const base = kernels();
  const parts: Record<string, number[]> = {};
  const per: Map<string, number[]> = new Map();
  const push = (k: string, v: number): void => void (parts[k] ??= []).push(v);
  setKernels(
    traced(base, (m, args, ms) => {
      const key = keyOf(m, args);
      acc.set(key, (acc.get(key) ?? 0) + ms);
    }),
  );
  try {
    for (let r = 0; r < rounds + 3; r++) {
      acc.clear();
      const t0 = performance.now();
      opt.zeroGrad();
      const y = model.forward(x);
      const t1 = performance.now();
      const l = crossEntropy(y, labels, { ignoreIndex: 255 });
      const t2 = performance.now();
      l.backward();
      const t3 = performance.now();
      opt.step();
      const t4 = performance.now();
      l.dispose();
      if (r < 3) continue;
      push('step', t4 - t0);
      push('forward (model)', t1 - t0);
      push('crossEntropy forward (TS)', t2 - t1);
      push('backward (all)', t3 - t2);
      push('AdamW step (TS)', t4 - t3);
      let kernelMs = 0;
      for (const [k, v] of acc) {
        if (!per.has(k)) per.set(k, []);
        per.get(k)!.push(v);
        kernelMs += v;
      }
      push('kernels (sum)', kernelMs);
    }
  } finally {
    setKernels(base);
  }
  const fmt = (v: number): string => v.toFixed(3).padStart(8);
  console.log('median ms per step (timer overhead included: a few µs per kernel call)');
  for (const [k, v] of Object.entries(parts)) console.log(`${fmt(median(v))}  ${k}`);
  console.log('\nper kernel call (median ms per step, summed over the calls of that key):');
  const rows = [...per].map(([k, v]) => [k, median(v)] as const).sort((a, b) => b[1] - a[1]);
  for (const [k, v] of rows) console.log(`${fmt(v)}  ${k}`);
  model.dispose();
  x.dispose();
}

main();
