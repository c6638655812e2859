// examples/train-syncbn.js resumed from its checkpoints: bitwise equal to an uninterrupted run (threads, processes);
// elastic 3 → 2 ranks ≤ 1e-5.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors } from '../../src/io/safetensors.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../examples/train-syncbn.js', import.meta.url));

/** `syncbn run -n <n> <mode> train-syncbn.js <args>`: rank 0's loss lines by step, and its stderr. */
function run(
  n: number,
  mode: '--threads' | '--processes',
  args: string[],
): { losses: Map<number, string>; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'run', '-n', String(n), mode, SCRIPT, '--batch', '4', ...args], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const losses = new Map<number, string>();
  for (const l of r.stdout.split('\n')) {
    const m = /^\[rank 0\] step +(\d+) +loss (\d+\.\d+)$/.exec(l);
    if (m !== null) losses.set(Number(m[1]), m[2]!);
  }
  return { losses, stderr: r.stderr };
}

function relDiff(a: string, b: string): number {
  const ta = loadSafetensors(a).tensors;
  const tb = loadSafetensors(b).tensors;
  let num = 0;
  let den = 0;
  for (const [k, t] of Object.entries(ta)) {
    for (let i = 0; i < t.size; i++) {
      num += (t.data[i]! - tb[k]!.data[i]!) ** 2;
      den += t.data[i]! ** 2;
    }
  }
  return Math.sqrt(num / den);
}

for (const mode of ['--threads', '--processes'] as const) {
  test(
    `${mode}: 8 steps, then a second invocation resuming to 12 ≡ 12 uninterrupted steps (final weights byte for ` +
      `byte, loss lines)`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'syncbn-resume-'));
      try {
        const full = run(2, mode, [
          '--steps',
          '12',
          '--checkpoint-dir',
          join(dir, 'a'),
          '--checkpoint-every',
          '4',
          '--save',
          join(dir, 'full.safetensors'),
        ]);
        assert.equal(full.losses.size, 12);
        const first = run(2, mode, ['--steps', '8', '--checkpoint-dir', join(dir, 'b'), '--checkpoint-every', '4']);
        assert.deepEqual([...first.losses], [...full.losses].slice(0, 8));
        const resumed = run(2, mode, [
          '--steps',
          '12',
          '--checkpoint-dir',
          join(dir, 'b'),
          '--checkpoint-every',
          '4',
          '--save',
          join(dir, 'resumed.safetensors'),
        ]);
        assert.match(
          resumed.stderr,
          /resuming at step 8 from .*ckpt-00000008\.json \(taken at world size 2, global batch 8\)/,
        );
        assert.deepEqual(
          [...resumed.losses],
          [...full.losses].slice(8),
          'the same loss lines after the resume point, and none before',
        );
        assert.ok(
          readFileSync(join(dir, 'resumed.safetensors')).equals(readFileSync(join(dir, 'full.safetensors'))),
          'final weights differ',
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

test(
  'elastic: 3 ranks for 8 steps, resumed on 2 ranks keeping the global batch of 12, ends ≤ 1e-5 (relative) from ' +
    '12 steps on 3 ranks',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-elastic-'));
    try {
      run(3, '--threads', ['--steps', '12', '--save', join(dir, 'full.safetensors')]);
      run(3, '--threads', ['--steps', '8', '--checkpoint-dir', join(dir, 'ck'), '--checkpoint-every', '4']);
      const r = run(2, '--threads', [
        '--steps',
        '12',
        '--checkpoint-dir',
        join(dir, 'ck'),
        '--checkpoint-every',
        '4',
        '--save',
        join(dir, 'elastic.safetensors'),
      ]);
      assert.match(r.stderr, /resuming at step 8 .* \(taken at world size 3, global batch 12\)/);
      const d = relDiff(join(dir, 'elastic.safetensors'), join(dir, 'full.safetensors'));
      assert.ok(d <= 1e-5, `relative difference ${d}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'a global batch of 2 over 3 ranks (one rank with no samples, unequal shares) trains like 1 rank with the same ' +
    'batch',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-uneven-'));
    try {
      const three = run(3, '--threads', [
        '--steps',
        '3',
        '--global-batch',
        '2',
        '--save',
        join(dir, 'three.safetensors'),
      ]);
      run(1, '--threads', ['--steps', '3', '--global-batch', '2', '--save', join(dir, 'one.safetensors')]);
      assert.equal(three.losses.size, 3);
      const d = relDiff(join(dir, 'three.safetensors'), join(dir, 'one.safetensors'));
      assert.ok(d <= 1e-5, `relative difference ${d}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
