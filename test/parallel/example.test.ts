// The runnable example (examples/train-syncbn.ts) as `syncbn run` starts it: 2 thread ranks print the same losses as
// one worker on the whole global batch (DDP + SyncBN are the big batch), and the loss goes down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnThreads } from '../../src/comm/index.js';

const SCRIPT = fileURLToPath(new URL('../../examples/train-syncbn.js', import.meta.url));

/** Rank 0's header and per-step losses of the example over `n` thread ranks; the other ranks print nothing. */
async function losses(n: number, args: string[]): Promise<{ header: string; losses: number[] }> {
  const outs = await spawnThreads(n, SCRIPT, args, { output: 'capture', deadlineMs: 120_000 });
  for (const o of outs) assert.ok(o.ok, o.ok ? '' : `rank ${o.rank}: ${o.error.message}`);
  for (const o of outs.slice(1)) assert.equal(o.stdout, '', 'only rank 0 prints');
  const lines = outs[0]!.stdout!.trim().split('\n');
  return {
    header: lines[0]!,
    losses: lines.slice(1).map((l) => {
      const m = /^step +(\d+) +loss (\d+\.\d+)$/.exec(l);
      assert.ok(m, `unexpected line ${JSON.stringify(l)}`);
      return Number(m[2]);
    }),
  };
}

test(
  'examples/train-syncbn.js: 2 thread ranks × 4 images print the losses of 1 worker × 8, step by step; the loss ' +
    'goes down',
  async () => {
    const two = await losses(2, ['--steps', '12', '--batch', '4']);
    const one = await losses(1, ['--steps', '12', '--batch', '8']);
    assert.match(two.header, /^training on 2 rank\(s\), 4 images per rank per step \(global batch 8\)$/);
    assert.match(one.header, /^training on 1 rank\(s\), 8 images per rank per step \(global batch 8\)$/);
    assert.equal(two.losses.length, 12);
    // Printed to 4 decimals: the runs differ only in float32 reduction order, so they agree to the last
    // printed digit (±1 for a value on a rounding boundary). Without DDP's gradient all-reduce (each rank
    // stepping on its half) or with per-rank BN statistics, they part from step 2 on by far more.
    two.losses.forEach((l, s) =>
      assert.ok(Math.abs(l - one.losses[s]!) <= 1.5e-4, `step ${s + 1}: 2 ranks ${l}, 1 worker ${one.losses[s]}`),
    );
    const head = (two.losses[0]! + two.losses[1]! + two.losses[2]!) / 3;
    const tail = (two.losses[9]! + two.losses[10]! + two.losses[11]!) / 3;
    assert.ok(tail < head, `loss ${head} → ${tail}`);
  },
);
