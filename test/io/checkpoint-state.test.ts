// Training state round trips through a checkpoint: model, SGD/AdamW state, LR schedule, sampler, PRNGs; validation
// messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../../src/tensor/tensor.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { DistributedSampler } from '../../src/parallel/sampler.js';
import { AdamW, PolyLR, SGD, type Optimizer, BatchNorm1d, Linear, ReLU, Sequential } from '../../src/index.js';
import { captureTrainingState, restoreTrainingState, type TrainingParts } from '../../src/io/checkpoint-state.js';
import { loadLatestCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.js';

interface Run {
  model: Sequential;
  opt: Optimizer<object>;
  sched: PolyLR;
  sampler: DistributedSampler;
  gen: RandomGenerator;
  rng: RandomGenerator;
  parts: TrainingParts;
}

function build(kind: 'sgd' | 'adamw'): Run {
  const gen = new RandomGenerator(5);
  const model = new Sequential(
    new Linear(4, 6, { generator: gen }),
    new BatchNorm1d(6),
    new ReLU(),
    new Linear(6, 2, { generator: gen }),
  );
  const opt =
    kind === 'sgd'
      ? new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true })
      : new AdamW(model.parameters(), { lr: 0.01, amsgrad: true });
  const sched = new PolyLR(opt, { totalSteps: 20, power: 0.9 });
  const sampler = new DistributedSampler(50, { numReplicas: 1, rank: 0, seed: 3 });
  const rng = new RandomGenerator(9);
  return {
    model,
    opt,
    sched,
    sampler,
    gen,
    rng,
    parts: { model, optimizer: opt, scheduler: sched, sampler, generators: { init: gen, data: rng } },
  };
}

/** One step whose data and noise come from the run's PRNGs, so a wrong PRNG state changes the weights. */
function step(r: Run): void {
  const x = Tensor.from(
    Array.from({ length: 12 }, () => r.gen.normal() + r.rng.float()),
    [3, 4],
  );
  const loss = r.model.forward(x).mul(x.data[0]!).sum();
  loss.backward();
  r.opt.step();
  r.opt.zeroGrad();
  r.sched.step();
  r.sampler.setEpoch(r.sampler.epoch + 1);
}

const snapshot = (r: Run): number[][] => Object.values(r.model.stateDict()).map((t) => Array.from(t.data));

