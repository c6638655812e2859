// The demo's trained-model files: model.safetensors exported to model.onnx, and the report's "Trained model" entries.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadModule } from '../io/safetensors.js';
import { createModel } from '../models/index.js';
import { exportOnnx, type ExportableModule } from '../onnx/export.js';
import type { DemoArtifact } from './types.js';

export const MODEL_SAFETENSORS = 'model.safetensors';
export const MODEL_ONNX = 'model.onnx';

/**
 * Export `out/model.safetensors` (the SyncBN model reverted to BatchNorm) as `out/model.onnx` (dynamic batch, traced
 * at 1×1×size×size) and return both files as report artifacts with the commands that use them; [] when no model
 * was saved. The architecture options beyond the defaults (size 64, width 16) appear in the commands as --opt.
 */
export function exportDemoModel(out: string, o: { size: number; width: number }): DemoArtifact[] {
  const weights = join(out, MODEL_SAFETENSORS);
  if (!existsSync(weights)) return [];
  const opts = { size: o.size, width: o.width };
  const model = createModel('demo', opts) as ExportableModule;
  loadModule(weights, model);
  model.eval();
  exportOnnx(model, { input: [1, 1, o.size, o.size], path: join(out, MODEL_ONNX), dynamicBatch: true });
  const archOpts = [
    ...(o.size !== 64 ? [`--opt size=${o.size}`] : []),
    ...(o.width !== 16 ? [`--opt width=${o.width}`] : []),
  ].join(' ');
  const arch = `--arch demo${archOpts === '' ? '' : ` ${archOpts}`}`;
  const norm = '--mean 0.3 --std 0.25';
  return [
    {
      name: MODEL_SAFETENSORS,
      path: MODEL_SAFETENSORS,
      note:
        `the weights (SyncBatchNorm reverted to BatchNorm2d); run: syncbn predict ${MODEL_SAFETENSORS} IMAGE.png ` +
        `${arch} ${norm} --out preds; export: syncbn export ${MODEL_SAFETENSORS} ${arch} --onnx ${MODEL_ONNX} ` +
        `--input 1,1,${o.size},${o.size} --dynamic-batch`,
    },
    {
      name: MODEL_ONNX,
      path: MODEL_ONNX,
      note: `the same model as ONNX (any batch); run: syncbn predict ${MODEL_ONNX} IMAGE.png ${norm} --out preds`,
    },
  ];
}
