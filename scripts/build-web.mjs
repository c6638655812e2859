// `npm run build:web`: bundle the browser build (page, rank workers, library) from tsc's output with esbuild.
// Input is dist/src (after build:ts), so that '#platform' resolves through package.json "imports" under the "browser"
// condition to dist/src/platform/browser.js and every module exists once. Output: dist/web (served by `syncbn web`).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';

const out = 'dist/web';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: {
    syncbn: 'dist/src/web/index.js',
    page: 'dist/src/web/page.js',
    'rank-worker': 'dist/src/web/rank-worker.js',
    'train-body': 'dist/src/web/train-body.js',
  },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16.4'],
  outdir: out,
  chunkNames: 'chunk-[hash]',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
for (const f of readdirSync('src/web/static')) copyFileSync(`src/web/static/${f}`, `${out}/${f}`);
copyFileSync('dist/wasm/syncbn.wasm', `${out}/syncbn.wasm`);
// Node builtins must never reach the browser build: a `node:` import here is a bug in the platform seam.
const leaked = Object.values(result.metafile.inputs).flatMap((i) =>
  i.imports.filter((m) => m.path.startsWith('node:')),
);
if (leaked.length > 0)
  throw new Error(`the browser build imports Node builtins: ${leaked.map((m) => m.path).join(', ')}`);
