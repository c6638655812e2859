// exportOnnx: trace one eval-mode forward pass of a model and write it as an ONNX model (protobuf bytes).
import { UsageError, describe } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { Module } from '../nn/module.js';
import { fmtShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GraphBuilder } from './graph.js';
import { emitOp, where } from './ops.js';
import { ModelProto, irVersionFor } from './schema.js';
import { traceForward, type TraceRecord } from './trace.js';

/** Opsets the exporter writes: 18 is the first whose Resize takes `axes` (a dynamic batch needs it). */
export const ONNX_OPSETS = { min: 18, max: 21, default: 18 } as const;

/** Options of exportOnnx. */
export interface ExportOnnxOptions {
  /** the input's shape [N, C, H, W] (traced with zeros) or a sample tensor; required */
  input: readonly number[] | Tensor;
  /** also write the bytes here (atomically: temp file, fsync, rename) */
  path?: string;
  /** ONNX opset of the default domain, 18…21 (default 18) */
  opset?: number;
  /** make dim 0 of the input and output symbolic ('N'): one file serves every batch size */
  dynamicBatch?: boolean;
  /** graph input and output names (default 'input', 'output') */
  inputName?: string;
  outputName?: string;
}

/** A model with one tensor in and one tensor out. */
export interface ExportableModule extends Module {
  forward(x: Tensor): Tensor;
}

function checkOptions(
  opts: ExportOnnxOptions | undefined,
): Required<Omit<ExportOnnxOptions, 'path'>> & { path?: string } {
  if (opts === null || typeof opts !== 'object')
    throw new UsageError(`exportOnnx: options must be an object with at least { input }, received ${describe(opts)}`);
  const inp = opts.input;
  if (inp === undefined) {
    throw new UsageError(
      'exportOnnx: options.input is required: the input shape [N, C, H, W] or a sample tensor (one forward pass is ' +
        'traced), received undefined',
    );
  }
  if (inp instanceof Tensor) {
    if (inp.isDisposed) throw new UsageError('exportOnnx: options.input is a disposed tensor');
  } else if (!Array.isArray(inp) || inp.length === 0 || !inp.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UsageError(
      `exportOnnx: options.input must be a shape of positive integers such as [1, 3, 64, 64] or a Tensor, received ` +
        `${describe(inp)}`,
    );
  }
  const opset = opts.opset ?? ONNX_OPSETS.default;
  if (!Number.isInteger(opset) || opset < ONNX_OPSETS.min || opset > ONNX_OPSETS.max) {
    throw new UsageError(
      `exportOnnx: options.opset must be an integer from ${ONNX_OPSETS.min} to ${ONNX_OPSETS.max}, received ` +
        `${describe(opts.opset)}`,
    );
  }
  if (opts.path !== undefined && (typeof opts.path !== 'string' || opts.path === '')) {
    throw new UsageError(`exportOnnx: options.path must be a non-empty string, received ${describe(opts.path)}`);
  }
  const inputName = opts.inputName ?? 'input';
  const outputName = opts.outputName ?? 'output';
  if (
    typeof inputName !== 'string' ||
    typeof outputName !== 'string' ||
    inputName === '' ||
    outputName === '' ||
    inputName === outputName
  ) {
    throw new UsageError(
      `exportOnnx: inputName and outputName must be two different non-empty strings, received ${describe(inputName)} ` +
        `and ${describe(outputName)}`,
    );
  }
  return { input: inp, opset, dynamicBatch: opts.dynamicBatch === true, inputName, outputName, path: opts.path };
}

/**
 * Export `model` to ONNX (like torch.onnx.export). One forward pass on `opts.input` is traced in eval
 * mode: a model in training mode is switched to eval for the trace (with a warning, code
 * SYNCBN_ONNX_TRAINING) and switched back. Weights become initializers under their state-dict names;
 * SyncBatchNorm exports as BatchNormalization with its running statistics. An op without an ONNX
 * mapping is a UsageError naming the op and the module that ran it. Returns the model's bytes.
 */
