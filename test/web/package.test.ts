// The package's browser build: the "browser" export condition resolves to the bundle, which npm ships.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

test('a bundler under the "browser" condition gets dist/web/syncbn.js for `syncbn`; Node gets dist/src', async () => {
  const bundle = async (platform: 'browser' | 'node'): Promise<string[]> => {
    const r = await build({
      stdin: { contents: "export { Tensor, spawnThreads } from 'syncbn';", resolveDir: ROOT, loader: 'js' },
      bundle: true,
      write: false,
      format: 'esm',
      platform,
      metafile: true,
      logLevel: 'silent',
      external: ['node:*', 'mnist', 'pngjs', 'protobufjs', 'onnxruntime-node', 'cli-progress', 'vega', 'vega-lite'],
    }).catch((e: Error) => ({ metafile: { inputs: { [`error: ${e.message}`]: {} } } }));
    return Object.keys(r.metafile.inputs);
  };
  const browser = await bundle('browser');
  assert.ok(browser.includes('dist/web/syncbn.js'), browser.join(', '));
  assert.ok(!browser.some((p) => p.startsWith('dist/src/')), 'nothing from the Node build');
  const node = await bundle('node');
  assert.ok(node.includes('dist/src/index.js'), node.slice(0, 5).join(', '));
});

test('npm pack ships the browser build', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  for (const f of ['dist/web/syncbn.js', 'dist/web/rank-worker.js', 'dist/web/syncbn.wasm', 'dist/web/index.html']) {
    assert.ok(files.includes(f), `${f} in the package`);
  }
});
