// The demo's trained model leaves as model.safetensors + model.onnx (ONNX Runtime runs it), linked from index.html.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { resultsSchema } from '../../src/demo/results-schema.js';
import { artifactsHtml, validateArtifacts } from '../../src/demo/report/artifacts-html.js';
import { ValueError } from '../../src/errors.js';
import { segNet } from '../../src/models/segnet.js';
import { loadModule } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import type { DemoReport } from '../../src/demo/types.js';
import { assertMatch, ort, ours } from '../onnx/roundtrip.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('demo --quick writes model.onnx (ONNX Runtime runs it like our engine); index.html links both', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-demo-onnx-'));
  try {
    const r = spawnSync(
      process.execPath,
      [CLI, 'demo', '--quick', '-n', '2', '--norms', 'syncbn', '--no-progress', '--out', dir],
      { encoding: 'utf8', timeout: 170_000 },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /\(in .*: index\.html, results\.json, metrics\.csv, model\.safetensors, model\.onnx\)/);
    const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as DemoReport;
    const ajv = new Ajv({ allErrors: true, strict: true });
    ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
    assert.ok(ajv.validate(resultsSchema, report), JSON.stringify(ajv.errors));
    assert.deepEqual(
      report.artifacts?.map((a) => a.path),
      ['model.safetensors', 'model.onnx'],
    );
    for (const a of report.artifacts) assert.ok(existsSync(join(dir, a.path)), a.path);
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    const line = /<p class="note" id="trained-model"><strong>Trained model:<\/strong>.*<\/p>/.exec(html)?.[0] ?? '';
    assert.match(line, /<a href="model\.safetensors" download>model\.safetensors<\/a>/);
    assert.match(line, /<a href="model\.onnx" download>model\.onnx<\/a>/);
    assert.match(line, /syncbn predict model\.onnx IMAGE\.png --mean 0\.3 --std 0\.25 --out preds/);
    const exportCmd = /syncbn export model\.safetensors --arch demo --opt size=32 --onnx model\.onnx --input 1,1,32,32/;
    assert.match(line, exportCmd);

    // the ONNX file is the saved model: same outputs as our engine on the safetensors weights, at batch 1 and 3
    const model = segNet({ size: 32 });
    loadModule(join(dir, 'model.safetensors'), model);
    const bytes = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
    const rng = new RandomGenerator(7);
    for (const n of [1, 3]) {
      const x = Tensor.from(
        Float32Array.from({ length: n * 32 * 32 }, () => rng.normal()),
        [n, 1, 32, 32],
      );
      const theirs = await ort(bytes, x);
      assert.deepEqual(theirs.shape, [n, 11, 32, 32]);
      assertMatch(theirs, ours(model, x));
      x.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('artifactsHtml escapes names, notes and paths; none → no line; validateArtifacts names the bad field', () => {
  assert.equal(artifactsHtml(undefined), '');
  assert.equal(artifactsHtml([]), '');
  const h = artifactsHtml([{ name: '<b>&"x"', path: 'sub dir/a"b.onnx', note: '<script>alert(1)</script>' }]);
  assert.match(h, /<a href="sub%20dir\/a%22b\.onnx" download>&lt;b&gt;&amp;&quot;x&quot;<\/a>/);
  assert.match(h, /\(&lt;script&gt;alert\(1\)&lt;\/script&gt;\)/);
  assert.doesNotMatch(h, /<script>/);
  validateArtifacts(undefined);
  validateArtifacts([{ name: 'm', path: 'model.onnx' }]);
  const bad: [unknown, string][] = [
    ['x', 'report.artifacts must be an array, received "x"'],
    [[{ path: 'a' }], 'report.artifacts[0].name must be a non-empty string, received undefined'],
    [
      [{ name: 'm', path: '../up.onnx' }],
      'report.artifacts[0].path must be a relative path inside the report ' + 'directory, received "../up.onnx"',
    ],
    [
      [
        { name: 'm', path: 'a' },
        { name: 'm', path: '/etc/passwd' },
      ],
      'report.artifacts[1].path must be a relative ' + 'path inside the report directory, received "/etc/passwd"',
    ],
    [[{ name: 'm', path: 'a', note: 3 }], 'report.artifacts[0].note must be a string, received 3'],
  ];
  for (const [a, msg] of bad) {
    assert.throws(
      () => validateArtifacts(a),
      (e: unknown) => e instanceof ValueError && e.message === `writeReport: ${msg}`,
      msg,
    );
  }
});
