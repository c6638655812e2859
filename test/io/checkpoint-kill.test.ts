// SIGKILL of a process in the middle of writing checkpoints: the newest intact checkpoint always loads, and the next
// save removes the dead writer's temp files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../../src/tensor/tensor.js';
import { loadLatestCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.js';

const LIB = new URL('../../src/index.js', import.meta.url).href;
// Saves 4 MB checkpoints as fast as it can, continuing after the newest one; tensor values encode the step.
const WRITER = `
const lib = await import(${JSON.stringify(LIB)});
const dir = process.argv[1];
let step = lib.loadLatestCheckpoint(dir, { onWarning: () => {} })?.step ?? 0;
const w = lib.Tensor.zeros([1 << 20]);
console.log('ready');
for (;;) {
  step++;
  w.fill_(step);
  const state = { step, worldSize: 1, globalBatch: null, tensors: { w }, extra: { step } };
  await lib.saveCheckpoint(dir, state, { keep: 2 });
}`;

test(
  '5 SIGKILLs at random moments of a checkpoint-writing loop: every time the newest checkpoint loads ' + 'intact',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-ckkill-'));
    try {
      let last = 0;
      let temps = 0;
      for (let k = 0; k < 5; k++) {
        const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, dir], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
        const warnings: string[] = [];
        const ck = loadLatestCheckpoint(dir, { onWarning: (w) => warnings.push(w) });
        assert.ok(ck !== null, `kill ${k}: no checkpoint`);
        assert.deepEqual(warnings, [], 'a complete manifest always describes a complete data file');
        assert.ok(ck.step >= last, `kill ${k}: step went back from ${last} to ${ck.step}`);
        assert.deepEqual(ck.extra, { step: ck.step });
        assert.ok(
          ck.tensors.w!.data.every((v) => v === ck.step),
          `kill ${k}: the tensor of step ${ck.step} is not intact`,
        );
        last = ck.step;
        ck.dispose();
        temps += readdirSync(dir).filter((f) => f.includes('.tmp-')).length;
      }
      t.diagnostic(`temp files left by the 5 kills (before cleanup): ${temps}; last step ${last}`);
      assert.ok(last > 0);
      // a temp file of an older step whose writer is dead: removed by the next save's pruning, whatever step it writes
      writeFileSync(
        join(dir, `.ckpt-00000001.safetensors.tmp-${spawnSync(process.execPath, ['-e', '']).pid}-0123abcd`),
        'x',
      );
      await saveCheckpoint(
        dir,
        { step: last + 1, worldSize: 1, globalBatch: null, tensors: { w: Tensor.zeros([4]) }, extra: {} },
        { keep: 1 },
      );
      assert.deepEqual(readdirSync(dir).sort(), [
        `ckpt-${String(last + 1).padStart(8, '0')}.json`,
        `ckpt-${String(last + 1).padStart(8, '0')}.safetensors`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
