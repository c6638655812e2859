// `syncbn predict`: run a model (safetensors + architecture on our engine, or ONNX on ONNX Runtime) on images.
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { IOError, UsageError } from '../errors.js';
import { noGrad } from '../autograd/node.js';
import { writeNpy } from '../io/npy.js';
import { Conv2d } from '../nn/layers/conv.js';
import { OnnxSession } from '../onnx/runtime.js';
import { Tensor } from '../tensor/tensor.js';
import { argmaxClasses, readImage, writeMaskPng } from './images.js';
import { loadArchitecture, parseOpts, runModelCommand } from './model-args.js';
import type { Command } from './main.js';

const USAGE = `usage: syncbn predict MODEL IMAGE… --out DIR [--arch NAME] [--opt key=value]… [--mean M --std S]
                      [--threads T]

MODEL is an .onnx file (run by ONNX Runtime, the optional dependency onnxruntime-node) or a
.safetensors file with --arch NAME (run by syncbn). IMAGEs are .npy ([C, H, W] floats) or .png
(scaled to [0, 1]). For each image it writes DIR/<name>.logits.npy (the raw output); for a
segmentation output [1, K, H, W] also DIR/<name>.mask.npy (class per pixel) and DIR/<name>.mask.png
(colour-coded, PASCAL VOC palette); for a classification output [1, K] it prints the class.
Prints each image's inference time.
  --arch NAME        registered architecture of a .safetensors model
  --opt key=value    an option of the architecture (repeatable)
  --out DIR          output folder (created)
  --mean M, --std S  feed (x − M) / S, the normalization the model was trained with (demo: 0.22, 0.23)
  --threads T        ONNX Runtime intra-op threads (default 1)`;

interface PredictArgs {
  model: string;
  images: string[];
  out: string;
  arch?: string;
  opts: Record<string, unknown>;
  threads: number;
  mean: number;
  std: number;
}

function parsePredictArgs(argv: string[]): PredictArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        arch: { type: 'string' },
        opt: { type: 'string', multiple: true },
        out: { type: 'string' },
        threads: { type: 'string' },
        mean: { type: 'string' },
        std: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new UsageError(`syncbn predict: ${(e as Error).message}`);
  }
  const { values: v, positionals } = parsed;
  if (positionals.length < 2)
    throw new UsageError(
      `syncbn predict: give a MODEL and at least one IMAGE, received ${positionals.length} positional argument(s)`,
    );
  if (v.out === undefined)
    throw new UsageError('syncbn predict: --out DIR is required (where predictions are written)');
  const threads = v.threads === undefined ? 1 : Number(v.threads);
  if (!Number.isInteger(threads) || threads < 1)
    throw new UsageError(`syncbn predict: --threads must be an integer ≥ 1, received ${JSON.stringify(v.threads)}`);
  const model = positionals[0]!;
  const ext = extname(model).toLowerCase();
  if (ext !== '.onnx' && ext !== '.safetensors')
    throw new UsageError(
      `syncbn predict: MODEL must be a .onnx or .safetensors file, received ${JSON.stringify(model)}`,
    );
  const mean = v.mean === undefined ? 0 : Number(v.mean);
  const std = v.std === undefined ? 1 : Number(v.std);
  if (!Number.isFinite(mean))
    throw new UsageError(`syncbn predict: --mean must be a number, received ${JSON.stringify(v.mean)}`);
  if (!(std > 0 && Number.isFinite(std)))
    throw new UsageError(`syncbn predict: --std must be a positive number, received ${JSON.stringify(v.std)}`);
  return {
    model,
    images: positionals.slice(1),
    out: v.out,
    arch: v.arch,
    opts: parseOpts('syncbn predict', v.opt),
    threads,
    mean,
    std,
  };
}

/** A backend: the channels it takes and a run over one [1, C, H, W] image. */
interface Runner {
  channels: number;
  run(data: Float32Array, shape: number[]): Promise<{ data: Float32Array; shape: number[] }>;
  close(): Promise<void>;
}

async function openRunner(a: PredictArgs): Promise<Runner> {
  if (a.model.toLowerCase().endsWith('.onnx')) {
    const s = await OnnxSession.create(a.model, { threads: a.threads });
    const c = s.info.inputs[0]!.shape[1];
    if (typeof c !== 'number')
      throw new UsageError(`syncbn predict: ${a.model}: the input's channel dimension is not fixed`);
    return { channels: c, run: (d, sh) => s.run(d, sh), close: () => s.close() };
  }
  const model = loadArchitecture('syncbn predict', a.arch, a.opts, a.model);
  const first = [...model.modules()].find((m): m is Conv2d => m instanceof Conv2d);
  if (first === undefined)
    throw new UsageError(
      `syncbn predict: architecture ${JSON.stringify(a.arch)} has no Conv2d to tell its input channels`,
    );
  return {
    channels: first.inChannels,
    run: async (d, sh) => {
      const x = Tensor.from(d, sh);
      const y = noGrad(() => model.forward(x));
      const r = { data: new Float32Array(y.data), shape: [...y.shape] };
      x.dispose();
      y.dispose();
      return r;
    },
    close: async () => model.dispose(),
  };
}

export const predictCommand: Command = {
  summary: 'run a saved model (safetensors or ONNX) on .npy/PNG images; writes predictions and masks',
  usage: USAGE,
  main: (argv) =>
    runModelCommand('predict', USAGE, argv, parsePredictArgs, async (a) => {
      let runner: Runner | null = null;
      try {
        runner = await openRunner(a);
        try {
          mkdirSync(a.out, { recursive: true });
        } catch (e) {
          throw new IOError(`could not create --out ${JSON.stringify(a.out)}: ${(e as Error).message}`, { cause: e });
        }
        const backend = a.model.toLowerCase().endsWith('.onnx') ? 'onnxruntime' : 'syncbn';
        for (const path of a.images) {
          const img = readImage(path, runner.channels);
          if (a.mean !== 0 || a.std !== 1)
            for (let i = 0; i < img.data.length; i++) img.data[i] = (img.data[i]! - a.mean) / a.std;
          const t0 = performance.now();
          const y = await runner.run(img.data, [1, ...img.shape]);
          const ms = performance.now() - t0;
          const name = basename(path, extname(path));
          await writeNpy(join(a.out, `${name}.logits.npy`), y.data, y.shape);
          let what: string;
          if (y.shape.length === 4) {
            const [, k, h, w] = y.shape as [number, number, number, number];
            const cls = argmaxClasses(y.data, k, h * w);
            await writeNpy(join(a.out, `${name}.mask.npy`), Float32Array.from(cls), [h, w]);
            writeMaskPng(join(a.out, `${name}.mask.png`), cls, h, w);
            what = `mask ${h}×${w} of ${k} classes → ${name}.mask.png`;
          } else if (y.shape.length === 2) {
            const k = y.shape[1]!;
            const best = argmaxClasses(y.data, k, 1)[0]!;
            what = `class ${best} (score ${y.data[best]!.toPrecision(4)})`;
          } else what = `output [${y.shape.join(', ')}]`;
          process.stdout.write(`${path}: ${what}, ${ms.toFixed(2)} ms (${backend})\n`);
        }
        return 0;
      } finally {
        await runner?.close();
      }
    }),
};
