// Structural checks of an ONNX model: decodes, opset declared, every input defined, shapes re-inferred and compared.
import { IOError } from '../errors.js';
import { ModelProto } from './schema.js';

/** What checkOnnxModel found: the opset, graph input/output shapes (null = symbolic dim) and node count. */
export interface OnnxModelInfo {
  readonly opset: number;
  readonly irVersion: number;
  readonly inputs: readonly { name: string; shape: readonly (number | null)[] }[];
  readonly outputs: readonly { name: string; shape: readonly (number | null)[] }[];
  readonly opTypes: readonly string[];
}

interface Dim {
  dim_value?: number;
  dim_param?: string;
}
interface VI {
  name: string;
  type?: { tensor_type?: { shape?: { dim?: Dim[] } } };
}
interface AttrP {
  name: string;
  i?: number;
  f?: number;
  ints?: number[];
  s?: Uint8Array;
}
interface NodeP {
  input?: string[];
  output?: string[];
  op_type?: string;
  name?: string;
  attribute?: AttrP[];
}
interface TensorP {
  name?: string;
  dims?: number[];
}
interface GraphP {
  node?: NodeP[];
  initializer?: TensorP[];
  input?: VI[];
  output?: VI[];
  value_info?: VI[];
}
interface ModelP {
  ir_version?: number;
  opset_import?: { domain?: string; version?: number }[];
  graph?: GraphP;
}

type Shape = (number | null)[];
const shapeOf = (v: VI): Shape | undefined =>
  v.type?.tensor_type?.shape?.dim?.map((d) => (d.dim_value !== undefined ? d.dim_value : null));

function ints(n: NodeP, name: string, def: number[]): number[] {
  return n.attribute?.find((a) => a.name === name)?.ints ?? def;
}
function int(n: NodeP, name: string, def: number): number {
  return n.attribute?.find((a) => a.name === name)?.i ?? def;
}

/** Output shape of a node from its input shapes (the ops the exporter writes), or undefined when not known. */
function infer(n: NodeP, ins: (Shape | undefined)[], consts: Map<string, number[]>): Shape | undefined {
  const x = ins[0];
  if (x === undefined) return undefined;
  const spatial = (k: number[], pads: number[], strides: number[], dil: number[]): Shape =>
    x
      .slice(2)
      .map((d, i) =>
        d === null ? null : Math.floor((d + pads[i]! + pads[i + 2]! - dil[i]! * (k[i]! - 1) - 1) / strides[i]!) + 1,
      );
  switch (n.op_type) {
    case 'Conv': {
      const w = ins[1]!;
      const k = ints(n, 'kernel_shape', w.slice(2) as number[]);
      return [
        x[0]!,
        w[0]!,
        ...spatial(k, ints(n, 'pads', [0, 0, 0, 0]), ints(n, 'strides', [1, 1]), ints(n, 'dilations', [1, 1])),
      ];
    }
    case 'MaxPool':
    case 'AveragePool': {
      const k = ints(n, 'kernel_shape', []);
      return [x[0]!, x[1]!, ...spatial(k, ints(n, 'pads', [0, 0, 0, 0]), ints(n, 'strides', [1, 1]), [1, 1])];
    }
    case 'GlobalAveragePool':
      return [x[0]!, x[1]!, ...x.slice(2).map(() => 1)];
    case 'Relu':
    case 'BatchNormalization':
    case 'InstanceNormalization':
    case 'GroupNormalization':
    case 'Add':
    case 'Mul':
      return x;
    case 'Concat': {
      const ax = int(n, 'axis', 0);
      if (ins.some((s) => s === undefined)) return undefined;
      return x.map((d, i) =>
        i === ax ? ins.reduce<number | null>((a, s) => (a === null || s![i] === null ? null : a + s![i]!), 0) : d,
      );
    }
    case 'Gemm':
      return [x[0]!, int(n, 'transB', 0) === 1 ? ins[1]![0]! : ins[1]![1]!];
    case 'MatMul':
      return [...x.slice(0, -1), ins[1]![ins[1]!.length - 1]!];
    case 'Transpose':
      return ints(n, 'perm', []).map((p) => x[p]!);
    case 'Flatten': {
      const ax = int(n, 'axis', 1);
      const prod = (s: Shape): number | null =>
        s.reduce<number | null>((a, d) => (a === null || d === null ? null : a * d), 1);
      return [prod(x.slice(0, ax)), prod(x.slice(ax))];
    }
    case 'Reshape': {
      const t = consts.get(n.input![1]!);
      if (t === undefined) return undefined;
      const known = t.map((d, i) => (d === 0 ? x[i]! : d));
      const total = x.every((d) => d !== null) ? x.reduce((a, d) => a * d, 1) : null;
      const rest = known.reduce<number | null>((a, d) => (d === -1 || a === null || d === null ? a : a * d), 1);
      return known.map((d) => (d === -1 ? (total === null || rest === null ? null : total / rest) : d));
    }
    case 'Resize': {
      const sizes = consts.get(n.input![3] ?? '');
      const axes = ints(
        n,
        'axes',
        x.map((_, i) => i),
      );
      if (sizes === undefined) return undefined;
      const out = x.slice();
      axes.forEach((a, i) => (out[a] = sizes[i]!));
      return out;
    }
    default:
      return undefined;
  }
}

