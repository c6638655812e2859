// Naming conventions the linters cannot see: kebab-case file names, camelCase wasm exports, bindings that exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Folders of TypeScript/JavaScript sources; Python scripts keep PEP 8's snake_case and are not walked. */
const SOURCE_DIRS = ['src', 'test', 'bench', 'scripts', 'wasm', 'examples'];
const CODE = /\.(ts|mts|cts|js|mjs|cjs)$/;
/** kebab-case stem, then dotted suffixes: `checkpoint-kill.test.ts`, `wasm-globals.d.ts`, `gemm4x8.ts`. */
const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+)*$/;
const CAMEL = /^[a-z][a-zA-Z0-9]*$/;
/** Exported wasm globals are constants: UPPER_CASE like the TypeScript side's module constants. */
const CONSTANT = /^[A-Z][A-Z0-9_]*$/;

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (CODE.test(e.name)) out.push(p);
  }
  return out;
}

/** Names that break the file-name rule, as paths relative to the repository. */
function badFileNames(root: string): string[] {
  return SOURCE_DIRS.flatMap((d) => walk(join(root, d)))
    .filter((p) => !KEBAB.test(p.slice(p.lastIndexOf('/') + 1)))
    .map((p) => relative(root, p));
}

/** Exports of a compiled module that are neither camelCase functions nor UPPER_CASE constants. */
function badWasmExports(path: string): string[] {
  const mod = new WebAssembly.Module(readFileSync(path));
  return WebAssembly.Module.exports(mod)
    .filter((e) => e.kind !== 'memory')
    .filter((e) => !(CAMEL.test(e.name) || (e.kind === 'global' && CONSTANT.test(e.name))))
    .map((e) => `${e.kind} ${e.name}`);
}

test('every source file name is kebab-case', () => {
  assert.deepEqual(badFileNames(ROOT), []);
});

test('the file-name rule rejects snake_case and camelCase (negative control)', () => {
  for (const bad of ['shape_ops.ts', 'tinyCnn.ts', 'Tensor.ts', 'train_loop.test.ts']) assert.ok(!KEBAB.test(bad), bad);
  for (const good of ['shape-ops.ts', 'train-loop.test.ts', 'wasm-globals.d.ts', 'run-tests.mjs'])
    assert.ok(KEBAB.test(good), good);
});

for (const file of ['syncbn.wasm', 'floor.wasm']) {
  test(`every export of ${file} is camelCase`, () => {
    assert.deepEqual(badWasmExports(join(ROOT, 'dist/wasm', file)), []);
  });
}

test('every wasm export the kernel bindings call exists in syncbn.wasm', () => {
  const mod = new WebAssembly.Module(readFileSync(join(ROOT, 'dist/wasm/syncbn.wasm')));
  const exported = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
  const dir = join(ROOT, 'src/kernels/wasm');
  const called = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) =>
      [...readFileSync(join(dir, f), 'utf8').matchAll(/\bwasm\.([A-Za-z_][A-Za-z0-9_]*)!/g)].map((m) => m[1]!),
    );
  assert.ok(called.length > 20, `found only ${called.length} calls: the pattern no longer matches the bindings`);
  assert.deepEqual(
    [...new Set(called)].filter((n) => !exported.has(n)),
    [],
  );
});
