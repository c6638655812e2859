// The MNIST digits: 10 classes of 28×28 images in [0, 1]; the packed temp-dir copy gives the same digits and heals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const MNIST = new URL('../../src/data/mnist.js', import.meta.url).href;
const SCRIPT = `
const { loadDigits } = await import(${JSON.stringify(MNIST)});
const d = loadDigits();
let sum = 0, n = 0, min = Infinity, max = -Infinity;
for (const c of d) {
  n += c.count;
  for (let i = 0; i < c.pixels.length; i += 97) {
    const v = c.pixels[i];
    sum += v; min = Math.min(min, v); max = Math.max(max, v);
  }
}
console.log(JSON.stringify({ classes: d.length, n, sum, min, max, counts: d.map((c) => c.count) }));`;

test('loadDigits: 10,000 digits in [0, 1]; the packed temp-dir copy gives the same digits, heals', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-mnist-'));
  try {
    const run = (): { n: number; sum: number; min: number; max: number; classes: number; counts: number[] } => {
      const env = { ...process.env, TMPDIR: dir };
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
        encoding: 'utf8',
        env,
        timeout: 120_000,
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const parsed = run();
    assert.equal(parsed.classes, 10);
    assert.equal(parsed.n, 10_000);
    assert.ok(parsed.min === 0 && parsed.max <= 1 && parsed.max > 0.9);
    const files = readdirSync(dir).filter((f) => f.endsWith('.f32'));
    assert.equal(files.length, 1, String(readdirSync(dir)));
    assert.deepEqual(run(), parsed); // from the packed copy
    truncateSync(join(dir, files[0]!), 1000);
    assert.deepEqual(run(), parsed); // damaged copy: parsed again and rewritten
    assert.deepEqual(readdirSync(dir), files);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
