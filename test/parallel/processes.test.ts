// Over processes (TCP on 127.0.0.1): the SyncBN equivalence and bitwise reproducibility with 2 ranks, and the example
// through `syncbn run --processes`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnProcesses, spawnThreads } from '../../src/comm/index.js';
import { TORCH_FIXTURE, checkAgainstTorch, loadFixture, torchRun } from './torch-lib.js';
import { compareRuns, runReference, type RunRecord, type RunSpec } from './equiv-lib.js';

const LIB = new URL('./equiv-lib.js', import.meta.url).href;

async function runProcs(spec: RunSpec): Promise<RunRecord[]> {
  const outs = await spawnProcesses(
    spec.counts.length,
    async (pg, args) =>
      ((await import(args[0]!)) as typeof import('./equiv-lib.js')).runRank(pg, JSON.parse(args[1]!) as RunSpec),
    [LIB, JSON.stringify(spec)],
    { deadlineMs: 120_000 },
  );
  return outs.map((o) => {
    if (!o.ok) assert.fail(`rank ${o.rank} failed: ${o.error.name}: ${o.error.message}\n${o.error.stack ?? ''}`);
    return o.value;
  });
}

const spec: RunSpec = { model: 'cnn', counts: [2, 3], steps: 5, seed: 11, bn: 'sync', bucketCapMB: 0.0002 };

test(
  '2 processes: DDP + SyncBN ≡ one worker with BatchNorm on the concatenated batch (≤ 1e-5 after 5 ' + 'steps)',
  async () => {
    const ranks = await runProcs(spec);
    const { err, where } = compareRuns(ranks, runReference(spec, [5]), 2, spec.steps);
    assert.ok(err <= 1e-5, `relative error ${err} at ${where}`);
  },
);

test(
  "PyTorch fixture over 3 processes with unequal shards [3, 0, 5] (one empty) reproduces torch's BatchNorm on " +
    'the whole batch of 8',
  async () => {
    checkAgainstTorch(await torchRun('processes', [3, 0, 5]), loadFixture(TORCH_FIXTURE), 'processes [3, 0, 5]');
  },
);

test(
  '2 processes: two runs with the same seed give bitwise identical parameters, equal to the threads ' + "run's",
  async () => {
    const [a, b] = [await runProcs(spec), await runProcs(spec)];
    for (let r = 0; r < 2; r++) assert.deepEqual(a[r]!.final, b[r]!.final);
    assert.deepEqual(a[1]!.final, a[0]!.final);
    // the transports differ, the arithmetic and its order do not
    const t = await spawnThreads(
      2,
      async (pg, args) =>
        ((await import(args[0]!)) as typeof import('./equiv-lib.js')).runRank(pg, JSON.parse(args[1]!) as RunSpec),
      [LIB, JSON.stringify(spec)],
      { deadlineMs: 120_000 },
    );
    assert.ok(t[0]!.ok);
    assert.deepEqual((t[0] as { value: RunRecord }).value.final, a[0]!.final);
  },
);

test('`syncbn run -n 2 --processes dist/examples/train-syncbn.js` trains and prints a loss per step', () => {
  const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const script = fileURLToPath(new URL('../../examples/train-syncbn.js', import.meta.url));
  const r = spawnSync(
    process.execPath,
    [cli, 'run', '-n', '2', '--processes', script, '--steps', '3', '--batch', '2'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const steps = r.stdout.split('\n').filter((l) => /^\[rank 0\] step +\d+ +loss \d+\.\d+$/.test(l));
  assert.equal(steps.length, 3, r.stdout);
});
