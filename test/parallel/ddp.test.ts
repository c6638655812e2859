// DDP on one thread with a recording stand-in group: broadcast on wrap, bucket layout, overlap with backward,
// averaging, misuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CollectiveOptions, CommArray, ProcessGroup, ReduceOp } from '../../src/comm/types.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Sequential } from '../../src/nn/layers/sequential.js';
import { Linear } from '../../src/nn/layers/conv.js';
import { BatchNorm1d } from '../../src/nn/layers/batchnorm.js';
import { ReLU } from '../../src/nn/layers/basic.js';
import { crossEntropy } from '../../src/nn/functional/loss.js';
import { DistributedDataParallel } from '../../src/parallel/ddp.js';
import { convertSyncBatchNorm } from '../../src/parallel/convert.js';
import { StateError, UsageError } from '../../src/errors.js';

/** Rank 1 of 2; the other rank contributes zeros to sums, `root0` to broadcasts and its stats to gathers. */
function recordingGroup(root0: (len: number) => Float32Array | null = () => null): ProcessGroup & { log: string[] } {
  const log: string[] = [];
  const g = {
    rank: 1,
    size: 2,
    worldRanks: [0, 1],
    log,
    broadcastSync(buf: CommArray, root: number, o?: CollectiveOptions): void {
      log.push(`broadcast ${o?.tag} ${buf.length}`);
      const src = root0(buf.length);
      if (root === 0 && src !== null) buf.set(src);
    },
    allGatherSync(buf: CommArray, o?: CollectiveOptions): CommArray[] {
      log.push(`allGather ${o?.tag}`);
      return [buf.slice(), buf.slice()]; // the other rank has the same statistics
    },
    allReduceSync(buf: CommArray, _op?: ReduceOp, o?: CollectiveOptions): void {
      log.push(`allReduce ${o?.tag}`);
      for (let i = 0; i < buf.length; i++) buf[i] *= 2; // the other rank has the same sums
    },
    allReduceStart(buf: CommArray, _op?: ReduceOp, o?: CollectiveOptions) {
      log.push(`start ${o?.tag} ${buf.length}`);
      return {
        done: Promise.resolve(),
        waitSync: () => {
          log.push(`wait ${o?.tag}`);
        },
      };
    },
  };
  return g as unknown as ProcessGroup & { log: string[] };
}

const mlp = (): Sequential => {
  const generator = new RandomGenerator(1);
  return new Sequential(
    new Linear(4, 8, { generator }),
    new BatchNorm1d(8),
    new ReLU(),
    new Linear(8, 3, { generator }),
  );
};

test('wrap broadcasts rank 0 parameters and buffers (one flat collective each)', () => {
  const m = mlp();
  const nParams = m.parameters().reduce((a, t) => a + t.size, 0);
  const nBufs = m.buffers().reduce((a, t) => a + t.size, 0);
  const g = recordingGroup((len) => new Float32Array(len).fill(len === nParams ? 0.25 : 7));
  const ddp = new DistributedDataParallel(m, { group: g });
  assert.deepEqual(g.log, [
    `broadcast ddp.broadcast.parameters ${nParams}`,
    `broadcast ddp.broadcast.buffers ${nBufs}`,
  ]);
  for (const p of m.parameters()) assert.ok(p.data.every((v) => v === 0.25));
  for (const b of m.buffers()) assert.ok(b.data.every((v) => v === 7));
  ddp.close();
});

test('buckets: reverse parameter order, capped by size; a parameter above the cap gets its own bucket', () => {
  const g = recordingGroup();
  // Linear 4→8 weight is 32 floats = 128 B; cap 100 B ⇒ one tensor per bucket except tiny neighbours
  const ddp = new DistributedDataParallel(mlp(), { group: g, bucketCapMB: 100 / 2 ** 20 });
  assert.deepEqual(ddp.bucketLayout(), [['3.bias'], ['3.weight'], ['1.bias', '1.weight', '0.bias'], ['0.weight']]);
  const one = new DistributedDataParallel(mlp(), { group: g });
  assert.deepEqual(one.bucketLayout(), [['3.bias', '3.weight', '1.bias', '1.weight', '0.bias', '0.weight']]);
  assert.throws(
    () => new DistributedDataParallel(mlp(), { group: g, bucketCapMB: 0 }),
    (e: unknown) => e instanceof UsageError && /bucketCapMB must be a number > 0, received 0/.test(e.message),
  );
  assert.throws(
    () => new DistributedDataParallel(mlp(), {} as never),
    /options\.group must be a ProcessGroup, received undefined/,
  );
  ddp.close();
  one.close();
});

