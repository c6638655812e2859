// ONNX Runtime for Node, loaded on demand (an optional dependency): a session over one float32 input and output.
import { readFileSync } from 'node:fs';
import { IOError, UsageError } from '../errors.js';
import { checkOnnxModel, type OnnxModelInfo } from './check.js';

/** The part of onnxruntime-node's API used here. */
interface Ort {
  InferenceSession: {
    create(model: Uint8Array, opts: object): Promise<OrtSession>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
  release(): Promise<void>;
}

/**
 * Import onnxruntime-node (or `specifier`); UsageError with the install command when it is missing.
 * It is an optional dependency of syncbn: exporting does not need it, running ONNX files does.
 */
export async function loadOnnxRuntime(specifier = 'onnxruntime-node'): Promise<Ort> {
  try {
    const mod = (await import(specifier)) as Ort & { default?: Ort };
    return mod.InferenceSession !== undefined ? mod : mod.default!;
  } catch (e) {
    throw new UsageError(
      `ONNX Runtime is not available: could not import ${JSON.stringify(specifier)} (${(e as Error).message}); ` +
        `install it with \`npm install onnxruntime-node\``,
      'E_USAGE',
      { cause: e },
    );
  }
}

/** Options of OnnxSession.create. */
export interface OnnxSessionOptions {
  /** intra-op threads (default 1: one thread, comparable with our single-threaded kernels) */
  threads?: number;
  /** ORT graph optimizations (default 'all'; 'disabled' runs the graph as written) */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** A loaded ONNX model with one float32 input and one float32 output. */
export class OnnxSession {
  private constructor(
    private readonly ort: Ort,
    private readonly session: OrtSession,
    readonly info: OnnxModelInfo,
  ) {}

  /** Load from a file path or bytes: structural check first (IOError naming the problem), then ORT. */
  static async create(model: string | Uint8Array, opts: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const source = typeof model === 'string' ? model : 'ONNX model';
    let bytes: Uint8Array;
    if (typeof model === 'string') {
      try {
        bytes = readFileSync(model);
      } catch (e) {
        throw new IOError(`could not read ONNX model ${JSON.stringify(model)}: ${(e as Error).message}`, { cause: e });
      }
    } else bytes = model;
    const info = checkOnnxModel(bytes, source);
    if (info.inputs.length !== 1 || info.outputs.length !== 1) {
      throw new UsageError(
        `${source}: expected a model with one input and one output, it has ${info.inputs.length} and ` +
          `${info.outputs.length}`,
      );
    }
    const ort = await loadOnnxRuntime();
    const threads = opts.threads ?? 1;
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: opts.optimization ?? 'all',
      });
    } catch (e) {
      throw new IOError(`${source}: ONNX Runtime could not load the model: ${(e as Error).message}`, { cause: e });
    }
    return new OnnxSession(ort, session, info);
  }

  /** Run on one float32 batch; returns the output's data and shape. */
  async run(data: Float32Array, shape: readonly number[]): Promise<{ data: Float32Array; shape: number[] }> {
    const feeds = { [this.info.inputs[0]!.name]: new this.ort.Tensor('float32', data, shape) };
    let r;
    try {
      r = await this.session.run(feeds);
    } catch (e) {
      const inp = this.info.inputs[0]!;
      const want = inp.shape.map((d) => d ?? '?').join(', ');
      throw new UsageError(
        `ONNX Runtime rejected input of shape [${shape.join(', ')}] (model input ` +
          `${JSON.stringify(inp.name)} has shape [${want}]): ${(e as Error).message}`,
        'E_USAGE',
        { cause: e },
      );
    }
    const out = r[this.info.outputs[0]!.name]!;
    return { data: out.data as Float32Array, shape: [...out.dims] };
  }

  /** Release the ONNX Runtime session. */
  async close(): Promise<void> {
    await this.session.release();
  }
}
