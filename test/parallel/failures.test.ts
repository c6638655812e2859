// Failures over threads: differing channel counts, a skipped layer, a rank throwing inside forward — every rank fails
// fast, naming the layer and ranks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnThreads, type RankOutcome, type ProcessGroup } from '../../src/comm/index.js';

type Lib = typeof import('../../src/index.js');
const LIB = new URL('../../src/index.js', import.meta.url).href;

/**
 * Rank body: builds SyncBN layers per `args[1]` (a scenario name) and runs one training forward.
 * Errors are caught and returned, so that a rank that fails first does not exit and turn a slower
 * rank's own diagnosis into a PeerDiedError (which also names the layer, but races); the launcher
 * path (a rank really dying) is the last scenario.
 */
const body = async (pg: ProcessGroup, args: string[]): Promise<string | { name: string; message: string }> => {
  const lib = (await import(args[0]!)) as Lib;
  const scenario = args[1]!;
  try {
    await scenarioBody(lib, pg, scenario);
  } catch (e) {
    if (scenario === 'throw-before') throw e;
    return { name: (e as Error).name, message: (e as Error).message };
  }
  return 'completed';
};

async function scenarioBody(lib: Lib, pg: ProcessGroup, scenario: string): Promise<void> {
  const opts = { group: pg, timeoutMs: 20_000 };
  const x = (c: number): import('../../src/tensor/tensor.js').Tensor =>
    lib.Tensor.from(
      Array.from({ length: 2 * c }, (_, i) => i % 5),
      [2, c],
    );
  if (scenario === 'channels') {
    const c = pg.rank === 1 ? 3 : 4;
    new lib.SyncBatchNorm(c, { ...opts, name: 'layer1.bn' }).forward(x(c));
  } else if (scenario === 'skip') {
    const a = new lib.SyncBatchNorm(4, { ...opts, name: 'layer1.bn' });
    const b = new lib.SyncBatchNorm(4, { ...opts, name: 'layer2.bn' });
    let h = x(4);
    if (pg.rank !== 2) h = a.forward(h);
    b.forward(h);
  } else if (scenario === 'bad-input') {
    // rank 1 feeds 5 channels to a 4-channel layer: its forward throws (ShapeError) before the exchange
    new lib.SyncBatchNorm(4, { ...opts, name: 'head.bn' }).forward(x(pg.rank === 1 ? 5 : 4));
  } else if (scenario === 'throw-before') {
    // rank 0 dies in user code before reaching the layer the others wait in
    if (pg.rank === 0) throw new Error('boom in the data loader');
    new lib.SyncBatchNorm(4, { ...opts, name: 'stem.bn' }).forward(x(4));
  }
}

type Out = string | { name: string; message: string };

async function run(n: number, scenario: string): Promise<{ outs: RankOutcome<Out>[]; ms: number }> {
  const t0 = performance.now();
  // the body is stringified into each rank: scenarioBody must travel with it
  const src = `async (pg, args) => { ${scenarioBody.toString()}; return (${body.toString()})(pg, args); }`;
  const fn = new Function(`return ${src}`)() as typeof body;
  const outs = await spawnThreads(n, fn, [LIB, scenario], { deadlineMs: 60_000, output: 'capture' });
  return { outs, ms: performance.now() - t0 };
}

function errs(outs: RankOutcome<Out>[]): { name: string; message: string }[] {
  return outs.map((o) => {
    if (!o.ok) return o.error;
    assert.ok(typeof o.value !== 'string', `rank ${o.rank} completed but should have failed`);
    return o.value;
  });
}

test("channel counts that differ across ranks: every rank fails, naming the layer and each rank's count", async () => {
  const { outs, ms } = await run(3, 'channels');
  for (const e of errs(outs)) {
    assert.equal(e.name, 'CollectiveMismatchError');
    assert.equal(
      e.message,
      "SyncBatchNorm 'layer1.bn': channel counts differ across ranks: rank 0 has 4, rank 1 has 3, rank 2 has 4 " +
        'channels',
    );
  }
  assert.ok(ms < 15_000, `took ${ms} ms`);
});

test(
  'a rank that skips a SyncBN layer: every rank fails with the layers and ranks on both sides, not a ' + 'hang',
  async () => {
    const { outs, ms } = await run(3, 'skip');
    for (const [r, e] of errs(outs).entries()) {
      assert.equal(e.name, 'CollectiveMismatchError', e.message);
      assert.match(e.message, new RegExp(`^SyncBatchNorm 'layer[12]\\.bn' forward statistics exchange on rank ${r}: `));
      assert.match(e.message, /tag="layer1\.bn"/);
      assert.match(e.message, /tag="layer2\.bn"/);
      assert.match(e.message, /rank 2 called allGather/);
    }
    assert.ok(ms < 15_000, `took ${ms} ms`);
  },
);

test(
  "a rank that throws inside the layer's forward: it reports its own error, the others fail at once naming " + 'it',
  async () => {
    const { outs, ms } = await run(3, 'bad-input');
    const es = errs(outs);
    assert.equal(es[1]!.name, 'ShapeError');
    assert.equal(
      es[1]!.message,
      "SyncBatchNorm 'head.bn' forward on rank 1: batchNorm: weight has shape [4] but input [2, 5] has 5 channels",
    );
    for (const r of [0, 2]) {
      assert.equal(es[r]!.name, 'CommError');
      assert.match(
        es[r]!.message,
        new RegExp(
          `^SyncBatchNorm 'head\\.bn' forward on rank ${r}: rank 1 failed inside this layer's forward before the ` +
            `statistics exchange`,
        ),
      );
    }
    assert.ok(ms < 15_000, `took ${ms} ms`);
  },
);

test(
  'a rank that dies before reaching the layer: the others fail fast (not at the 20 s timeout) naming the layer ' +
    'and the dead rank',
  async () => {
    const { outs, ms } = await run(3, 'throw-before');
    const es = errs(outs);
    assert.match(es[0]!.message, /boom in the data loader/);
    for (const r of [1, 2]) {
      assert.equal(es[r]!.name, 'PeerDiedError', es[r]!.message);
      assert.match(
        es[r]!.message,
        new RegExp(`^SyncBatchNorm 'stem\\.bn' forward statistics exchange on rank ${r}: .*rank 0`),
      );
    }
    assert.ok(ms < 15_000, `took ${ms} ms`);
  },
);
