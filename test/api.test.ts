// The public surface: the root stays small (≤ 80 runtime exports), every package.json subpath resolves through the
// package's own name with its declaration file present, and internals are exported from no public entry point.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../../', import.meta.url); // dist/test/api.test.js → repository root
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  name: string;
  exports: Record<string, string | { types: string; default: string }>;
};
const subpaths = Object.entries(pkg.exports).filter(
  (e): e is [string, { types: string; default: string }] => typeof e[1] === 'object',
);
const specifier = (sub: string): string => (sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`);
type Exports = Record<string, unknown>;
const load = (sub: string): Promise<Exports> => import(specifier(sub)) as Promise<Exports>;

const INTERNALS = [
  'describe',
  'checkChannelParam',
  'checkTrainingCount',
  'checkAllFinite',
  'checkGroupNormEps',
  'freePort',
  'StoreServer',
  'reportForwardFailure',
  'writeFileAtomic',
  'tempPathFor',
  'Generator',
  'Rng',
];

test('the root exports at most 80 runtime values, the training-code essentials among them', async () => {
  const lib = await import('../src/index.js');
  const names = Object.keys(lib);
  assert.ok(names.length <= 80, `the root exports ${names.length} runtime values (limit 80): ${names.join(', ')}`);
  for (const name of [
    'Tensor',
    'tidy',
    'noGrad',
    'manualSeed',
    'RandomGenerator',
    'Module',
    'Sequential',
    'Conv2d',
    'BatchNorm2d',
    'crossEntropy',
    'SGD',
    'AdamW',
    'PolyLR',
    'SyncBatchNorm',
    'convertSyncBatchNorm',
    'revertSyncBatchNorm',
    'DistributedDataParallel',
    'DistributedSampler',
    'initProcessGroup',
    'spawnThreads',
    'spawnProcesses',
    'launch',
    'saveCheckpoint',
    'loadLatestCheckpoint',
    'readNpy',
    'writeNpy',
    'saveSafetensors',
    'exportOnnx',
    'createModel',
    'UsageError',
    'CommError',
    'F',
    'init',
  ]) {
    assert.ok(names.includes(name), `the root lacks ${name}`);
  }
  assert.equal(typeof lib.F.conv2d, 'function');
  assert.equal(typeof lib.init.kaimingUniform_, 'function');
  for (const name of [...INTERNALS, 'Node', 'record', 'needsGrad', 'DigitScenes', 'SegMetrics', 'kernels']) {
    assert.ok(!names.includes(name), `the root exports ${name}, which belongs to a subpath or is internal`);
  }
});

test('every subpath in package.json "exports" resolves by the package name and has its declaration file', async () => {
  assert.ok(subpaths.length >= 7, `only ${subpaths.length} subpaths`);
  for (const [sub, target] of subpaths) {
    const m = await load(sub);
    assert.ok(Object.keys(m).length > 0, `${specifier(sub)} exports nothing`);
    assert.ok(existsSync(fileURLToPath(new URL(target.types, root))), `${specifier(sub)}: no ${target.types}`);
    assert.equal(import.meta.resolve(specifier(sub)), new URL(target.default, root).href);
  }
  assert.equal(import.meta.resolve(`${pkg.name}/package.json`), new URL('package.json', root).href);
});

test('no public entry point exports an internal, and one name means one thing across entry points', async () => {
  const seen = new Map<string, { value: unknown; at: string }>();
  for (const [sub] of subpaths) {
    const m = await load(sub);
    for (const name of INTERNALS) assert.ok(!(name in m), `${specifier(sub)} exports the internal ${name}`);
    for (const [name, value] of Object.entries(m)) {
      const first = seen.get(name);
      if (first === undefined) seen.set(name, { value, at: specifier(sub) });
      else assert.equal(value, first.value, `${name} differs between ${first.at} and ${specifier(sub)}`);
    }
  }
  const autograd = await load('./autograd');
  for (const name of ['Node', 'record', 'needsGrad']) assert.equal(typeof autograd[name], 'function', name);
});
