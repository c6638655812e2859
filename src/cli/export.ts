// `syncbn export`: a registered architecture + safetensors weights → an ONNX file (exportOnnx).
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { exportOnnx, ONNX_OPSETS } from '../onnx/export.js';
import { checkOnnxModel } from '../onnx/check.js';
import { loadArchitecture, parseOpts, parseShape, runModelCommand } from './model-args.js';
import type { Command } from './main.js';

const USAGE = `usage: syncbn export MODEL.safetensors --arch NAME --onnx OUT.onnx --input N,C,H,W
                     [--dynamic-batch] [--opset V] [--opt key=value]…

Builds the architecture registered as NAME (e.g. demo), loads the weights, traces one eval-mode
forward pass at the input shape and writes it as ONNX (SyncBatchNorm → BatchNormalization).
  --arch NAME        registered architecture (src/models: createModel)
  --opt key=value    an option of the architecture (repeatable; JSON values), e.g. --opt numClasses=11
  --onnx PATH        the ONNX file to write (atomically)
  --input N,C,H,W    input shape to trace at, e.g. 1,1,64,64
  --dynamic-batch    make the batch dimension symbolic (any N at inference)
  --opset V          ONNX opset ${ONNX_OPSETS.min}–${ONNX_OPSETS.max} (default ${ONNX_OPSETS.default})`;

export interface ExportArgs {
  weights: string;
  arch?: string;
  opts: Record<string, unknown>;
  onnx: string;
  input: number[];
  dynamicBatch: boolean;
  opset: number;
}

/** Parse and validate the command line. */
export function parseExportArgs(argv: string[]): ExportArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        arch: { type: 'string' },
        opt: { type: 'string', multiple: true },
        onnx: { type: 'string' },
        input: { type: 'string' },
        'dynamic-batch': { type: 'boolean' },
        opset: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new UsageError(`syncbn export: ${(e as Error).message}`);
  }
  const { values: v, positionals } = parsed;
  if (positionals.length !== 1)
    throw new UsageError(
      `syncbn export: give exactly one MODEL.safetensors, received ${positionals.length} positional arguments`,
    );
  if (!positionals[0]!.endsWith('.safetensors'))
    throw new UsageError(
      `syncbn export: MODEL must be a .safetensors file, received ${JSON.stringify(positionals[0])}`,
    );
  if (v.onnx === undefined) throw new UsageError('syncbn export: --onnx PATH is required (where to write the model)');
  if (v.input === undefined)
    throw new UsageError('syncbn export: --input N,C,H,W is required (the forward pass is traced at this shape)');
  const opset = v.opset === undefined ? ONNX_OPSETS.default : Number(v.opset);
  return {
    weights: positionals[0]!,
    arch: v.arch,
    opts: parseOpts('syncbn export', v.opt),
    onnx: v.onnx,
    input: parseShape('syncbn export', '--input', v.input),
    dynamicBatch: v['dynamic-batch'] === true,
    opset,
  };
}

export const exportCommand: Command = {
  summary: 'export a trained model (safetensors + architecture name) to ONNX',
  usage: USAGE,
  main: (argv) =>
    runModelCommand('export', USAGE, argv, parseExportArgs, async (a) => {
      const model = loadArchitecture('syncbn export', a.arch, a.opts, a.weights);
      const bytes = exportOnnx(model, { input: a.input, path: a.onnx, opset: a.opset, dynamicBatch: a.dynamicBatch });
      const info = checkOnnxModel(bytes, a.onnx);
      const shape = (s: readonly (number | null)[]): string => `[${s.map((d) => d ?? 'N').join(', ')}]`;
      process.stdout.write(
        `wrote ${a.onnx}: ${bytes.length} bytes, opset ${info.opset}, ${info.opTypes.length} nodes, input ` +
          `${shape(info.inputs[0]!.shape)} → output ${shape(info.outputs[0]!.shape)}\n`,
      );
      return 0;
    }),
};
