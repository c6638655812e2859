// Failure semantics over threads: timeouts name the missing ranks, mismatches fail everywhere, dead ranks fail the rest
// fast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnThreads, rootCause, type RankOutcome } from '../../src/comm/index.js';

function errors(outs: RankOutcome[]): { name: string; message: string; deadRank?: number; missingRanks?: number[] }[] {
  return outs.map((o) => (o.ok ? { name: 'ok', message: JSON.stringify(o.value) } : o.error));
}

test('mismatched lengths fail on every rank with both sides shown', async () => {
  const outs = await spawnThreads(
    3,
    async (pg) => {
      for (let i = 0; i < 11; i++) await pg.allReduce(new Float32Array(4), 'sum', { tag: 'warmup' });
      pg.allReduceSync(new Float32Array(pg.rank === 1 ? 130 : 129), 'sum', { tag: 'layer1.bn' });
    },
    [],
    { deadlineMs: 20_000 },
  );
  const want =
    'allReduce #12 mismatch: rank 0 called allReduce(len=129, float32, tag="layer1.bn") but rank 1 called ' +
    'allReduce(len=130, float32, tag="layer1.bn")';
  const es = errors(outs);
  // Rank 2 may see (rank 1 vs rank 2) first; whichever rank detects it first, every rank reports the same error.
  for (const e of es) assert.equal(e.name, 'CollectiveMismatchError');
  assert.ok(
    es.every((e) => e.message === es[0]!.message),
    JSON.stringify(es),
  );
  assert.match(
    es[0]!.message,
    /^allReduce #12 mismatch: rank \d called allReduce\(len=1(29|30), float32, tag="layer1.bn"\) but rank \d called allReduce\(len=1(29|30), float32, tag="layer1.bn"\)$/,
  );
  if (es[0]!.message.includes('rank 0 called')) assert.equal(es[0]!.message, want);
});

test('mismatched kind, dtype, op and tag are all detected', async () => {
  const cases = [
    [
      'kind',
      'collective #1 mismatch: rank 0 called allReduce(len=4, float32) but rank 1 called allGather(len=4, float32)',
    ],
    [
      'dtype',
      'allReduce #1 mismatch: rank 0 called allReduce(len=4, float32) but rank 1 called allReduce(len=4, float64)',
    ],
    [
      'op',
      'allReduce #1 mismatch: rank 0 called allReduce(len=4, float32, op=sum) but rank 1 called allReduce(len=4, ' +
        'float32, op=max)',
    ],
    [
      'tag',
      'allReduce #1 mismatch: rank 0 called allReduce(len=4, float32, tag="") but rank 1 called allReduce(len=4, ' +
        'float32, tag="b")',
    ],
    [
      'root',
      'broadcast #1 mismatch: rank 0 called broadcast(len=4, float32, root=0) but rank 1 called broadcast(len=4, ' +
        'float32, root=1)',
    ],
  ];
  for (const [what, want] of cases) {
    const outs = await spawnThreads(
      2,
      async (pg, args) => {
        const w = args[0];
        const odd = pg.rank === 1;
        if (w === 'kind') return odd ? pg.allGatherSync(new Float32Array(4)) : pg.allReduceSync(new Float32Array(4));
        if (w === 'dtype') return pg.allReduceSync(odd ? new Float64Array(4) : new Float32Array(4));
        if (w === 'op') return pg.allReduceSync(new Float32Array(4), odd ? 'max' : 'sum');
        if (w === 'tag') return pg.allReduceSync(new Float32Array(4), 'sum', odd ? { tag: 'b' } : {});
        return pg.broadcastSync(new Float32Array(4), pg.rank);
      },
      [what!],
      { deadlineMs: 20_000 },
    );
    for (const e of errors(outs)) {
      assert.equal(e.name, 'CollectiveMismatchError', what);
      assert.equal(e.message, want, what);
    }
  }
});

test(
  'a rank that never arrives: every rank fails with CommTimeoutError naming the collective, its number, tag and ' +
    'the missing rank',
  async () => {
    const t0 = performance.now();
    const outs = await spawnThreads(
      3,
      async (pg) => {
        await pg.allReduce(new Float32Array(3));
        if (pg.rank === 2) {
          await new Promise((r) => setTimeout(r, 1500)); // late: the others time out at 400 ms
          return pg.allReduceSync(new Float32Array(3), 'sum', { tag: 'late' });
        }
        return pg.allReduceSync(new Float32Array(3), 'sum', { tag: 'late', timeoutMs: 400 });
      },
      [],
      { deadlineMs: 20_000 },
    );
    const es = errors(outs);
    for (const e of es) {
      assert.equal(e.name, 'CommTimeoutError');
      assert.equal(e.message, 'allReduce #2 (tag "late") timed out after 400 ms: rank 2 never arrived');
      assert.deepEqual(e.missingRanks, [2]);
    }
    assert.ok(performance.now() - t0 < 10_000);
  },
);

test('a collective on a subgroup against one on the parent is a mismatch, not a hang', async () => {
  const outs = await spawnThreads(
    2,
    async (pg, _a, lib) => {
      void lib;
      // Rank 1 joins a subgroup collective rank 0 never calls: rank 0 waits in the world barrier.
      if (pg.rank === 0) return pg.barrierSync({ timeoutMs: 300 });
      const g = pg.newGroupSync([1]);
      return g!.barrierSync({ timeoutMs: 300 });
    },
    [],
    { deadlineMs: 20_000 },
  );
  for (const e of errors(outs)) {
    assert.equal(e.name, 'CollectiveMismatchError');
    assert.match(
      e.message,
      /^collective #1 mismatch: rank 0 called barrier\(\) but rank 1 called newGroup\(members=1, membersHash=[0-9a-f]+\)$/,
    );
  }
});