test(
  'backward starts each bucket as soon as its gradients are final, interleaved with SyncBN, and averages at the ' +
    'end',
  () => {
    const g = recordingGroup();
    const model = convertSyncBatchNorm(mlp(), g);
    const ddp = new DistributedDataParallel(model, { group: g, bucketCapMB: 100 / 2 ** 20 });
    g.log.length = 0;
    const x = Tensor.from(
      Array.from({ length: 20 }, (_, i) => Math.sin(i)),
      [5, 4],
    );
    const loss = crossEntropy(ddp.forward(x), [0, 1, 2, 1, 0], { reduction: 'sum' });
    assert.deepEqual(g.log, ['allGather 1'], 'forward: one statistics exchange, tagged with the layer name');
    // local gradients, for the expected averages (the other rank contributes zeros)
    const ref = mlp();
    const rl = crossEntropy(convertSyncBatchNorm(ref, g).forward(x), [0, 1, 2, 1, 0], { reduction: 'sum' });
    g.log.length = 0;
    rl.backward();
    const local = ref.parameters().map((p) => Array.from(p.grad!.data));
    g.log.length = 0;
    loss.backward();
    assert.deepEqual(g.log, [
      'start ddp.bucket0 3', // fc bias, final before the BN backward runs
      'start ddp.bucket1 24',
      'allReduce 1', // SyncBN backward: one all-reduce, with the layer's name
      'start ddp.bucket2 24', // BN γ, β and the first layer's bias
      'start ddp.bucket3 32',
      'wait ddp.bucket0',
      'wait ddp.bucket1',
      'wait ddp.bucket2',
      'wait ddp.bucket3',
    ]);
    model.parameters().forEach((p, i) => {
      const want = local[i]!.map((v) => v / 2);
      p.grad!.data.forEach((v, j) =>
        assert.ok(Math.abs(v - want[j]!) <= 1e-6 * Math.max(1, Math.abs(want[j]!)), `param ${i}[${j}]`),
      );
    });
    ddp.close();
  },
);

test('noSync accumulates locally without collectives; a parameter used outside the module fails clearly', () => {
  const g = recordingGroup();
  const m = mlp();
  const ddp = new DistributedDataParallel(m, { group: g });
  g.log.length = 0;
  const x = Tensor.from(
    Array.from({ length: 8 }, (_, i) => i / 8),
    [2, 4],
  );
  ddp.noSync(() => crossEntropy(ddp.forward(x), [0, 1]).backward());
  assert.deepEqual(g.log, []);
  m.zeroGrad();
  const w = m.parameters()[0]!;
  const out = ddp.forward(x);
  const loss = crossEntropy(out, [0, 1]).add(w.sum().mul(0.1));
  assert.throws(
    () => loss.backward(),
    (e: unknown) =>
      e instanceof StateError &&
      /parameter '0\.weight' received a gradient after its bucket was reduced/.test(e.message),
  );
  ddp.close();
});

test("broadcastBuffers: rank 0's buffers before every training forward (not in eval)", () => {
  const g = recordingGroup((len) => new Float32Array(len).fill(3));
  const m = mlp();
  const ddp = new DistributedDataParallel(m, { group: g, broadcastBuffers: true });
  g.log.length = 0;
  const x = Tensor.from(
    Array.from({ length: 8 }, (_, i) => i / 8),
    [2, 4],
  );
  ddp.forward(x).dispose();
  assert.deepEqual(g.log, ['broadcast ddp.broadcast.buffers 17']);
  ddp.eval();
  g.log.length = 0;
  ddp.forward(x).dispose();
  assert.deepEqual(g.log, []);
  ddp.close();
});