export function exportOnnx(model: ExportableModule, opts: ExportOnnxOptions): Uint8Array {
  if (
    model === null ||
    typeof model !== 'object' ||
    typeof (model as { namedModules?: unknown }).namedModules !== 'function'
  ) {
    throw new UsageError(`exportOnnx: model must be a Module, received ${describe(model)}`);
  }
  const o = checkOptions(opts);
  const modes = [...model.modules()].map((m) => m.training);
  if (modes.some((t) => t)) {
    process.emitWarning(
      'exportOnnx: the model is in training mode; it is exported with eval semantics (running statistics, no dropout)',
      {
        code: 'SYNCBN_ONNX_TRAINING',
      },
    );
  }
  const input = o.input instanceof Tensor ? o.input : Tensor.zeros(o.input);
  let bytes: Uint8Array;
  try {
    model.eval();
    const trace = traceForward(model, input);
    bytes = buildModel(model, input, trace.ops, trace.output, o);
    trace.output.dispose();
  } finally {
    let i = 0;
    for (const m of model.modules()) m.training = modes[i++]!;
    if (input !== o.input) input.dispose();
  }
  if (o.path !== undefined) writeFileAtomic(o.path, bytes, 'exportOnnx');
  return bytes;
}

function buildModel(
  model: Module,
  input: Tensor,
  ops: readonly TraceRecord[],
  output: Tensor,
  o: ReturnType<typeof checkOptions>,
): Uint8Array {
  const g = new GraphBuilder(o.opset, o.dynamicBatch);
  const weights = new Map<Tensor, string>();
  for (const [name, t] of model.namedParameters()) weights.set(t, name);
  for (const [name, t] of model.namedBuffers()) if (!weights.has(t)) weights.set(t, name);
  const values = new Map<Tensor, { name: string; version: number; by: string }>([
    [input, { name: o.inputName, version: input.version, by: 'the model input' }],
  ]);
  g.shapes.set(o.inputName, input.shape);
  // A composite op (flatten over reshape) reports after its parts with the same output: the last report wins.
  const last = new Map<Tensor, number>();
  ops.forEach((r, i) => last.set(r.output, i));
  ops.forEach((rec, i) => {
    if (last.get(rec.output) !== i) return;
    const names = rec.inputs.map((t, k) => {
      if (t === null) return '';
      const v = values.get(t);
      if (v !== undefined) {
        if (rec.inputVersions[k] !== v.version) {
          throw new UsageError(
            `exportOnnx: op '${rec.op}' at ${where(rec)} reads a tensor ${fmtShape(t.shape)} that was modified in ` +
              `place after ${v.by} produced it (in-place edits are not traced)`,
          );
        }
        return v.name;
      }
      const w = weights.get(t);
      if (w !== undefined) return g.float(w, t.shape, t.data);
      throw new UsageError(
        `exportOnnx: op '${rec.op}' at ${where(rec)} reads a tensor ${fmtShape(t.shape)} that is neither the model ` +
          'input, a parameter or buffer of the model, nor the output of a traced op ' +
          '(made by clone(), Tensor.from or another untraced function?)',
      );
    });
    const name = emitOp({ g, rec, inputs: names, batch: input.shape[0]! });
    values.set(rec.output, { name, version: rec.outputVersion, by: `op '${rec.op}' at ${where(rec)}` });
  });
  const out = values.get(output);
  if (out === undefined || out.name === o.inputName) {
    throw new UsageError(
      `exportOnnx: the model's output ${fmtShape(output.shape)} was not produced by a traced op (the forward returns ` +
        `its input, or builds the result outside the ops)`,
    );
  }
  if (out.version !== output.version)
    throw new UsageError(
      'exportOnnx: the model output was modified in place after its op produced it (in-place edits are not traced)',
    );
  // The output value carries the graph output's name.
  const last_ = g.nodes.find((n) => n.outputs.includes(out.name))!;
  (last_.outputs as string[])[last_.outputs.indexOf(out.name)] = o.outputName;
  g.shapes.set(o.outputName, output.shape);
  for (const n of g.nodes) (n.inputs as string[]).forEach((x, k, a) => (a[k] = x === out.name ? o.outputName : x));
  g.prune([o.outputName]);
  const graph = g.toProto(
    'syncbn',
    { name: o.inputName, shape: input.shape },
    { name: o.outputName, shape: output.shape },
  );
  const msg = {
    ir_version: irVersionFor(o.opset),
    opset_import: [{ domain: '', version: o.opset }],
    producer_name: 'syncbn',
    producer_version: '0.1.0',
    graph,
  };
  const err = ModelProto.verify(msg);
  if (err !== null) throw new UsageError(`exportOnnx: internal: the model message is invalid: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(msg)).finish();
}
