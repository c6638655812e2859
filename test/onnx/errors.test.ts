// ONNX export and loading: bad input gives typed errors whose messages name the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  BatchNorm2d,
  Conv2d,
  exportOnnx,
  IOError,
  Module,
  Sequential,
  type Tensor,
  UsageError,
  type ExportableModule,
} from '../../src/index.js';
import { checkOnnxModel, loadOnnxRuntime, OnnxSession } from '../../src/onnx/index.js';
import { mul, dropout } from '../../src/nn/functional/index.js';
import { ModelProto } from '../../src/onnx/schema.js';
import { throwsLike } from '../helpers/errors.js';
import { segStandIn } from './models.js';

class Scale extends Module {
  forward(x: Tensor): Tensor {
    return mul(x, 0.5);
  }
}
class Net extends Module {
  readonly body = this.registerModule('body', new Sequential(new Conv2d(1, 2, 1), new Scale()));
  forward(x: Tensor): Tensor {
    return this.body.forward(x);
  }
}
/** A module whose forward is `f(conv, x)`; conv is its registered child. */
class Fn extends Module {
  readonly conv = this.registerModule('conv', new Conv2d(1, 1, 1));
  constructor(private readonly f: (conv: Conv2d, x: Tensor) => Tensor) {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.f(this.conv, x);
  }
}

