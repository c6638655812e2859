// `syncbn demo`: a short run over 2 thread workers actually learns; options are validated; --save writes a loadable model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseDemoArgs, runDemo } from '../../src/cli/demo.js';
import { segNet } from '../../src/cli/demo-train.js';
import { ShapesDataset, IGNORE_INDEX } from '../../src/parallel/shapes.js';
import { loadModule } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { UsageError } from '../../src/errors.js';

test('a short SyncBN run on 2 threads learns: loss falls, pixel accuracy beats always-background, mIoU well above it; --save round-trips', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-demo-'));
  try {
    const o = { ...parseDemoArgs(['-n', '2', '--epochs', '3', '--samples', '64', '--val', '16', '--seed', '1']), save: join(dir, 'model.safetensors') };
    const events: string[] = [];
    const res = await runDemo(o, true, (e) => events.push(e.type));
    assert.equal(res.epochs.length, 3);
    const [first, last] = [res.epochs[0]!, res.epochs.at(-1)!];
    assert.ok(last.trainLoss < 0.6 * first.trainLoss, `train loss ${first.trainLoss} → ${last.trainLoss}`);
    assert.ok(last.valLoss < first.valLoss, `val loss ${first.valLoss} → ${last.valLoss}`);
    // chance: predicting the majority class (background) everywhere
    const val = new ShapesDataset({ length: 16, size: 32, seed: 2 });
    let bg = 0;
    let all = 0;
    for (let i = 0; i < val.length; i++) for (const v of val.get(i).label) if (v !== IGNORE_INDEX) (all++, v === 0 && bg++);
    assert.ok(last.pixelAccuracy > bg / all + 0.03, `pixel accuracy ${last.pixelAccuracy} vs always-background ${bg / all}`);
    assert.ok(last.meanIoU > 0.35, `mIoU ${last.meanIoU} (always-background gives ${(bg / all / 4).toFixed(3)})`);
    assert.deepEqual(events.filter((e) => e !== 'step'), ['start', 'epoch', 'epoch', 'epoch']);
    assert.equal(events.filter((e) => e === 'step').length, 3 * 16);
    // the saved model is a plain-BatchNorm segNet
    assert.ok(existsSync(o.save));
    const m = segNet(99);
    loadModule(o.save, m);
    m.eval();
    const y = m.forward(Tensor.from(val.get(0).image, [1, 3, 32, 32]));
    assert.deepEqual([...y.shape], [1, 4, 32, 32]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('demo options: defaults, and usage errors naming the option', () => {
  const d = parseDemoArgs([]);
  assert.deepEqual({ n: d.nproc, e: d.epochs, b: d.batch, c: d.compare }, { n: 2, e: 5, b: 2, c: false });
  const bad: [string[], RegExp][] = [
    [['-n', '0'], /--nproc must be an integer ≥ 1, received "0"/],
    [['--size', '30'], /--size must be a multiple of 4 .* received 30/],
    [['--lr', '0'], /--lr must be a positive number, received "0"/],
    [['--samples', '3', '-n', '2'], /--samples must be at least nproc × batch = 4 \(one step\), received 3/],
    [['--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [argv, re] of bad) assert.throws(() => parseDemoArgs(argv), (e: unknown) => e instanceof UsageError && re.test(e.message), argv.join(' '));
});

test('`syncbn demo` from the CLI: prints an epoch line and exits 0; a bad option exits 2 with the usage', () => {
  const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const ok = spawnSync(process.execPath, [cli, 'demo', '-n', '2', '--epochs', '1', '--samples', '8', '--val', '4', '--size', '16'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^== SyncBatchNorm: 2 worker thread\(s\) × 2 image\(s\) per step = global batch 4, 16×16 px$/m);
  assert.match(ok.stdout, /^epoch 1\/1 {2}train loss \d+\.\d{4} {2}val loss \d+\.\d{4} {2}pixel acc \d+\.\d % {2}mIoU \d\.\d{3} /m);
  const bad = spawnSync(process.execPath, [cli, 'demo', '--size', '30'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--size must be a multiple of 4/);
  assert.match(bad.stderr, /usage: syncbn demo/);
});
