// Against PyTorch: a small CNN trained by torch with BatchNorm on the full batch (fixtures/syncbn) is reproduced by SyncBN over 4 thread ranks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnThreads } from '../../src/comm/index.js';
import { loadFixture, type TorchRunRecord } from './torch-lib.js';
import { relErr } from './equiv-lib.js';

const FIXTURE = fileURLToPath(new URL('../../../fixtures/syncbn/small_cnn.json', import.meta.url));
const LIB = new URL('./torch-lib.js', import.meta.url).href;
const TOL = 1e-5;

test('4 thread ranks × 2 samples reproduce torch (BatchNorm on 8) for 5 SGD-momentum steps: logits, loss, gradients, running stats, parameters', async () => {
  const fx = loadFixture(FIXTURE);
  const outs = await spawnThreads(
    4,
    async (pg, args) => ((await import(args[0]!)) as typeof import('./torch-lib.js')).runTorchRank(pg, args[1]!),
    [LIB, FIXTURE],
    { deadlineMs: 120_000 },
  );
  const ranks = outs.map((o) => {
    if (!o.ok) assert.fail(`rank ${o.rank}: ${o.error.name}: ${o.error.message}\n${o.error.stack ?? ''}`);
    return o.value as TorchRunRecord;
  });
  const check = (e: number, what: string): void => assert.ok(e <= TOL, `${what}: relative error ${e} > ${TOL}`);
  fx.steps.forEach((st, s) => {
    check(relErr(ranks.flatMap((r) => r.logits[s]!), st.logits), `step ${s} logits`);
    check(relErr(ranks.flatMap((r) => r.inputGrads[s]!), st.input_grad), `step ${s} input gradient`);
    for (const [ri, r] of ranks.entries()) {
      check(relErr([r.losses[s]!], [st.loss]), `rank ${ri} step ${s} loss`);
      for (const [k, g] of Object.entries(st.grads)) check(relErr(r.grads[s]![k]!, g), `rank ${ri} step ${s} grad ${k}`);
    }
  });
  for (const [ri, r] of ranks.entries()) {
    assert.deepEqual(Object.keys(r.final).sort(), Object.keys(fx.final).sort());
    for (const [k, v] of Object.entries(fx.final)) check(relErr(r.final[k]!, v.data), `rank ${ri} final ${k}`);
  }
});
