// The runnable example (examples/train-syncbn.ts) as `syncbn run` starts it: every rank succeeds, rank 0 prints a loss per step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnThreads } from '../../src/comm/index.js';

const SCRIPT = fileURLToPath(new URL('../../examples/train-syncbn.js', import.meta.url));

test('examples/train-syncbn.js on 2 thread ranks prints one finite loss per step, and the loss goes down', async () => {
  const outs = await spawnThreads(2, SCRIPT, ['--steps', '12', '--batch', '4'], { output: 'capture', deadlineMs: 120_000 });
  for (const o of outs) assert.ok(o.ok, o.ok ? '' : `rank ${o.rank}: ${o.error.message}`);
  const lines = outs[0]!.stdout!.trim().split('\n');
  assert.match(lines[0]!, /^training on 2 rank\(s\), 4 images per rank per step \(global batch 8\)$/);
  const losses = lines.slice(1).map((l) => {
    const m = /^step +(\d+) +loss (\d+\.\d+)$/.exec(l);
    assert.ok(m, `unexpected line ${JSON.stringify(l)}`);
    return Number(m[2]);
  });
  assert.equal(losses.length, 12);
  assert.ok(losses.every(Number.isFinite));
  assert.equal(outs[1]!.stdout, '', 'only rank 0 prints');
  const head = (losses[0]! + losses[1]! + losses[2]!) / 3;
  const tail = (losses[9]! + losses[10]! + losses[11]!) / 3;
  assert.ok(tail < head, `loss ${head} → ${tail}`);
});