test('an op without an ONNX mapping: UsageError naming the op and the module path', () => {
  throwsLike(
    () => exportOnnx(new Net().eval(), { input: [1, 1, 2, 2] }),
    UsageError,
    /^exportOnnx: op 'mul' at module 'body\.1' \(Scale\) cannot be exported: no ONNX mapping \(exportable ops: conv2d, batchNorm, groupNorm, relu, add, /,
  );
  throwsLike(
    () => exportOnnx(new Fn((conv, x) => dropout(conv.forward(x), 0.2, true)).eval(), { input: [1, 1, 2, 2] }),
    UsageError,
    "exportOnnx: op 'dropout' at the root module (Fn) cannot be exported: dropout called with training=true (p=0.2) " +
      'is random; in eval mode Dropout is the identity and exports as nothing',
  );
  const bn = new BatchNorm2d(2, { trackRunningStats: false });
  throwsLike(
    () => exportOnnx(new Sequential(new Conv2d(1, 2, 1), bn).eval(), { input: [2, 1, 3, 3] }),
    UsageError,
    "exportOnnx: op 'batchNorm' at module '1' (BatchNorm2d) cannot be exported: it normalizes with batch statistics " +
      'in eval mode (trackRunningStats=false); ONNX BatchNormalization needs running statistics',
  );
});

test('tensors the tracer did not see, in-place edits, and dynamic-batch reshapes are refused by name', () => {
  throwsLike(
    () => exportOnnx(new Fn((conv, x) => conv.forward(x.clone())).eval(), { input: [1, 1, 2, 2] }),
    UsageError,
    "exportOnnx: op 'conv2d' at module 'conv' (Conv2d) reads a tensor [1, 1, 2, 2] that is neither the model input, " +
      'a parameter or buffer of the model, nor the output of a traced op (made by clone(), Tensor.from or another ' +
      'untraced function?)',
  );
  const inplace = new Fn((conv, x) => {
    const y = conv.forward(x);
    y.fill_(1);
    return conv.forward(y);
  });
  throwsLike(
    () => exportOnnx(inplace.eval(), { input: [1, 1, 2, 2] }),
    UsageError,
    /reads a tensor \[1, 1, 2, 2\] that was modified in place after op 'conv2d' at module 'conv' \(Conv2d\) produced it/,
  );
  const merge = new Fn((conv, x) => conv.forward(x).reshape([-1, 2]));
  throwsLike(
    () => exportOnnx(merge.eval(), { input: [2, 1, 2, 2], dynamicBatch: true }),
    UsageError,
    "exportOnnx: op 'reshape' at the root module (Fn) cannot be exported: with dynamicBatch, a reshape must keep " +
      'dim 0 (the batch), but it maps [2, 1, 2, 2] to [4, 2]',
  );
  throwsLike(
    () => exportOnnx(new Fn((_, x) => x).eval(), { input: [1, 1, 2, 2] }),
    UsageError,
    /the model's output \[1, 1, 2, 2\] was not produced by a traced op/,
  );
});

test('options: input required, shapes and opsets validated, unwritable path is an IOError', () => {
  const m = segStandIn(0).eval() as ExportableModule;
  throwsLike(
    () => exportOnnx(m, {} as never),
    UsageError,
    'exportOnnx: options.input is required: the input shape [N, C, H, W] or a sample tensor (one forward pass is ' +
      'traced), received undefined',
  );
  throwsLike(
    () => exportOnnx(m, { input: [1, 3, 0, 8] }),
    UsageError,
    'exportOnnx: options.input must be a shape of positive integers such as [1, 3, 64, 64] or a Tensor, received ' +
      'array [1, 3, 0, 8]',
  );
  throwsLike(
    () => exportOnnx(m, { input: [1, 3, 8, 8], opset: 13 }),
    UsageError,
    'exportOnnx: options.opset must be an integer from 18 to 21, received 13',
  );
  throwsLike(
    () => exportOnnx({} as never, { input: [1] }),
    UsageError,
    'exportOnnx: model must be a Module, received object',
  );
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-onnx-'));
  throwsLike(
    () => exportOnnx(m, { input: [1, 3, 8, 8], path: join(dir, 'missing', 'm.onnx') }),
    IOError,
    new RegExp(`^exportOnnx: could not write "${dir}/missing/m.onnx": ENOENT`),
  );
});

test('checker: corrupt bytes, an undefined node input and a wrong declared shape are IOErrors naming them', () => {
  throwsLike(
    () => checkOnnxModel(new Uint8Array([0x0a, 0xff, 0xff, 0x01]), 'bad.onnx'),
    IOError,
    /^bad\.onnx: not a valid ONNX model \(protobuf decoding failed: /,
  );
  const bytes = exportOnnx(segStandIn(0).eval(), { input: [1, 3, 8, 8] });
  const edit = (
    f: (m: {
      graph: {
        node: { input: string[]; output: string[] }[];
        value_info: { type: { tensor_type: { shape: { dim: { dim_value: number }[] } } } }[];
      };
      opset_import: unknown[];
    }) => void,
  ): Uint8Array => {
    const m = ModelProto.decode(bytes) as never;
    f(m);
    return ModelProto.encode(m).finish();
  };
  throwsLike(
    () => checkOnnxModel(edit((m) => (m.graph.node[1]!.input[0] = 'nowhere'))),
    IOError,
    'ONNX model: invalid ONNX model: node "/1/BatchNormalization_0" (BatchNormalization) reads "nowhere", which is ' +
      "not a graph input, an initializer or an earlier node's output",
  );
  throwsLike(
    () => checkOnnxModel(edit((m) => m.graph.node.reverse())),
    IOError,
    /node "\/10\/Resize_0" \(Resize\) reads "\/9\/Conv_output_0", which is not a graph input/,
  );
  throwsLike(
    () => checkOnnxModel(edit((m) => (m.graph.value_info[0]!.type.tensor_type.shape.dim[3]!.dim_value = 5))),
    IOError,
    'ONNX model: invalid ONNX model: node "/0/Conv_0" (Conv): output "/0/Conv_output_0" is declared [1, 16, 4, 5] ' +
      'but its inputs give [1, 16, 4, 4]',
  );
  throwsLike(
    () => checkOnnxModel(edit((m) => (m.opset_import.length = 0))),
    IOError,
    'ONNX model: invalid ONNX model: no opset of the default domain is declared (opset_import)',
  );
});

test(
  'runtime: a corrupt file given to OnnxSession is an IOError naming the file; a missing runtime names the ' +
    'install command',
  async () => {
    const { writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-onnx-'));
    const p = join(dir, 'junk.onnx');
    writeFileSync(p, 'this is not protobuf');
    await assert.rejects(
      OnnxSession.create(p),
      (e: unknown) => e instanceof IOError && e.message.startsWith(`${p}: not a valid ONNX model`),
    );
    await assert.rejects(
      OnnxSession.create(join(dir, 'none.onnx')),
      (e: unknown) => e instanceof IOError && /could not read ONNX model ".*none\.onnx": ENOENT/.test(e.message),
    );
    await assert.rejects(
      loadOnnxRuntime('onnxruntime-node-not-installed'),
      (e: unknown) =>
        e instanceof UsageError &&
        /^ONNX Runtime is not available: could not import "onnxruntime-node-not-installed" .*install it with `npm install onnxruntime-node`$/.test(
          e.message,
        ),
    );
  },
);
