// GraphBuilder: names values, collects ONNX nodes, initializers and value shapes while the trace is converted.
import { ShapeError } from '../errors.js';
import { AttrType, DataType } from './schema.js';

/** An attribute value: an int, a float, a string or a list of ints (the kinds the exporter writes). */
export type Attr = { i: number } | { f: number } | { s: string } | { ints: readonly number[] };

export interface NodeSpec {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name: string;
  readonly attrs: Readonly<Record<string, Attr>>;
}

interface Initializer {
  readonly dims: readonly number[];
  readonly type: number;
  readonly bytes: Uint8Array;
}

/** Collects a graph; shapes of activations use 'N' for dim 0 when the batch is dynamic. */
export class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers = new Map<string, Initializer>();
  /** every value's traced shape (for value_info and the checker) */
  readonly shapes = new Map<string, readonly number[]>();
  private readonly usedNames = new Set<string>();
  /** values computed from weights only (no batch dimension) */
  private readonly constant = new Set<string>();

  constructor(
    readonly opset: number,
    readonly dynamicBatch: boolean,
  ) {}

  /** A fresh value name from a module path and an op ("/layer1/0/Conv_output_0", like PyTorch's exporter). */
  fresh(path: string, opType: string): string {
    const base = `${path === '' ? '' : '/' + path.replaceAll('.', '/')}/${opType}_output_`;
    let k = 0;
    while (this.usedNames.has(base + k)) k++;
    this.usedNames.add(base + k);
    return base + k;
  }

  /** Append a node producing one new value of shape `shape`; returns its name (weights-only inputs: no batch dim). */
  node(
    path: string,
    opType: string,
    inputs: readonly string[],
    shape: readonly number[],
    attrs: Record<string, Attr> = {},
  ): string {
    const out = this.fresh(path, opType);
    if (inputs.every((x) => x === '' || this.initializers.has(x) || this.constant.has(x))) this.constant.add(out);
    this.nodes.push({ opType, inputs, outputs: [out], name: out.replace(/_output_(\d+)$/, '_$1'), attrs });
    this.shapes.set(out, shape);
    return out;
  }

  /** A float32 initializer (weights: the state-dict name; a copy of the data is taken). */
  float(name: string, dims: readonly number[], data: Float32Array): string {
    if (!this.initializers.has(name)) {
      const copy = new Float32Array(data); // off the (shared) wasm heap, and little-endian on every host we run on
      this.initializers.set(name, { dims, type: DataType.FLOAT, bytes: new Uint8Array(copy.buffer) });
      this.shapes.set(name, dims);
    }
    return name;
  }

  /** An int64 vector initializer (Reshape shapes, Resize sizes). */
  int64(name: string, values: readonly number[]): string {
    const a = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.set(name, { dims: [values.length], type: DataType.INT64, bytes: new Uint8Array(a.buffer) });
    this.shapes.set(name, [values.length]);
    return name;
  }

  /** A value's shape as written in the model: dim 0 of an activation is 'N' when the batch is dynamic. */
  dims(name: string, shape: readonly number[]): (number | string)[] {
    return shape.map((d, i) => (i === 0 && this.dynamicBatch && !this.constant.has(name) ? 'N' : d));
  }

  /** Keep only nodes that the outputs depend on (an op superseded by the composite that used it drops out). */
  prune(outputs: readonly string[]): void {
    const live = new Set(outputs);
    const keep: boolean[] = new Array(this.nodes.length).fill(false);
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (!n.outputs.some((o) => live.has(o))) continue;
      keep[i] = true;
      for (const x of n.inputs) live.add(x);
    }
    const kept = this.nodes.filter((_, i) => keep[i]);
    this.nodes.length = 0;
    this.nodes.push(...kept);
    for (const name of [...this.initializers.keys()]) if (!live.has(name)) this.initializers.delete(name);
  }

  /** The GraphProto as a plain object for protobufjs. */
  toProto(
    name: string,
    input: { name: string; shape: readonly number[] },
    output: { name: string; shape: readonly number[] },
  ): object {
    for (const n of this.nodes) {
      for (const x of n.inputs) {
        if (x !== '' && !this.shapes.has(x) && x !== input.name)
          throw new ShapeError(`exportOnnx: internal: node ${n.name} reads undefined value ${x}`);
      }
    }
    const valueInfo = (nm: string, shape: readonly number[]): object => ({
      name: nm,
      type: {
        tensor_type: {
          elem_type: DataType.FLOAT,
          shape: {
            dim: this.dims(nm, shape).map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })),
          },
        },
      },
    });
    const inner = this.nodes.flatMap((n) => n.outputs).filter((o) => o !== output.name);
    return {
      name,
      node: this.nodes.map((n) => ({
        name: n.name,
        op_type: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => encodeAttr(k, v)),
      })),
      initializer: [...this.initializers].map(([nm, t]) => ({
        name: nm,
        dims: t.dims,
        data_type: t.type,
        raw_data: t.bytes,
      })),
      input: [valueInfo(input.name, input.shape)],
      output: [valueInfo(output.name, output.shape)],
      value_info: inner.map((nm) => valueInfo(nm, this.shapes.get(nm)!)),
    };
  }
}

function encodeAttr(name: string, v: Attr): object {
  if ('i' in v) return { name, type: AttrType.INT, i: v.i };
  if ('f' in v) return { name, type: AttrType.FLOAT, f: v.f };
  if ('s' in v) return { name, type: AttrType.STRING, s: new TextEncoder().encode(v.s) };
  return { name, type: AttrType.INTS, ints: v.ints };
}
