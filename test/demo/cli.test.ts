// `syncbn demo` end to end: --quick writes every output (valid results.json); Ctrl-C leaves a partial report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parseDemoArgs } from '../../src/demo/options.js';
import { resultsSchema } from '../../src/demo/results-schema.js';
import { segNet } from '../../src/models/segnet.js';
import { loadModule } from '../../src/io/safetensors.js';
import { UsageError } from '../../src/errors.js';
import type { DemoReport } from '../../src/demo/types.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function validate(report: unknown): void {
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
  const ok = ajv.validate(resultsSchema, report);
  assert.ok(ok, JSON.stringify(ajv.errors));
}

test('`syncbn demo --quick --out DIR` writes a valid results.json, metrics.csv and the model; prints the table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-demo-'));
  try {
    const out = join(dir, 'report');
    const r = spawnSync(process.execPath, [CLI, 'demo', '--quick', '-n', '2', '--out', out], {
      encoding: 'utf8',
      timeout: 170_000,
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as DemoReport;
    validate(report);
    assert.equal(report.partial, false);
    assert.deepEqual(
      report.runs.map((x) => [x.config.norm, x.config.workers, x.config.batchPerWorker, x.config.globalBatch]),
      [
        ['syncbn', 2, 1, 2],
        ['bn', 2, 1, 2],
        ['bigbatch', 1, 2, 2],
        ['groupnorm', 2, 1, 2],
      ],
    );
    for (const run of report.runs)
      assert.ok(run.final !== null && run.epochs.length === 1 && run.timings.stepMsMedian > 0);
    const csv = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 1 + 4);
    assert.match(readFileSync(join(out, 'index.html'), 'utf8'), /<html/i);
    assert.match(csv[1]!, /^syncbn,2,1,2,0,1,/);
    const m = segNet({ size: 32 });
    loadModule(join(out, 'model.safetensors'), m);
    assert.match(r.stdout, /^val mIoU \(%\) +1 img\/worker$/m);
    assert.match(r.stdout, /^SyncBN \(N × b\) +\d+\.\d ± 0\.0$/m);
    assert.match(r.stdout, /report: /);
    // the big batch is the SyncBN run's reference: same samples, same normalization statistics
    assert.ok(Math.abs(report.runs[0]!.epochs[0]!.trainLoss - report.runs[2]!.epochs[0]!.trainLoss) < 1e-4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'Ctrl-C during the second configuration stops after the step: exit 130, results.json partial, 2 ' + 'runs',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-demo-'));
    try {
      const child = spawn(
        process.execPath,
        [
          CLI,
          'demo',
          '--quick',
          '-n',
          '2',
          '--epochs',
          '4',
          '--train',
          '24',
          '--norms',
          'bigbatch,bn,syncbn',
          '--out',
          dir,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      let sent = false;
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (!sent && /^\[2\/3\] /m.test(stdout)) {
            sent = true;
            child.kill('SIGINT');
          }
        });
        child.on('exit', (c) => resolve(c));
      });
      assert.ok(sent, stdout + stderr);
      assert.equal(code, 130, stdout + stderr);
      const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as DemoReport;
      validate(report);
      assert.equal(report.partial, true);
      assert.equal(report.runs.length, 2);
      assert.ok(report.runs[0]!.final !== null);
      // the configuration running at Ctrl-C stopped after its current step instead of training to the end
      const second = report.runs[1]!;
      assert.ok(second.interrupted && second.epochs.length < 4, JSON.stringify(second.epochs));
      assert.match(stdout, /partial report \(interrupted\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('demo options: presets, and usage errors naming the option, the expectation and the value', () => {
  const d = parseDemoArgs([]);
  assert.deepEqual(
    [d.nproc, d.batches, d.seeds, d.norms.length, d.size, d.epochs, d.train, d.val, d.width, d.lr],
    [4, [1, 2], [0, 1], 4, 48, 4, 1024, 128, 16, 0.005],
  );
  assert.deepEqual(parseDemoArgs(['--quick']).batches, [1]);
  assert.deepEqual(parseDemoArgs(['--full', '--seed', '5']).seeds, [5, 6, 7]);
  const bad: [string[], string][] = [
    [['-n', '-1'], '--nproc must be an integer in [1, 64], received "-1"'],
    [['--nproc', '0'], '--nproc must be an integer in [1, 64], received "0"'],
    [['--epochs', '-1'], '--epochs must be an integer in [1, 1000], received "-1"'],
    [['--lr', '-1'], '--lr must be a positive number, received "-1"'],
    [['--lr', 'abc'], '--lr must be a positive number, received "abc"'],
    [['--batches', '1,x'], '--batches must be a comma-separated list of distinct integers in [1, 64], received "1,x"'],
    [['--batches', '2,2'], '--batches must be a comma-separated list of distinct integers in [1, 64], received "2,2"'],
    [
      ['--norms', 'bn,layernorm'],
      '--norms must be a comma-separated list of distinct names among syncbn, bn, bigbatch, groupnorm, ' +
        'received "bn,layernorm"',
    ],
    [['--size', '30'], '--size must be a multiple of 4 (the network downsamples by 4), received 30'],
    [['--train', '7'], '--train must be at least nproc × the largest batch = 8 (one step), received 7'],
    [['--seeds', '1.5'], '--seeds must be an integer in [1, 100], received "1.5"'],
    [['--quick', '--full'], '--quick and --full exclude each other, received both'],
  ];
  for (const [argv, msg] of bad) {
    assert.throws(
      () => parseDemoArgs(argv),
      (e: unknown) => e instanceof UsageError && e.message === `syncbn demo: ${msg}`,
      argv.join(' '),
    );
  }
  assert.throws(() => parseDemoArgs(['--bogus']), /Unknown option '--bogus'/);
});

test('from the CLI: a bad option exits 2 with the usage; an unwritable --out fails before training', () => {
  const r = spawnSync(process.execPath, [CLI, 'demo', '-n', '-1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^syncbn demo: --nproc must be an integer in \[1, 64\], received "-1"$/m);
  assert.match(r.stderr, /usage: syncbn demo/);
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-demo-'));
  try {
    const file = join(dir, 'a-file');
    spawnSync('touch', [file]);
    const t0 = Date.now();
    const w = spawnSync(process.execPath, [CLI, 'demo', '--quick', '--out', join(file, 'sub')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(w.status, 1);
    assert.match(w.stderr, /--out must be a writable directory, received ".*a-file\/sub" \(ENOTDIR/);
    assert.doesNotMatch(w.stdout, /configurations/);
    assert.ok(Date.now() - t0 < 30_000);
    assert.ok(!existsSync(join(file, 'sub')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
