// `syncbn demo --checkpoint-dir/--resume`: a killed or Ctrl-C'd configuration resumes to bitwise the same model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LR, parseDemoArgs } from '../../src/demo/options.js';
import { UsageError } from '../../src/errors.js';
import type { DemoReport } from '../../src/demo/types.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
// one configuration, 2 epochs of 12 steps: a checkpoint mid-epoch and the epoch boundary are both crossed
const ARGS = ['demo', '--quick', '-n', '2', '--norms', 'syncbn', '--epochs', '2', '--train', '24', '--no-progress'];
const CFG = 'syncbn-b1-s0';

const demo = (extra: string[]): ReturnType<typeof spawnSync> =>
  spawnSync(process.execPath, [CLI, ...ARGS, ...extra], { encoding: 'utf8', timeout: 170_000 });

/** Start the demo; once `file` exists send `signal`; resolves to the exit code or signal and the output. */
async function interrupt(
  extra: string[],
  file: string,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  const child = spawn(process.execPath, [CLI, ...ARGS, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setInterval(() => {
    if (existsSync(file)) {
      clearInterval(timer);
      child.kill(signal);
    }
  }, 20);
  return new Promise((resolve) =>
    child.on('exit', (code, sig) => {
      clearInterval(timer);
      resolve({ code, signal: sig, out });
    }),
  );
}

const results = (dir: string): DemoReport => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as DemoReport;
/** Everything of a run that training determines (timings excluded). */
const metrics = (r: DemoReport): unknown =>
  r.runs.map((x) => ({
    final: x.final,
    interrupted: x.interrupted,
    epochs: x.epochs.map((e) => [e.epoch, e.trainLoss, e.valLoss, e.miou, e.pixelAccuracy]),
  }));

test('killed (SIGKILL) or stopped (Ctrl-C), then --resume: bitwise the same model and metrics as one run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-demo-resume-'));
  try {
    const ref = join(dir, 'ref');
    const r0 = demo(['--out', ref]);
    assert.equal(r0.status, 0, `${r0.stderr}${r0.stdout}`);
    const refModel = readFileSync(join(ref, 'model.safetensors'));
    const refMetrics = metrics(results(ref));

    // 1. SIGKILL after the step-4 checkpoint: resume from the newest checkpoint on disk
    const ck = join(dir, 'ck');
    const out = join(dir, 'out');
    const k = await interrupt(
      ['--checkpoint-dir', ck, '--checkpoint-every', '2', '--out', out],
      join(ck, CFG, 'ckpt-00000004.json'),
      'SIGKILL',
    );
    assert.equal(k.signal, 'SIGKILL', k.out);
    assert.ok(!existsSync(join(ck, CFG, 'result.json')), 'the configuration must not have finished before the kill');
    const again = demo(['--checkpoint-dir', ck, '--out', out]);
    assert.equal(again.status, 2, `${again.stderr}`);
    assert.match(
      String(again.stderr),
      /--checkpoint-dir ".*ck" already holds checkpoints of syncbn-b1-s0: pass --resume/,
    );
    const other = demo(['--checkpoint-dir', ck, '--resume', '--lr', '0.01', '--out', out]);
    assert.equal(other.status, 2, `${other.stderr}`);
    assert.match(
      String(other.stderr),
      new RegExp(
        `--resume: .*ckpt-\\d+\\.json was taken with other settings \\(lr: checkpoint ${DEFAULT_LR}, this run ` +
          `0\\.01\\)`,
      ),
    );
    const r1 = demo(['--checkpoint-dir', ck, '--checkpoint-every', '2', '--resume', '--out', out]);
    assert.equal(r1.status, 0, `${r1.stderr}${r1.stdout}`);
    const at = Number(/resuming at step (\d+) from /.exec(String(r1.stdout))?.[1]);
    assert.ok(at >= 4 && at < 24, String(r1.stdout));
    const resumed = readFileSync(join(out, 'model.safetensors'));
    assert.ok(resumed.equals(refModel), 'resumed model differs from the reference');
    assert.deepEqual(metrics(results(out)), refMetrics);
    assert.equal(results(out).partial, false);

    // 2. a finished configuration is skipped by a second --resume, its result and model reused
    const out2 = join(dir, 'out2');
    const r2 = demo(['--checkpoint-dir', ck, '--resume', '--out', out2]);
    assert.equal(r2.status, 0, `${r2.stderr}${r2.stdout}`);
    assert.match(String(r2.stdout), /SyncBN 2 × 1, seed 0: finished earlier \(.*\), skipped/);
    assert.doesNotMatch(String(r2.stdout), /epoch 1\/2/);
    assert.ok(readFileSync(join(out2, 'model.safetensors')).equals(refModel));
    assert.deepEqual(metrics(results(out2)), refMetrics);

    // 3. Ctrl-C after the first checkpoint: the stopping step is checkpointed, resume continues from it
    const ck3 = join(dir, 'ck3');
    const out3 = join(dir, 'out3');
    const first = join(ck3, CFG, 'ckpt-00000012.json');
    const c = await interrupt(['--checkpoint-dir', ck3, '--out', out3], first, 'SIGINT');
    assert.equal(c.code, 130, c.out);
    const stopped = results(out3).runs[0]!;
    assert.ok(stopped.interrupted, JSON.stringify(stopped));
    const r3 = demo(['--checkpoint-dir', ck3, '--resume', '--out', out3]);
    assert.equal(r3.status, 0, `${r3.stderr}${r3.stdout}`);
    const at3 = Number(/resuming at step (\d+) from /.exec(String(r3.stdout))?.[1]);
    assert.ok(at3 > 12 && at3 <= 24, `the Ctrl-C checkpoint is after step 12: ${r3.stdout}`);
    assert.ok(readFileSync(join(out3, 'model.safetensors')).equals(refModel));
    assert.deepEqual(metrics(results(out3)), refMetrics);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkpoint options: eager usage errors naming the option; unwritable --checkpoint-dir fails early', () => {
  const o = parseDemoArgs(['--checkpoint-dir', 'ck', '--checkpoint-every', '5', '--resume']);
  assert.equal(o.checkpointEvery, 5);
  assert.equal(o.resume, true);
  assert.match(o.checkpointDir!, /\/ck$/);
  assert.equal(parseDemoArgs([]).checkpointDir, undefined);
  const EVERY = '--checkpoint-every must be an integer in [1, 1000000000], received';
  const bad: [string[], string][] = [
    [['--resume'], '--resume needs --checkpoint-dir DIR (the checkpoints to resume from)'],
    [['--checkpoint-every', '2'], '--checkpoint-every needs --checkpoint-dir DIR (where to write them)'],
    [['--checkpoint-dir', 'ck', '--checkpoint-every', '0'], `${EVERY} "0"`],
    [['--checkpoint-dir', 'ck', '--checkpoint-every', '-3'], `${EVERY} "-3"`],
    [['--checkpoint-dir', ''], '--checkpoint-dir must be a directory path, received ""'],
  ];
  for (const [argv, msg] of bad) {
    assert.throws(
      () => parseDemoArgs(argv),
      (e: unknown) => e instanceof UsageError && e.message === `syncbn demo: ${msg}`,
      argv.join(' '),
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-demo-resume-'));
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const w = spawnSync(
      process.execPath,
      [CLI, 'demo', '--quick', '--checkpoint-dir', join(file, 'sub'), '--out', join(dir, 'out')],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(w.status, 1);
    assert.match(w.stderr, /--checkpoint-dir must be a writable directory, received ".*a-file\/sub" \(ENOTDIR/);
    assert.doesNotMatch(w.stdout, /configurations/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