for (const where of ['before', 'during', 'between'] as const) {
  test(`a rank dying ${where} collectives makes every other rank fail fast with PeerDiedError naming it`, async () => {
    const victim = 2;
    const t0 = performance.now();
    const outs = await spawnThreads(
      4,
      async (pg, args) => {
        const [where, victim, seed] = [args[0], Number(args[1]), Number(args[2])];
        const stopAt = seed % 7;
        const big = new Float32Array(300_000);
        for (let i = 0; i < 20; i++) {
          if (pg.rank === victim && i === stopAt) {
            if (where === 'before') process.exit(3);
            if (where === 'during') {
              // Start an overlapped all-reduce (our first messages go out), then die.
              pg.allReduceStart(i % 2 ? big : new Float32Array(5));
              throw new Error('boom in the middle');
            }
            await new Promise((r) => setTimeout(r, 50));
            throw new Error('boom between');
          }
          if (i % 2) pg.allReduceSync(big);
          else await pg.allReduce(new Float32Array(5));
        }
        return 'survived';
      },
      [where, String(victim), String(Math.floor(Math.random() * 1000))],
      { deadlineMs: 20_000 },
    );
    const elapsed = performance.now() - t0;
    const es = errors(outs);
    assert.notEqual(es[victim]!.name, 'ok');
    for (const [r, e] of es.entries()) {
      if (r === victim) continue;
      assert.equal(e.name, 'PeerDiedError', `rank ${r}: ${e.message}`);
      assert.equal(e.deadRank, victim);
      assert.match(e.message, /rank 2 died/);
    }
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    const rc = rootCause(outs)!;
    assert.equal(rc.rank, victim);
  });
}

test('a rank that closes the group and exits early: the others fail instead of hanging', async () => {
  const outs = await spawnThreads(
    3,
    async (pg) => {
      await pg.barrier();
      if (pg.rank === 0) return 'left';
      return pg.allReduceSync(new Float32Array(4));
    },
    [],
    { deadlineMs: 20_000 },
  );
  const es = errors(outs);
  assert.equal(es[0]!.name, 'ok');
  for (const e of es.slice(1)) {
    assert.equal(e.name, 'PeerDiedError');
    assert.match(e.message, /rank 0 left the group/);
  }
});

test('usage errors are thrown eagerly and name the argument', async () => {
  const outs = await spawnThreads(1, async (pg) => {
    const msgs: string[] = [];
    const tryIt = (f: () => unknown): void => {
      try {
        f();
        msgs.push('no error');
      } catch (e) {
        msgs.push(`${(e as Error).name}: ${(e as Error).message}`);
      }
    };
    tryIt(() => pg.allReduceSync([1, 2] as unknown as Float32Array));
    tryIt(() => pg.allReduceSync(new Float32Array(2), 'prod' as 'sum'));
    tryIt(() => pg.broadcastSync(new Float32Array(2), 1));
    tryIt(() => pg.allReduceSync(new Float32Array(2), 'sum', { timeoutMs: -1 }));
    tryIt(() => pg.newGroupSync([0, 0]));
    await pg.close();
    tryIt(() => pg.barrierSync());
    return msgs;
  });
  assert.ok(outs[0]!.ok);
  assert.deepEqual(outs[0]!.value, [
    'UsageError: allReduceSync: buf must be a Float32Array or Float64Array, received array [1, 2]',
    "UsageError: allReduceSync: op must be one of 'sum', 'max', 'min', received \"prod\"",
    'UsageError: broadcastSync: root must be an integer group rank in [0, 1), received 1',
    'UsageError: allReduceSync: timeoutMs must be a positive finite number of milliseconds, received -1',
    'UsageError: newGroupSync: ranks must be distinct, received array [0, 0] (0 twice)',
    'StateError: barrierSync: the process group is closed',
  ]);
});

test(
  'a thread rank that returns without close(): a waiting peer fails at once, even while the launcher thread is ' +
    'busy',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-leave-'));
    try {
      const script = join(dir, 'rank.mjs');
      // Rank 1 returns after one all-reduce; rank 0 waits in a second one (its timeout: 2.5 s).
      writeFileSync(
        script,
        `import { initProcessGroup } from ${JSON.stringify(new URL('../../src/comm/index.js', import.meta.url).href)};
import { writeFileSync } from 'node:fs';
const pg = await initProcessGroup({ timeoutMs: 2500 });
pg.allReduceSync(new Float32Array(4));
if (pg.rank === 0) {
  const t0 = performance.now();
  let got;
  try { pg.allReduceSync(new Float32Array(4)); got = 'no error'; } catch (e) { got = e.name + ': ' + e.message; }
  writeFileSync(process.argv[2], JSON.stringify({ got, ms: performance.now() - t0 }));
}
`,
      );
      const report = join(dir, 'rank0.json');
      const run = spawnThreads(2, script, [report], { deadlineMs: 30_000 });
      // The launcher's event loop is blocked past rank 0's timeout: it cannot relay rank 1's exit.
      const until = performance.now() + 4000;
      while (performance.now() < until && !existsSync(report))
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      const outs = await run;
      assert.deepEqual(
        errors(outs).map((e) => e.name),
        ['ok', 'ok'],
      );
      const { got } = JSON.parse(readFileSync(report, 'utf8')) as { got: string; ms: number };
      assert.equal(
        got,
        'PeerDiedError: allReduce #2 failed on rank 0: rank 1 left the group (closed it or exited) before ' +
          'completing it',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