const sameShape = (a: Shape, b: Shape): boolean =>
  a.length === b.length && a.every((d, i) => d === null || b[i] === null || d === b[i]);
const fmt = (s: Shape): string => `[${s.map((d) => (d === null ? '?' : d)).join(', ')}]`;

/**
 * Decode ONNX model bytes and check its structure: an opset of the default domain declared; every
 * node input a graph input, an initializer or an earlier node's output (the graph is in topological
 * order); names defined once; graph outputs produced; and every value's shape, re-inferred node by
 * node for the ops the exporter writes, equal to the declared one. IOError names the first problem.
 */
export function checkOnnxModel(bytes: Uint8Array, source = 'ONNX model'): OnnxModelInfo {
  let m: ModelP;
  try {
    m = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false, bytes: Uint8Array });
  } catch (e) {
    throw new IOError(`${source}: not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})`, {
      cause: e,
    });
  }
  const fail = (why: string): never => {
    throw new IOError(`${source}: invalid ONNX model: ${why}`);
  };
  const opset = m.opset_import?.find((o) => (o.domain ?? '') === '')?.version;
  if (opset === undefined) fail('no opset of the default domain is declared (opset_import)');
  if (m.ir_version === undefined || m.ir_version < 3)
    fail(`ir_version ${m.ir_version ?? 'missing'} is not a valid IR version`);
  const g = m.graph ?? fail('no graph');
  const shapes = new Map<string, Shape | undefined>();
  const consts = new Map<string, number[]>();
  const define = (name: string, s: Shape | undefined, what: string): void => {
    if (name === '') fail(`${what} has an empty name`);
    if (shapes.has(name)) fail(`value ${JSON.stringify(name)} is defined twice (again as ${what})`);
    shapes.set(name, s);
  };
  for (const v of g.input ?? []) define(v.name, shapeOf(v), 'a graph input');
  for (const t of g.initializer ?? []) define(t.name ?? '', t.dims ?? [], 'an initializer');
  const raw = ModelProto.decode(bytes) as unknown as {
    graph: { initializer: { name: string; data_type: number; raw_data: Uint8Array }[] };
  };
  for (const t of raw.graph.initializer) {
    if (t.data_type === 7) consts.set(t.name, [...new BigInt64Array(new Uint8Array(t.raw_data).buffer)].map(Number));
  }
  const declared = new Map<string, Shape>();
  for (const v of [...(g.value_info ?? []), ...(g.output ?? [])]) {
    const s = shapeOf(v);
    if (s !== undefined) declared.set(v.name, s);
  }
  if ((g.node ?? []).length === 0) fail('the graph has no nodes');
  for (const n of g.node ?? []) {
    const label = `node ${JSON.stringify(n.name ?? '')} (${n.op_type ?? 'no op_type'})`;
    if (n.op_type === undefined || n.op_type === '') fail(`${label} has no op_type`);
    for (const x of n.input ?? [])
      if (x !== '' && !shapes.has(x))
        fail(
          `${label} reads ${JSON.stringify(x)}, which is not a graph input, an initializer or an earlier node's output`,
        );
    const inferred = infer(
      n,
      (n.input ?? []).map((x) => shapes.get(x)),
      consts,
    );
    for (const o of n.output ?? []) {
      const d = declared.get(o);
      if (inferred !== undefined && d !== undefined && !sameShape(inferred, d))
        fail(`${label}: output ${JSON.stringify(o)} is declared ${fmt(d)} but its inputs give ${fmt(inferred)}`);
      define(o, inferred ?? d, `the output of ${label}`);
    }
  }
  for (const v of g.output ?? [])
    if (!shapes.has(v.name)) fail(`graph output ${JSON.stringify(v.name)} is never produced`);
  if ((g.output ?? []).length === 0) fail('the graph has no outputs');
  const io = (vs: VI[] | undefined): { name: string; shape: Shape }[] =>
    (vs ?? []).map((v) => ({ name: v.name, shape: shapeOf(v) ?? [] }));
  return {
    opset: opset!,
    irVersion: m.ir_version!,
    inputs: io(g.input),
    outputs: io(g.output),
    opTypes: (g.node ?? []).map((n) => n.op_type!),
  };
}
