// The layering of docs/architecture.md holds: dependency-cruiser (.dependency-cruiser.cjs) finds no import of a later
// layer and no runtime import cycle in src/; a planted violation of each kind is caught; the page lists the layers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url)); // dist/test/ → the repository
const config = join(root, '.dependency-cruiser.cjs');
const bin = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
  cycle?: { name: string }[];
}

/** Run dependency-cruiser over `dir`/src with the project's rules; its violations. */
function cruise(dir: string): Violation[] {
  const args = [bin, 'src', '--config', config, '--output-type', 'json'];
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
  assert.ok(r.stdout.length > 0, `dependency-cruiser printed nothing (exit ${r.status}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

const show = (v: Violation): string =>
  `${v.rule.name}: ${v.from} → ${v.cycle ? v.cycle.map((c) => c.name).join(' → ') : v.to}`;

test('src/ imports only earlier layers and has no runtime import cycle', () => {
  const found = cruise(root);
  assert.deepEqual(found.map(show), []);
});

test('planted violations are caught: later layer, runtime cycle, tensor → autograd at runtime, public internal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-arch-'));
  try {
    const files: Record<string, string> = {
      'src/errors.ts': 'export const e = 1;\n',
      'src/kernels/a.ts': "import { b } from '../nn/b.js';\nexport const a = b;\n",
      'src/nn/b.ts': "import { e } from '../errors.js';\nexport const b = e;\n",
      'src/comm/x.ts': "import { y } from './y.js';\nexport const x = () => y;\n",
      'src/comm/y.ts': "import { x } from './x.js';\nexport const y = () => x;\n",
      'src/autograd/p.ts': "import type { Q } from './q.js';\nexport type P = { q: Q };\nexport const p = 1;\n",
      'src/autograd/q.ts': "import { p } from './p.js';\nexport type Q = number;\nexport const q = p;\n",
      'src/autograd/node.ts': 'export class Node {}\n',
      'src/tensor/t.ts': "import type { Node } from '../autograd/node.js';\nexport let n: Node | null = null;\n",
      'src/tensor/u.ts': "import { Node } from '../autograd/node.js';\nexport const n = new Node();\n",
      'src/tensor/internal.ts': 'export const allocTensor = 1;\n',
      'src/index.ts': "export { allocTensor } from './tensor/internal.js';\n",
      'tsconfig.json': readFileSync(join(root, 'tsconfig.json'), 'utf8'),
    };
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    assert.deepEqual(cruise(dir).map(show).sort(), [
      'internals-not-public: src/index.ts → src/tensor/internal.ts',
      'layer-kernels: src/kernels/a.ts → src/nn/b.ts',
      'layer-tensor-types: src/tensor/u.ts → src/autograd/node.ts',
      'no-circular: src/comm/x.ts → src/comm/y.ts → src/comm/x.ts',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("docs/architecture.md's layer table lists the enforced layers in their order", () => {
  const rules = (createRequire(import.meta.url)(config) as { forbidden: { name: string }[] }).forbidden;
  const enforced = rules
    .map((r) => /^layer-(\w+)$/.exec(r.name)?.[1])
    .filter((n) => n !== undefined && n !== 'tensor-types');
  const page = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const table = page.slice(page.indexOf('<!-- layers:start -->'), page.indexOf('<!-- layers:end -->'));
  const documented = [...table.matchAll(/^\| \d+ \| `src\/([\w-]+)(?:\.ts|\/)`/gm)].map((m) => m[1]);
  assert.deepEqual(documented, [...enforced, 'index']);
});
