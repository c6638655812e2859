// The layering of docs/architecture.md as dependency-cruiser rules: each folder imports only the layers listed
// before it (or itself); no runtime import cycles. Run: npm run check:deps (test/architecture.test.ts runs it too).
'use strict';

// Lowest first. A module may import its own layer and the layers before it, never one after it.
const layers = [
  ['errors', '^src/errors\\.ts$'],
  ['platform', '^src/platform/'],
  ['kernels', '^src/kernels/'],
  ['tensor', '^src/tensor/'],
  ['comm', '^src/comm/'],
  ['autograd', '^src/autograd/'],
  ['nn', '^src/nn/'],
  ['optim', '^src/optim/'],
  ['parallel', '^src/parallel/'],
  ['io', '^src/io/'],
  ['data', '^src/data/'],
  ['models', '^src/models/'],
  ['onnx', '^src/onnx/'],
  ['demo', '^src/demo/'],
  ['core', '^src/core\\.ts$'],
  ['web', '^src/web/'],
  ['cli', '^src/cli/'],
  ['root', '^src/index\\.ts$'],
];
// Shape checks and their "[2, 3, 4]" message form: a leaf (it imports errors.ts only) that every layer may use.
const SHAPE = '^src/tensor/shape\\.ts$';
// Tensor.gradFn is typed with autograd's Node, backward() with its options: types only, erased at runtime.
const TENSOR_TYPES_FROM_AUTOGRAD = '^src/autograd/(node|engine)\\.ts$';
const TYPE_ONLY = ['type-only', 'type-import'];
// The Node host's TCP transport: the platform seam loads it lazily for initProcessGroup (browsers have none).
const PLATFORM_TCP = '^src/comm/tcp/transport\\.ts$';

const layerRules = layers.slice(0, -1).map(([name, path], i) => ({
  name: `layer-${name}`,
  severity: 'error',
  comment: `${name} may import only ${layers
    .slice(0, i + 1)
    .map(([n]) => n)
    .join(', ')} (docs/architecture.md)`,
  from: { path },
  to: {
    path: layers
      .slice(i + 1)
      .map(([, p]) => p)
      .join('|'),
    pathNot:
      name === 'tensor'
        ? `${SHAPE}|${TENSOR_TYPES_FROM_AUTOGRAD}`
        : name === 'platform'
          ? `${SHAPE}|${PLATFORM_TCP}`
          : SHAPE,
  },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'layer-tensor-types',
      severity: 'error',
      comment: 'tensor may name autograd types (Node, BackwardOptions) but never import autograd at runtime',
      from: { path: '^src/tensor/' },
      to: { path: TENSOR_TYPES_FROM_AUTOGRAD, dependencyTypesNot: TYPE_ONLY },
    },
    {
      name: 'shape-is-a-leaf',
      severity: 'error',
      comment: 'src/tensor/shape.ts is used by every layer, so it imports nothing but errors.ts',
      from: { path: SHAPE },
      to: { path: '^src/', pathNot: '^src/errors\\.ts$' },
    },
    {
      name: 'internals-not-public',
      severity: 'error',
      comment: "the engine's bookkeeping (tensor/internal.ts) is the library's, never re-exported by an index",
      from: { path: '(^|/)index\\.ts$' },
      to: { path: '^src/tensor/internal\\.ts$' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'no runtime import cycle (a cycle through type-only imports is erased by tsc and allowed)',
      from: {},
      to: { circular: true, dependencyTypesNot: TYPE_ONLY, viaOnly: { dependencyTypesNot: TYPE_ONLY } },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.d\\.ts$' },
  },
};
