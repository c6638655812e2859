// The op mapping: each traced op becomes one or more ONNX nodes (opset ≥ 18).
import { UsageError } from '../errors.js';
import type { ConvGeom, PoolGeom } from '../kernels/index.js';
import { fmtShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { GraphBuilder } from './graph.js';
import type { TraceRecord } from './trace.js';

/** What an emitter sees: the builder, the record, and its inputs' value names ('' = absent). */
export interface EmitContext {
  readonly g: GraphBuilder;
  readonly rec: TraceRecord;
  readonly inputs: readonly string[];
  /** the traced batch size (dim 0 of the model input) */
  readonly batch: number;
}

type Emitter = (c: EmitContext) => string;

/** Where an op ran, for messages: "module 'head.0' (Conv2d)" or "the root module (Net)". */
export function where(rec: TraceRecord): string {
  return rec.path === '' ? `the root module (${rec.moduleType})` : `module '${rec.path}' (${rec.moduleType})`;
}

function refuse(c: EmitContext, why: string): never {
  throw new UsageError(`exportOnnx: op '${c.rec.op}' at ${where(c.rec)} cannot be exported: ${why}`);
}

const shapeOf = (c: EmitContext): readonly number[] => c.rec.output.shape;
const pairs = (h: number, w: number): { ints: number[] } => ({ ints: [h, w] });
const pads = (h: number, w: number): { ints: number[] } => ({ ints: [h, w, h, w] });

/** A Reshape target for `shape`: dim 0 written as 0 ("copy from the input") when the batch is dynamic. */
function reshapeTo(c: EmitContext, x: Tensor, shape: readonly number[]): string {
  const { g, rec } = c;
  let target = [...shape];
  if (g.dynamicBatch) {
    if (x.shape[0] !== c.batch || shape[0] !== c.batch) {
      refuse(
        c,
        `with dynamicBatch, a reshape must keep dim 0 (the batch), but it maps ${fmtShape(x.shape)} to ` +
          `${fmtShape(shape)}`,
      );
    }
    target = [0, ...shape.slice(1)];
  }
  const target64 = g.int64(g.fresh(rec.path, 'Reshape_shape'), target);
  return g.node(rec.path, 'Reshape', [c.inputs[0]!, target64], shape);
}

const EMITTERS: Record<string, Emitter> = {
  conv2d(c) {
    const k = c.rec.attrs as unknown as ConvGeom;
    const ins = c.inputs[2] === '' ? c.inputs.slice(0, 2) : c.inputs.slice(0, 3);
    return c.g.node(c.rec.path, 'Conv', ins, shapeOf(c), {
      kernel_shape: pairs(k.kh, k.kw),
      strides: pairs(k.strideH, k.strideW),
      pads: pads(k.padH, k.padW),
      dilations: pairs(k.dilationH, k.dilationW),
      group: { i: k.groups },
    });
  },
  batchNorm(c) {
    const { rec, g } = c;
    const a = rec.attrs as { eps: number; useBatch: boolean; fuseRelu: boolean; channelsLast: boolean };
    if (a.useBatch)
      refuse(
        c,
        'it normalizes with batch statistics in eval mode (trackRunningStats=false); ONNX BatchNormalization needs ' +
          'running statistics',
      );
    if (a.channelsLast)
      refuse(c, 'channelsLast batch norm is not supported (ONNX BatchNormalization is channels-first)');
    const ch = rec.inputs[3]!.shape[0]!;
    const scale =
      c.inputs[1] !== '' ? c.inputs[1]! : g.float(`${rec.path}.__onnx_ones`, [ch], new Float32Array(ch).fill(1));
    const bias = c.inputs[2] !== '' ? c.inputs[2]! : g.float(`${rec.path}.__onnx_zeros`, [ch], new Float32Array(ch));
    const y = g.node(
      rec.path,
      'BatchNormalization',
      [c.inputs[0]!, scale, bias, c.inputs[3]!, c.inputs[4]!],
      shapeOf(c),
      { epsilon: { f: a.eps } },
    );
    return a.fuseRelu ? g.node(rec.path, 'Relu', [y], shapeOf(c)) : y;
  },
  groupNorm(c) {
    const { g, rec } = c;
    const { numGroups: G, eps } = rec.attrs as { numGroups: number; eps: number };
    const x = rec.inputs[0]!;
    const [n, ch] = x.shape as [number, number];
    if (g.opset >= 21) {
      // GroupNormalization-21 takes per-channel γ, β (opset 18's took per-group ones and is deprecated).
      const scale =
        c.inputs[1] !== '' ? c.inputs[1]! : g.float(`${rec.path}.__onnx_ones`, [ch], new Float32Array(ch).fill(1));
      const bias = c.inputs[2] !== '' ? c.inputs[2]! : g.float(`${rec.path}.__onnx_zeros`, [ch], new Float32Array(ch));
      return g.node(rec.path, 'GroupNormalization', [c.inputs[0]!, scale, bias], x.shape, {
        num_groups: { i: G },
        epsilon: { f: eps },
      });
    }
    // Opsets 18–20: Reshape [N, C, *] → [N, G, C/G·*] → InstanceNormalization (per-(n, g) normalization,
    // unit scale) → Reshape back → Mul γ[C, 1, …] → Add β: exactly GroupNorm's math.
    const rest = x.size / (n * ch);
    const grouped = [n, G, (ch / G) * rest];
    const lead = g.dynamicBatch ? 0 : n;
    const toGroups = g.node(
      rec.path,
      'Reshape',
      [c.inputs[0]!, g.int64(g.fresh(rec.path, 'GroupNorm_shape'), [lead, G, -1])],
      grouped,
    );
    const ones = g.float(`${rec.path}.__onnx_group_ones`, [G], new Float32Array(G).fill(1));
    const zeros = g.float(`${rec.path}.__onnx_group_zeros`, [G], new Float32Array(G));
    const normed = g.node(rec.path, 'InstanceNormalization', [toGroups, ones, zeros], grouped, { epsilon: { f: eps } });
    let y = g.node(
      rec.path,
      'Reshape',
      [normed, g.int64(g.fresh(rec.path, 'GroupNorm_shape'), [lead, ...x.shape.slice(1)])],
      x.shape,
    );
    const perChannel = [ch, ...x.shape.slice(2).map(() => 1)];
    for (const [k, op] of [
      [1, 'Mul'],
      [2, 'Add'],
    ] as const) {
      if (c.inputs[k] === '') continue;
      const p = g.node(
        rec.path,
        'Reshape',
        [c.inputs[k]!, g.int64(g.fresh(rec.path, 'GroupNorm_shape'), perChannel)],
        perChannel,
      );
      y = g.node(rec.path, op, [y, p], x.shape);
    }
    return y;
  },
  relu: (c) => c.g.node(c.rec.path, 'Relu', [c.inputs[0]!], shapeOf(c)),
  add: (c) => c.g.node(c.rec.path, 'Add', [c.inputs[0]!, c.inputs[1]!], shapeOf(c)),
  maxPool2d(c) {
    const k = c.rec.attrs as unknown as PoolGeom;
    return c.g.node(c.rec.path, 'MaxPool', [c.inputs[0]!], shapeOf(c), {
      kernel_shape: pairs(k.kh, k.kw),
      strides: pairs(k.strideH, k.strideW),
      pads: pads(k.padH, k.padW),
    });
  },
  avgPool2d(c) {
    const k = c.rec.attrs as unknown as PoolGeom;
    return c.g.node(c.rec.path, 'AveragePool', [c.inputs[0]!], shapeOf(c), {
      kernel_shape: pairs(k.kh, k.kw),
      strides: pairs(k.strideH, k.strideW),
      pads: pads(k.padH, k.padW),
      count_include_pad: { i: 1 },
    });
  },
  adaptiveAvgPool2d(c) {
    const { outH, outW } = c.rec.attrs as { outH: number; outW: number };
    const [, , h, w] = c.rec.inputs[0]!.shape as [number, number, number, number];
    if (outH === 1 && outW === 1) return c.g.node(c.rec.path, 'GlobalAveragePool', [c.inputs[0]!], shapeOf(c));
    if (h % outH !== 0 || w % outW !== 0) {
      refuse(
        c,
        `adaptive pooling of ${h}×${w} to ${outH}×${outW} has uneven bins (only output 1×1 or sizes dividing the ` +
          `input map to ONNX pooling)`,
      );
    }
    const kh = h / outH;
    const kw = w / outW;
    return c.g.node(c.rec.path, 'AveragePool', [c.inputs[0]!], shapeOf(c), {
      kernel_shape: pairs(kh, kw),
      strides: pairs(kh, kw),
    });
  },
  upsampleBilinear(c) {
    const { outH, outW } = c.rec.attrs as { outH: number; outW: number };
    const sizes = c.g.int64(c.g.fresh(c.rec.path, 'Resize_sizes'), [outH, outW]);
    // Resize-18 with axes [2, 3]: sizes name only H and W, so the batch can stay dynamic.
    return c.g.node(c.rec.path, 'Resize', [c.inputs[0]!, '', '', sizes], shapeOf(c), {
      mode: { s: 'linear' },
      coordinate_transformation_mode: { s: 'half_pixel' },
      axes: { ints: [2, 3] },
    });
  },
  concat(c) {
    const { dim } = c.rec.attrs as { dim: number };
    if (dim === 0 && c.g.dynamicBatch)
      refuse(c, 'with dynamicBatch, concatenating along dim 0 (the batch) changes the batch size');
    return c.g.node(c.rec.path, 'Concat', c.inputs, shapeOf(c), { axis: { i: dim } });
  },
  linear(c) {
    const { g, rec } = c;
    const x = rec.inputs[0]!;
    const hasBias = c.inputs[2] !== '';
    if (x.ndim === 2) {
      const ins = hasBias ? c.inputs.slice(0, 3) : c.inputs.slice(0, 2);
      return g.node(rec.path, 'Gemm', ins, shapeOf(c), { transB: { i: 1 } });
    }
    const w = rec.inputs[1]!;
    const wt = g.node(rec.path, 'Transpose', [c.inputs[1]!], [w.shape[1]!, w.shape[0]!], { perm: { ints: [1, 0] } });
    const y = g.node(rec.path, 'MatMul', [c.inputs[0]!, wt], shapeOf(c));
    return hasBias ? g.node(rec.path, 'Add', [y, c.inputs[2]!], shapeOf(c)) : y;
  },
  reshape: (c) => reshapeTo(c, c.rec.inputs[0]!, shapeOf(c)),
  flatten(c) {
    const x = c.rec.inputs[0]!;
    const { startDim, endDim } = c.rec.attrs as { startDim: number; endDim: number };
    if (startDim === 1 && endDim === x.ndim - 1)
      return c.g.node(c.rec.path, 'Flatten', [c.inputs[0]!], shapeOf(c), { axis: { i: 1 } });
    return reshapeTo(c, x, shapeOf(c));
  },
  dropout(c) {
    const { p } = c.rec.attrs as { p: number };
    return refuse(
      c,
      `dropout called with training=true (p=${p}) is random; in eval mode Dropout is the identity and exports as ` +
        `nothing`,
    );
  },
};

/** The ops the exporter maps (the names the tracer reports). */
export const EXPORTABLE_OPS: readonly string[] = Object.keys(EMITTERS).filter((k) => k !== 'dropout');

/** Emit the nodes of one traced op; returns the value name of its output. */
export function emitOp(c: EmitContext): string {
  const e = EMITTERS[c.rec.op];
  if (e === undefined) refuse(c, `no ONNX mapping (exportable ops: ${EXPORTABLE_OPS.join(', ')})`);
  return e(c);
}
