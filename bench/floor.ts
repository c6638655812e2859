// The kernel floor: bare f32 / f64-widening accumulate loops (dist/wasm/floor.wasm), GB/s of f32 input from L2 and
// memory.
// These loops are the reductions of bnSums and bnBwdReduce with nothing around them: what the
// float64-accumulation contract allows this machine, set against a float32 accumulate (PyTorch's kind).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Reporter, timeIt } from './util.js';

type Fn = (...a: number[]) => number;

const SIZES: ReadonlyArray<readonly [string, number]> = [
  ['l2', 65536], // 256 KB per array
  ['mem', 32 * 256 * 28 * 28], // 25.7 MB per array: the large benchmark tensor
];

export async function run(rep: Reporter, _argv: string[]): Promise<void> {
  const path = fileURLToPath(new URL('../wasm/floor.wasm', import.meta.url));
  if (!existsSync(path)) {
    rep.say(`${path} missing: npm run build:wasm builds it`);
    return;
  }
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), {
    env: {
      abort: () => {
        throw new Error('abort');
      },
    },
  });
  const k = inst.exports as unknown as Record<string, Fn> & { memory: WebAssembly.Memory };
  const big = SIZES[SIZES.length - 1]![1] * 4;
  const base = 1 << 16;
  const need = base + 3 * big + 256;
  const have = k.memory.buffer.byteLength;
  if (need > have) k.memory.grow(Math.ceil((need - have) / 65536));
  const a = base,
    b = base + big + 64,
    out = base + 2 * big + 128;
  const f = new Float32Array(k.memory.buffer);
  for (let i = 0; i < (3 * big + 128) / 4; i++) f[a / 4 + i] = Math.sin(i) + 1;
  for (const [tag, n] of SIZES) {
    const gb = (n * 4) / 1e9;
    const reps = Math.max(1, Math.round(0.004 / gb));
    // Per-call seconds of `reps` back-to-back calls (one sample), 15 samples: reported as median and p90.
    const sample = (fn: () => void): number[] =>
      timeIt(
        () => {
          for (let r = 0; r < reps; r++) fn();
        },
        { warmup: 2, samples: 15, maxSeconds: 3 },
      ).map((t) => t / reps);
    const rows: Array<[string, () => void, string]> = [
      ['read_or', () => k.readOr!(a, n), 'v128 loads only'],
      ['f32_sum', () => k.f32Sum!(a, n), 'Σx in f32x4: 4 values per add'],
      ['f64_sum', () => k.f64Sum!(a, n), 'Σx widened: convert + f64x2 add per 2 values'],
      ['f64_stats', () => k.f64Stats!(a, n, 1), 'Σ(x−K), Σ(x−K)²: convert, sub, add, mul, add per 2 values'],
      ['f64_bwd', () => k.f64Bwd!(a, b, n, 1), 'Σdy, Σdy·(x−μ): 2 converts, sub, mul, 2 adds per 2 values'],
      ['f32_affine', () => k.f32Affine!(out, a, n, 1.5, 0.5), 'y = x·a + b, read + write'],
    ];
    for (const [name, fn, note] of rows) rep.samples(`floor/${name}/${tag}`, sample(fn), (t) => gb / t, 'GB/s', note);
  }
}