for (const kind of ['sgd', 'adamw'] as const) {
  test(
    `${kind}: 3 steps, save, restore into a fresh run, 3 more steps ≡ 6 uninterrupted steps, bit for ` + `bit`,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'syncbn-ckst-'));
      try {
        const a = build(kind);
        for (let i = 0; i < 3; i++) step(a);
        a.gen.normal();
        a.gen.normal(); // the resumed run below draws these two around its checkpoint
        for (let i = 0; i < 3; i++) step(a);
        const b = build(kind);
        for (let i = 0; i < 3; i++) step(b);
        b.gen.normal(); // leave a cached second normal in the generator: it is part of the state
        const st = captureTrainingState(b.parts, {
          step: 3,
          worldSize: 1,
          globalBatch: 3,
          epoch: 3,
          position: 9,
          user: { note: 'x' },
        });
        await saveCheckpoint(dir, st);
        st.dispose();
        const expectNext = b.gen.normal();
        const c = build(kind);
        const ck = loadLatestCheckpoint(dir)!;
        const at = restoreTrainingState(ck, c.parts);
        ck.dispose();
        assert.deepEqual(at, { step: 3, worldSize: 1, globalBatch: 3, epoch: 3, position: 9, user: { note: 'x' } });
        assert.equal(c.gen.normal(), expectNext, 'the cached Box–Muller value is restored');
        assert.equal(c.sched.lastStep, 3);
        assert.deepEqual(
          c.opt.paramGroups.map((g) => g.lr),
          b.opt.paramGroups.map((g) => g.lr),
        );
        assert.equal(c.sampler.epoch, 3);
        for (let i = 0; i < 3; i++) step(c);
        assert.deepEqual(snapshot(c), snapshot(a));
        // negative control: without restoring the optimizer state the trajectories part
        const d = build(kind);
        const ck2 = loadLatestCheckpoint(dir)!;
        restoreTrainingState(ck2, { ...d.parts, optimizer: undefined });
        ck2.dispose();
        d.gen.normal();
        for (let i = 0; i < 3; i++) step(d);
        assert.notDeepEqual(snapshot(d), snapshot(a));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

test('RandomGenerator getState/setState continue the stream exactly; bad states are refused by field', () => {
  const g = new RandomGenerator(1);
  g.normal();
  const s = g.getState();
  const want = [g.normal(), g.random(), g.nextU32()];
  const h = new RandomGenerator(99).setState(JSON.parse(JSON.stringify(s)) as typeof s);
  assert.deepEqual([h.normal(), h.random(), h.nextU32()], want);
  const r = new RandomGenerator(7);
  r.nextU32();
  const rs = r.getState();
  const rw = [r.nextU32(), r.float(), r.int(10)];
  const q = new RandomGenerator(0).setState(rs);
  assert.deepEqual([q.nextU32(), q.float(), q.int(10)], rw);
  assert.throws(() => new RandomGenerator().setState({ kind: 'sfc32', words: [1, 2, 3], spare: null } as never), {
    name: 'UsageError',
    message: 'RandomGenerator.setState: state.words must be 4 unsigned 32-bit integers, received array [1, 2, 3]',
  });
  assert.throws(() => new RandomGenerator().setState({ kind: 'xoshiro128**' } as never), {
    message: 'RandomGenerator.setState: state.kind must be "sfc32", received "xoshiro128**"',
  });
  assert.throws(() => new RandomGenerator(1).setState({ kind: 'sfc32', words: [0, 0, 0, 0], spare: Infinity }), {
    message: 'RandomGenerator.setState: state.spare must be a finite number or null, received Infinity',
  });
});

test(
  'restoreTrainingState names what does not match: world size, global batch, missing parts, generators, param ' +
    'groups',
  () => {
    const a = build('sgd');
    const st = captureTrainingState(
      { model: a.model, optimizer: a.opt, generators: { init: a.gen } },
      { step: 4, worldSize: 2, globalBatch: 16 },
    );
    const b = build('sgd');
    assert.throws(() => restoreTrainingState(st, { model: b.model }, { worldSize: 3 }), {
      name: 'UsageError',
      message: 'restoreTrainingState: worldSize differs: expected 3 (this run), received 2 (checkpoint at step 4)',
    });
    assert.throws(() => restoreTrainingState(st, { model: b.model }, { globalBatch: 8 }), {
      message: 'restoreTrainingState: globalBatch differs: expected 8 (this run), received 16 (checkpoint at step 4)',
    });
    assert.throws(() => restoreTrainingState(st, { scheduler: b.sched }), {
      message:
        'restoreTrainingState: a scheduler was given but the checkpoint at step 4 has no scheduler state (it has: ' +
        'model, optimizer, generators)',
    });
    assert.throws(() => restoreTrainingState(st, { generators: { init: b.gen, data: b.rng } }), {
      message: 'restoreTrainingState: generators do not match the checkpoint: missing [data], unexpected []',
    });
    const two = new SGD(
      [{ params: b.model.parameters().slice(0, 2) }, { params: b.model.parameters().slice(2), lr: 1 }],
      { lr: 0.1 },
    );
    assert.throws(() => restoreTrainingState(st, { optimizer: two }), {
      message: 'restoreTrainingState: optimizer param groups: expected 2 (this optimizer), received 1 (checkpoint)',
    });
    const small = new Sequential(new Linear(4, 6));
    assert.throws(
      () => restoreTrainingState(st, { model: small }),
      (e: Error) =>
        e.name === 'UsageError' &&
        e.message.startsWith(
          'restoreTrainingState: model: loadStateDict: state dict does not match the module: missing keys [], ' +
            'unexpected keys [1.weight',
        ),
    );
    const other = new DistributedSampler(50, { numReplicas: 1, rank: 0, seed: 4 });
    assert.throws(() => other.loadStateDict(a.sampler.stateDict()), {
      message: 'DistributedSampler.loadStateDict: seed differs: expected 4 (this sampler), received 3 (state)',
    });
    assert.throws(() => a.sched.loadStateDict({ lastStep: -1 }), {
      message: 'PolyLR.loadStateDict: lastStep must be an integer ≥ 0, received -1',
    });
    st.dispose();
  },
);
